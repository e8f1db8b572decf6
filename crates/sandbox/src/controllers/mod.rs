//! The control plane: in-process controllers and the scheduler, driven by
//! the store's change feed (the loop is in the crate root, which also runs
//! the node's kubelet between the scheduler and the controllers that
//! follow it).
//!
//! Every pass is level-triggered: it reads the current objects and moves
//! them one step towards what they should be, so a pass after a restart
//! converges exactly like one after a change (no per-object queues to lose).
//! A pass runs after every burst of changes, when the kubelet pokes (a
//! container exited, a probe changed its answer) and once a second.

pub(crate) mod cluster;
pub(crate) mod cronjob;
pub(crate) mod daemonset;
pub(crate) mod deployment;
pub(crate) mod endpoints;
pub(crate) mod gc;
pub(crate) mod history;
pub(crate) mod job;
pub(crate) mod namespace;
pub(crate) mod replicaset;
pub(crate) mod scheduler;
pub(crate) mod serviceaccount;
pub(crate) mod statefulset;
pub(crate) mod volume;

use std::sync::Arc;

use serde_json::Value;

use crate::machinery::stored::Obj;
use crate::runtime::Runtime;

/// The controllers' own memory between passes.
pub(crate) struct ControlPlane {
    /// The root CA publisher's and the node heartbeat's.
    cluster: cluster::ClusterState,
    /// The CronJob controller's.
    cron: cronjob::Memory,
}

impl ControlPlane {
    /// `ca_pem`: the CA of the API server's certificate, which every
    /// namespace gets as `kube-root-ca.crt`.
    pub(crate) fn new(ca_pem: String) -> ControlPlane {
        ControlPlane {
            cluster: cluster::ClusterState {
                ca_pem,
                node: Default::default(),
            },
            cron: cronjob::Memory::default(),
        }
    }

    /// The controllers that run before the scheduler and the kubelet.
    pub(crate) fn before_node(&self, rt: &Arc<Runtime>) {
        serviceaccount::reconcile(rt);
        volume::reconcile(rt);
        cronjob::reconcile(rt, &self.cron);
        deployment::reconcile(rt);
        replicaset::reconcile(rt);
        statefulset::reconcile(rt);
        daemonset::reconcile(rt);
        job::reconcile(rt);
        scheduler::reconcile(rt);
    }

    /// The controllers that follow what the kubelet did.
    pub(crate) fn after_node(&self, rt: &Arc<Runtime>) {
        volume::reconcile(rt);
        endpoints::reconcile(rt);
        gc::reconcile(rt);
        namespace::reconcile(rt);
        cluster::reconcile(rt, &self.cluster);
        rt.events.flush(&rt.registry);
    }
}

/// The objects whose controller is `uid`, parsed (the others are not).
pub(crate) fn owned_by(objs: &[Arc<Obj>], uid: &str) -> Vec<Arc<Value>> {
    objs.iter()
        .filter(|o| o.facts.controller.as_deref() == Some(uid))
        .map(|o| Arc::new(o.value()))
        .collect()
}
