//! Pod and service subresources served from the kubelet's state: `log`,
//! `exec` (WebSocket), `proxy` for pods and services.
