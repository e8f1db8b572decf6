//! The bottom of the sandbox: what every other part speaks. The kinds it
//! serves ([`resources`]), errors as upstream `Status` objects
//! ([`status`]), label and field selectors, object helpers ([`meta`]) and
//! generated names ([`names`]), CronJob schedules ([`cron`]). Nothing here knows about storage, HTTP or
//! the node.

pub(crate) mod cluster;
pub(crate) mod cron;
pub(crate) mod http;
pub(crate) mod meta;
pub(crate) mod names;
pub(crate) mod resources;
pub(crate) mod selectors;
pub(crate) mod status;
pub(crate) mod stored;
