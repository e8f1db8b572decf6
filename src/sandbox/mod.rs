//! The embedded sandbox: a single-node Kubernetes API served in-process on
//! loopback, with storage semantics faithful to upstream.

pub mod defaults;
pub mod resources;
pub mod selectors;
pub mod status;
pub mod store;
