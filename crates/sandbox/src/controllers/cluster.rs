//! What a cluster keeps up by itself: the root-ca-cert-publisher's
//! `kube-root-ca.crt` ConfigMap in every namespace, the kubelet's node
//! Lease (renewed every 10 s) and its node status heartbeat (every 5
//! minutes), so that `kubectl describe node` shows real times.

use crate::machinery::resources;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::machinery::cluster::{NODE_NAME, ROOT_CA_CONFIGMAP};
use crate::machinery::meta::{is_terminating, lock};
use crate::machinery::meta::{name_of, now_rfc3339};
use crate::runtime::Runtime;

const LEASE_NS: &str = "kube-node-lease";
const LEASE_DURATION: i64 = 40;
const RENEW: Duration = Duration::from_secs(10);
const REPORT: Duration = Duration::from_secs(300);
const CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub(crate) fn reconcile(rt: &Arc<Runtime>, state: &ClusterState) {
    root_ca(rt, &state.ca_pem);
    node(rt, state);
}

fn root_ca(rt: &Runtime, pem: &str) {
    let cms = &resources::CONFIG_MAPS;
    for ns in rt.store.list(&resources::NAMESPACES, None).0 {
        if is_terminating(&ns) {
            continue;
        }
        let name = name_of(&ns);
        match rt.store.get(cms, name, ROOT_CA_CONFIGMAP) {
            Some(cm) if cm["data"]["ca.crt"] == pem => {}
            Some(cm) => {
                let mut n = (*cm).clone();
                n["data"] = json!({"ca.crt": pem});
                rt.put(cms, n);
            }
            None => {
                rt.create(
                    cms,
                    json!({
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": ROOT_CA_CONFIGMAP,
                            "namespace": name,
                            "annotations": {"kubernetes.io/description": CA_DESCRIPTION},
                        },
                        "data": {"ca.crt": pem},
                    }),
                );
            }
        }
    }
}

/// RFC 3339 with microseconds (a MicroTime, as leases carry).
fn micro_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn node(rt: &Runtime, state: &ClusterState) {
    let nodes = &resources::NODES;
    let Some(node) = rt.store.get(nodes, "", NODE_NAME) else {
        return;
    };
    let mut state = lock(&state.node);
    let now = Instant::now();
    // Status heartbeat: at start (the kubelet just started), then every 5 min.
    if state
        .reported
        .is_none_or(|t| now.duration_since(t) >= REPORT)
    {
        let started = state.reported.is_none();
        let stamp = now_rfc3339();
        let mut n = (*node).clone();
        if let Some(conds) = n["status"]["conditions"].as_array_mut() {
            for c in conds.iter_mut() {
                c["lastHeartbeatTime"] = json!(stamp);
                if started || c["lastTransitionTime"].is_null() {
                    c["lastTransitionTime"] = json!(stamp);
                }
            }
        }
        if rt.put(nodes, n).is_some() {
            state.reported = Some(now);
        }
    }
    if state.renewed.is_none_or(|t| now.duration_since(t) >= RENEW) {
        let leases = &resources::LEASES;
        let renewed = match rt.store.get(leases, LEASE_NS, NODE_NAME) {
            Some(l) => {
                let mut n = (*l).clone();
                n["spec"]["renewTime"] = json!(micro_now());
                n["spec"]["holderIdentity"] = json!(NODE_NAME);
                rt.put(leases, n).is_some()
            }
            None => rt.create(leases, lease(&node)).is_some(),
        };
        if renewed {
            state.renewed = Some(now);
        }
    }
}

fn lease(node: &Value) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": NODE_NAME,
            "namespace": LEASE_NS,
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Node",
                "name": NODE_NAME,
                "uid": node["metadata"]["uid"],
            }],
        },
        "spec": {
            "holderIdentity": NODE_NAME,
            "leaseDurationSeconds": LEASE_DURATION,
            "renewTime": micro_now(),
        },
    })
}

/// What the node loop remembers between passes.
#[derive(Default)]
pub struct NodeState {
    reported: Option<Instant>,
    renewed: Option<Instant>,
}

/// What the cluster loop keeps: the CA the API server's certificate is
/// signed with (published in every namespace), and the node's heartbeat
/// times.
#[derive(Default)]
pub(crate) struct ClusterState {
    pub(crate) ca_pem: String,
    pub(crate) node: std::sync::Mutex<NodeState>,
}
