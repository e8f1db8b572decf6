//! DaemonSets → one pod on every node that should run it, as upstream's
//! daemon controller does: the node chosen by node selector, required node
//! affinity and taints; the pod pinned to it by node affinity (the
//! scheduler binds it) with the daemon tolerations; failed or extra pods
//! replaced; a template change rolled out node by node (`maxUnavailable`,
//! or `maxSurge` new pods beside the old), or left to the learner
//! (`OnDelete`); the status `kubectl get ds` and `rollout status` read.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::controllers::deployment::int_or_percent;
use crate::controllers::history;
use crate::machinery::meta::{is_terminating, name_of, namespace_of, owner_ref, pod_ready, uid_of};
use crate::machinery::resources;
use crate::machinery::selectors::LabelSelector;
use crate::registry::deletion::DeleteOptions;
use crate::registry::template_generation;
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

const COMPONENT: &str = "daemonset-controller";
const HASH_LABEL: &str = "controller-revision-hash";
const GENERATION_LABEL: &str = "pod-template-generation";

/// The tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`).
const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

pub fn reconcile(rt: &Arc<Runtime>) {
    let (sets, _) = rt.store.list(&resources::DAEMON_SETS, None);
    if sets.is_empty() {
        return;
    }
    let (nodes, _) = rt.store.list(&resources::NODES, None);
    for ds in sets {
        if !is_terminating(&ds) {
            sync(rt, &ds, &nodes);
        }
    }
}

/// A `NodeSelectorRequirement` against the node's labels or fields.
fn requirement_holds(req: &Value, values_of: impl Fn(&str) -> Option<String>) -> bool {
    let key = req["key"].as_str().unwrap_or("");
    let have = values_of(key);
    let values: Vec<&str> = req["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let num = |s: &str| s.parse::<i64>().ok();
    match req["operator"].as_str().unwrap_or("") {
        "In" => have.is_some_and(|h| values.contains(&h.as_str())),
        "NotIn" => have.is_none_or(|h| !values.contains(&h.as_str())),
        "Exists" => have.is_some(),
        "DoesNotExist" => have.is_none(),
        "Gt" => {
            matches!((have.as_deref().and_then(num), values.first().and_then(|v| num(v))), (Some(h), Some(v)) if h > v)
        }
        "Lt" => {
            matches!((have.as_deref().and_then(num), values.first().and_then(|v| num(v))), (Some(h), Some(v)) if h < v)
        }
        _ => false,
    }
}

/// Whether a node selector term matches: every expression and field holds.
fn term_matches(term: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    let label = |k: &str| labels[k].as_str().map(str::to_string);
    let field = |k: &str| (k == "metadata.name").then(|| name_of(node).to_string());
    let exprs = term["matchExpressions"].as_array().into_iter().flatten();
    let fields = term["matchFields"].as_array().into_iter().flatten();
    exprs.clone().count() + fields.clone().count() > 0
        && exprs.into_iter().all(|r| requirement_holds(r, label))
        && fields.into_iter().all(|r| requirement_holds(r, field))
}

fn tolerates(tolerations: &[Value], taint: &Value) -> bool {
    tolerations.iter().any(|t| {
        let key_ok = t["key"].as_str().is_none_or(str::is_empty) || t["key"] == taint["key"];
        let effect_ok =
            t["effect"].as_str().is_none_or(str::is_empty) || t["effect"] == taint["effect"];
        let value_ok = t["operator"] == "Exists"
            || t["value"] == taint["value"]
            || (t["value"].is_null() && taint["value"].is_null());
        key_ok && effect_ok && value_ok
    })
}

/// Upstream's `NodeShouldRunDaemonPod`: (should run, should keep running).
fn should_run(ds: &Value, node: &Value) -> (bool, bool) {
    let spec = &ds["spec"]["template"]["spec"];
    if spec["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty() && n != name_of(node))
    {
        return (false, false);
    }
    let labels = &node["metadata"]["labels"];
    if let Some(sel) = spec["nodeSelector"].as_object()
        && sel.iter().any(|(k, v)| labels[k] != *v)
    {
        return (false, false);
    }
    let terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    if let Some(terms) = terms.as_array()
        && !terms.iter().any(|t| term_matches(t, node))
    {
        return (false, false);
    }
    let tolerations = with_daemon_tolerations(&spec["tolerations"]);
    let taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .any(|t| t["effect"] == effect && !tolerates(&tolerations, t))
    };
    let no_execute = untolerated("NoExecute");
    (!no_execute && !untolerated("NoSchedule"), !no_execute)
}

fn with_daemon_tolerations(existing: &Value) -> Vec<Value> {
    let mut list: Vec<Value> = existing.as_array().cloned().unwrap_or_default();
    for (key, effect) in DAEMON_TOLERATIONS {
        list.retain(|t| !(t["key"] == *key && t["effect"] == *effect));
        list.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    list
}

/// The node a daemon pod is for: its node, else its node affinity's.
fn target_node(pod: &Value) -> Option<&str> {
    if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"]
        .as_array()?
        .iter()
        .flat_map(|t| t["matchFields"].as_array().into_iter().flatten())
        .find(|f| f["key"] == "metadata.name" && f["operator"] == "In")
        .and_then(|f| f["values"][0].as_str())
}

fn new_pod(ds: &Value, hash: &str, node: &str) -> Value {
    let template = &ds["spec"]["template"];
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
        m.remove("name");
    }
    meta["generateName"] = json!(format!("{}-", name_of(ds)));
    meta["namespace"] = json!(namespace_of(ds));
    meta["ownerReferences"] = json!([owner_ref(ds)]);
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"][HASH_LABEL] = json!(hash);
    meta["labels"][GENERATION_LABEL] = json!(template_generation(ds).max(1).to_string());
    let mut spec = template["spec"].clone();
    let term =
        json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]});
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
        json!({"nodeSelectorTerms": [term]});
    spec["tolerations"] = json!(with_daemon_tolerations(&spec["tolerations"]));
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

fn available(p: &Value, min_ready: i64) -> bool {
    if !pod_ready(p) || is_terminating(p) {
        return false;
    }
    if min_ready <= 0 {
        return true;
    }
    p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| jiff::Timestamp::now().as_second() - t.as_second() >= min_ready)
}

struct Pass<'a> {
    rt: &'a Runtime,
    ds: &'a Value,
    hash: String,
}

impl Pass<'_> {
    fn create(&self, node: &str) {
        let pod = new_pod(self.ds, &self.hash, node);
        match self.rt.try_create(&resources::PODS, pod) {
            Ok(p) => self.event(
                Kind::Normal,
                "SuccessfulCreate",
                format!("Created pod: {}", name_of(&p)),
            ),
            Err(e) => self.event(
                Kind::Warning,
                "FailedCreate",
                format!("Error creating: {}", e.message),
            ),
        }
    }

    fn delete(&self, pod: &Value) {
        let opts = DeleteOptions {
            preconditions: crate::storage::store::Preconditions {
                uid: Some(uid_of(pod).to_string()),
                ..Default::default()
            },
            ..DeleteOptions::default()
        };
        match self
            .rt
            .delete(&resources::PODS, namespace_of(pod), name_of(pod), &opts)
        {
            Ok(_) => self.event(
                Kind::Normal,
                "SuccessfulDelete",
                format!("Deleted pod: {}", name_of(pod)),
            ),
            Err(e) if e.code == 404 => {}
            Err(e) => self.event(
                Kind::Warning,
                "FailedDelete",
                format!("Error deleting: {}", e.message),
            ),
        }
    }

    fn event(&self, kind: Kind, reason: &str, message: String) {
        self.rt
            .events
            .record(self.ds, None, kind, reason, message, COMPONENT);
    }

    fn is_new(&self, p: &Value) -> bool {
        p["metadata"]["labels"][HASH_LABEL] == self.hash.as_str()
    }
}

/// The set's pods, adopting orphans its selector matches.
fn claim_pods(rt: &Runtime, ds: &Value) -> Vec<Arc<Value>> {
    let (pods, _) = rt
        .store
        .list_stored(&resources::PODS, Some(namespace_of(ds)));
    let uid = uid_of(ds);
    let selector = LabelSelector::from_object(&ds["spec"]["selector"]);
    let mut out = Vec::new();
    for o in &pods {
        let mine = o.facts.controller.as_deref() == Some(uid);
        if mine {
            out.push(Arc::new(o.value()));
            continue;
        }
        if o.facts.controller.is_some() || o.facts.terminating {
            continue;
        }
        let p = o.value();
        if selector
            .as_ref()
            .is_some_and(|s| !s.is_empty() && s.matches(&p["metadata"]["labels"]))
        {
            let mut n = p.clone();
            let mut refs = n["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            refs.push(owner_ref(ds));
            n["metadata"]["ownerReferences"] = json!(refs);
            if let Some(adopted) = rt.put(&resources::PODS, n) {
                out.push(adopted);
            }
        }
    }
    out
}

/// What one node has: whether it should run the daemon and its pods.
struct NodePods {
    name: String,
    run: bool,
    keep: bool,
    /// Not being deleted, oldest first.
    pods: Vec<Arc<Value>>,
    /// Being deleted, still running.
    leaving: usize,
}

fn sync(rt: &Runtime, ds: &Value, nodes: &[Arc<Value>]) {
    let sel = &ds["spec"]["selector"];
    if sel["matchLabels"].as_object().is_none_or(|m| m.is_empty())
        && sel["matchExpressions"]
            .as_array()
            .is_none_or(|m| m.is_empty())
    {
        rt.events.record_once(
            ds,
            Kind::Warning,
            "SelectingAll",
            "This daemon set is selecting all pods. A non-empty selector is required.",
            COMPONENT,
        );
        return;
    }
    let Some(revs) = history::sync(rt, ds, &history::DAEMON_SET) else {
        return;
    };
    let hash = revs.update["metadata"]["labels"][HASH_LABEL]
        .as_str()
        .unwrap_or("")
        .to_string();
    let pass = Pass { rt, ds, hash };
    let pods = claim_pods(rt, ds);
    let mut per_node: Vec<NodePods> = nodes
        .iter()
        .map(|n| {
            let (run, keep) = should_run(ds, n);
            NodePods {
                name: name_of(n).to_string(),
                run,
                keep,
                pods: Vec::new(),
                leaving: 0,
            }
        })
        .collect();
    for p in &pods {
        let Some(node) = target_node(p) else { continue };
        let Some(np) = per_node.iter_mut().find(|n| n.name == node) else {
            continue;
        };
        let terminal = matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
        if is_terminating(p) {
            if !terminal {
                np.leaving += 1;
            }
        } else {
            np.pods.push(p.clone());
        }
    }
    for np in &mut per_node {
        np.pods.sort_by(|a, b| {
            a["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&b["metadata"]["creationTimestamp"].as_str())
        });
    }
    manage(&pass, &mut per_node);
    roll(&pass, &per_node);
    write_status(&pass, &per_node, revs.collision_count);
    let live: Vec<String> = pods
        .iter()
        .filter_map(|p| {
            p["metadata"]["labels"][HASH_LABEL]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let update = name_of(&revs.update).to_string();
    history::truncate_history(rt, ds, &revs.all, |r| {
        name_of(r) == update
            || r["metadata"]["labels"][HASH_LABEL]
                .as_str()
                .is_some_and(|h| live.iter().any(|l| l == h))
    });
}

/// Creates missing pods, removes finished, extra and misplaced ones.
fn manage(pass: &Pass<'_>, per_node: &mut [NodePods]) {
    let desired = per_node.iter().filter(|n| n.run).count() as i64;
    let surge = surge_allowed(pass.ds, desired);
    for np in per_node.iter_mut() {
        if !np.keep {
            for p in np.pods.drain(..) {
                pass.delete(&p);
            }
            continue;
        }
        let mut kept = Vec::new();
        for p in np.pods.drain(..) {
            match p["status"]["phase"].as_str() {
                Some("Failed") => {
                    pass.event(
                        Kind::Warning,
                        "FailedDaemonPod",
                        format!(
                            "Found failed daemon pod {}/{} on node {}, will try to kill it",
                            namespace_of(&p),
                            name_of(&p),
                            np.name
                        ),
                    );
                    pass.delete(&p);
                }
                Some("Succeeded") => {
                    pass.event(
                        Kind::Normal,
                        "SucceededDaemonPod",
                        format!(
                            "Found succeeded daemon pod {}/{} on node {}, will try to delete it",
                            namespace_of(&p),
                            name_of(&p),
                            np.name
                        ),
                    );
                    pass.delete(&p);
                }
                _ => kept.push(p),
            }
        }
        // Without surge a node runs one daemon pod: the oldest stays.
        if kept.len() > 1 && surge == 0 {
            for p in kept.drain(1..) {
                pass.delete(&p);
            }
        }
        np.pods = kept;
        if np.run && np.pods.is_empty() && np.leaving == 0 {
            pass.create(&np.name);
        }
    }
}

/// How many nodes may run a new pod beside the old one (`maxSurge`, a
/// count or a percentage of the nodes that should run the daemon).
fn surge_allowed(ds: &Value, nodes: i64) -> i64 {
    let us = &ds["spec"]["updateStrategy"];
    if us["type"] != "RollingUpdate" {
        return 0;
    }
    int_or_percent(&us["rollingUpdate"]["maxSurge"], nodes, true, 0).max(0)
}

/// A rolling update, node by node.
fn roll(pass: &Pass<'_>, per_node: &[NodePods]) {
    let us = &pass.ds["spec"]["updateStrategy"];
    if us["type"] != "RollingUpdate" {
        return;
    }
    let min_ready = pass.ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let desired = per_node.iter().filter(|n| n.run).count() as i64;
    let max_unavailable =
        int_or_percent(&us["rollingUpdate"]["maxUnavailable"], desired, false, 0).max(0);
    let max_surge = surge_allowed(pass.ds, desired);
    if max_surge > 0 {
        // New pods beside the old; an old one goes once its node's new pod is available.
        let mut surging = per_node
            .iter()
            .filter(|n| {
                n.pods.iter().any(|p| pass.is_new(p)) && n.pods.iter().any(|p| !pass.is_new(p))
            })
            .count() as i64;
        for np in per_node.iter().filter(|n| n.run) {
            let new = np.pods.iter().find(|p| pass.is_new(p));
            let old: Vec<&Arc<Value>> = np.pods.iter().filter(|p| !pass.is_new(p)).collect();
            match new {
                Some(n) if available(n, min_ready) => old.iter().for_each(|p| pass.delete(p)),
                Some(_) => {}
                None if !old.is_empty() && surging < max_surge => {
                    pass.create(&np.name);
                    surging += 1;
                }
                None => {}
            }
        }
        return;
    }
    let mut unavailable = 0;
    let mut candidates = Vec::new();
    for np in per_node.iter().filter(|n| n.run) {
        match np.pods.first() {
            None => unavailable += 1,
            Some(p) if pass.is_new(p) => {
                if !available(p, min_ready) {
                    unavailable += 1;
                }
            }
            Some(p) if !available(p, min_ready) => {
                // An old pod that is not available anyway goes at once.
                pass.delete(p);
                unavailable += 1;
            }
            Some(p) => candidates.push(p.clone()),
        }
    }
    let budget = (max_unavailable - unavailable).max(0) as usize;
    for p in candidates.iter().take(budget) {
        pass.delete(p);
    }
}

fn write_status(pass: &Pass<'_>, per_node: &[NodePods], collisions: i64) {
    let ds = pass.ds;
    let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let (mut desired, mut current, mut ready, mut avail, mut updated, mut mis) = (0, 0, 0, 0, 0, 0);
    for np in per_node {
        let has = !np.pods.is_empty() || np.leaving > 0;
        if np.run {
            desired += 1;
            if let Some(p) = np.pods.first() {
                current += 1;
                if pod_ready(p) {
                    ready += 1;
                }
                if available(p, min_ready) {
                    avail += 1;
                }
                if pass.is_new(p) {
                    updated += 1;
                }
            } else if has {
                current += 1;
            }
        } else if has {
            mis += 1;
        }
    }
    let mut st = json!({
        "currentNumberScheduled": current,
        "numberMisscheduled": mis,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": ds["metadata"]["generation"],
    });
    for (k, v) in [
        ("updatedNumberScheduled", updated),
        ("numberAvailable", avail),
        ("numberUnavailable", (desired - avail).max(0)),
        ("collisionCount", collisions),
    ] {
        if v > 0 {
            st[k] = json!(v);
        }
    }
    if ds["status"] != st {
        let mut n = ds.clone();
        n["status"] = st;
        pass.rt.put(&resources::DAEMON_SETS, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Value {
        json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}}, "spec": {}})
    }

    fn ds(spec: Value) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "ns", "uid": "u"}, "apiVersion": "apps/v1", "kind": "DaemonSet",
               "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}})
    }

    #[test]
    fn which_nodes_run_the_daemon() {
        let n = node();
        assert_eq!(should_run(&ds(json!({})), &n), (true, true));
        assert_eq!(
            should_run(
                &ds(json!({"nodeSelector": {"kubernetes.io/os": "windows"}})),
                &n
            ),
            (false, false)
        );
        let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}});
        assert_eq!(should_run(&ds(affinity), &n), (false, false));
        let mut tainted = node();
        tainted["spec"]["taints"] =
            json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        assert_eq!(should_run(&ds(json!({})), &tainted), (false, true));
        let tolerating = json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]});
        assert_eq!(should_run(&ds(tolerating), &tainted), (true, true));
    }

    #[test]
    fn pods_are_pinned_to_their_node() {
        let d = ds(json!({"containers": [{"name": "c", "image": "i"}]}));
        let p = new_pod(&d, "abc", "n1");
        assert_eq!(target_node(&p), Some("n1"));
        assert_eq!(p["metadata"]["labels"][HASH_LABEL], "abc");
        assert_eq!(p["metadata"]["labels"][GENERATION_LABEL], "1");
        assert_eq!(p["metadata"]["generateName"], "agent-");
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 6);
    }
}
