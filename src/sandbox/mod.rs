//! The embedded sandbox: a single-node Kubernetes API served in-process on
//! loopback, with storage semantics faithful to upstream.

pub mod apps;
pub mod fsroot;
pub mod netns;
pub mod patch;
pub mod protobuf;
pub mod shell;
pub mod wsexec;
