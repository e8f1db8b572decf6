//! What a cluster keeps up by itself: the root-ca-cert-publisher's
//! `kube-root-ca.crt` ConfigMap in every namespace, the kubelet's node
//! Lease (renewed every 10 s) and its node status heartbeat (every 5
//! minutes), so that `kubectl describe node` shows real times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Runtime, is_terminating, res};
use crate::sandbox::defaults::{NODE_NAME, ROOT_CA_CONFIGMAP};
use crate::sandbox::store::{name_of, now_rfc3339};

const LEASE_NS: &str = "kube-node-lease";
const LEASE_DURATION: i64 = 40;
const RENEW: Duration = Duration::from_secs(10);
const REPORT: Duration = Duration::from_secs(300);
const CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub fn reconcile(rt: &Arc<Runtime>) {
    root_ca(rt);
    node(rt);
}

/// The CA the API server's certificate is signed with, from the kubeconfig
/// the sandbox wrote (it changes when the sandbox restarts).
fn ca_pem(rt: &Runtime) -> Option<String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(rt.root.path().join("kubeconfig")).ok()?;
    let b64 = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("certificate-authority-data:")
            .map(|v| v.trim().trim_matches('"').to_string())
    })?;
    let pem = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(pem).ok()
}

fn root_ca(rt: &Runtime) {
    let pem = {
        let mut cached = super::lock(&rt.cluster.ca_pem);
        if cached.is_none() {
            *cached = ca_pem(rt);
        }
        match cached.clone() {
            Some(p) => p,
            None => return,
        }
    };
    let cms = res("configmaps");
    for ns in rt.store.list(res("namespaces"), None).0 {
        if is_terminating(&ns) {
            continue;
        }
        let name = name_of(&ns);
        match rt.store.get(cms, name, ROOT_CA_CONFIGMAP) {
            Some(cm) if cm["data"]["ca.crt"] == pem.as_str() => {}
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

fn node(rt: &Runtime) {
    let nodes = res("nodes");
    let Some(node) = rt.store.get(nodes, "", NODE_NAME) else {
        return;
    };
    let mut state = super::lock(&rt.cluster.node);
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
        let leases = res("leases.coordination.k8s.io");
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

/// The cluster loop's state in the runtime.
#[derive(Default)]
pub struct ClusterState {
    pub ca_pem: std::sync::Mutex<Option<String>>,
    pub node: std::sync::Mutex<NodeState>,
}
