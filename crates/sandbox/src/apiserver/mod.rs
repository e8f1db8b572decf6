//! The API server: HTTPS on loopback with a bearer token, the non-resource
//! endpoints (version, discovery, OpenAPI), resource requests handed to
//! the registry and storage, server-side tables, watches, patches and the
//! protobuf encoding kubectl sends.

pub(crate) mod auth;
pub(crate) mod conns;
pub(crate) mod decode;
pub(crate) mod discovery;
pub(crate) mod handlers;
pub(crate) mod kubeconfig;
pub(crate) mod openapi;
pub(crate) mod options;
pub(crate) mod patch;
pub(crate) mod protobuf;
pub(crate) mod server;
pub(crate) mod table;
pub(crate) mod tls;
pub(crate) mod watch;
pub(crate) mod write;
