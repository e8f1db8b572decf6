//! The node `kubetutor-node`: the kubelet that runs the pods bound to it,
//! the pod API it serves (logs, exec, attach, proxy), each container's
//! filesystem view and the pod network (per-pod ports on loopback, and what
//! a pod reaches by name).

pub(crate) mod atomic;
pub(crate) mod env;
pub(crate) mod exec;
pub(crate) mod kubelet;
pub(crate) mod podapi;
pub(crate) mod podstatus;
pub(crate) mod portforward;
pub(crate) mod probes;
pub(crate) mod sessions;
pub(crate) mod spdy;
pub(crate) mod streams;
pub(crate) mod volumes;

use std::ops::Deref;
use std::sync::Arc;

use crate::network::netns::NetNamespaces;
use crate::runtime::Runtime;
use kubelet::Kubelet;

/// The node: the shared runtime plus what only the node has.
pub(crate) struct Node {
    rt: Arc<Runtime>,
    /// The pods the kubelet runs, their containers and logs.
    pub(crate) kubelet: Kubelet,
    /// The pods' network namespaces (their ports on loopback, and their
    /// private sockets).
    pub(crate) netns: NetNamespaces,
    /// The exec, attach and port-forward sessions open, per client.
    pub(crate) sessions: sessions::Sessions,
}

impl Node {
    pub(crate) fn new(rt: Arc<Runtime>) -> Arc<Node> {
        let netns = NetNamespaces::with_socket_dir(rt.root.sockets_dir());
        Arc::new(Node {
            rt,
            kubelet: Kubelet::new(),
            netns,
            sessions: sessions::Sessions::new(),
        })
    }
}

/// The node is the runtime plus its own state: `node.store`, `node.events`
/// and `node.wake()` read as they do for the controllers.
impl Deref for Node {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.rt
    }
}

#[cfg(test)]
mod exec_kubectl;
