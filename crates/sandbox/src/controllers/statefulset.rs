//! StatefulSets → Pods with stable names (`db-0`, `db-1`...) and one
//! PersistentVolumeClaim per pod and claim template (`data-db-0`), kept
//! when the pod goes and mounted again by its replacement, as upstream's
//! statefulset controller does:
//!
//! - `OrderedReady` (the default) creates pods one at a time in ordinal
//!   order, each once its predecessors are Running and Ready, and removes
//!   them from the highest ordinal down, one at a time; `Parallel` does
//!   both at once;
//! - a template change makes a new ControllerRevision; `RollingUpdate`
//!   replaces pods from the highest ordinal down to the partition, one at a
//!   time, each once the previous is healthy again; `OnDelete` waits for
//!   the learner to delete them;
//! - `persistentVolumeClaimRetentionPolicy` becomes ownerReferences on the
//!   claims, which the garbage collector follows (`whenDeleted: Delete`:
//!   owned by the set; `whenScaled: Delete`: owned by the pod scaled away);
//! - events and status words as upstream writes them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::controllers::history::{self, Revisions};
use crate::machinery::meta::{is_terminating, name_of, namespace_of, owner_ref, pod_ready, uid_of};
use crate::machinery::resources;
use crate::machinery::selectors::LabelSelector;
use crate::registry::deletion::DeleteOptions;
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

const COMPONENT: &str = "statefulset-controller";
/// The label every pod of a set carries with its own name.
pub(crate) const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label that names a pod's revision (the revision's full name here).
const REVISION_LABEL: &str = "controller-revision-hash";
/// How often a failure that repeats on every pass is recorded again (the
/// controller's back-off upstream; the event's count goes up).
const FAILURE_PERIOD: Duration = Duration::from_secs(10);

pub fn reconcile(rt: &Arc<Runtime>) {
    let (sets, _) = rt.store.list(&resources::STATEFUL_SETS, None);
    if sets.is_empty() {
        return;
    }
    for set in sets {
        // A set being deleted is left to the garbage collector.
        if !is_terminating(&set) {
            sync(rt, &set);
        }
    }
}

/// `db-1` → (`db`, 1); None for a name without an ordinal.
pub(crate) fn parent_and_ordinal(name: &str) -> Option<(&str, i64)> {
    let (parent, ord) = name.rsplit_once('-')?;
    if ord.is_empty() || !ord.bytes().all(|b| b.is_ascii_digit()) || ord.len() > 9 {
        return None;
    }
    Some((parent, ord.parse().ok()?))
}

fn ordinal_of(set: &Value, pod: &Value) -> Option<i64> {
    match parent_and_ordinal(name_of(pod)) {
        Some((parent, ord)) if parent == name_of(set) => Some(ord),
        _ => None,
    }
}

fn start_ordinal(set: &Value) -> i64 {
    set["spec"]["ordinals"]["start"]
        .as_i64()
        .unwrap_or(0)
        .max(0)
}

fn replicas(set: &Value) -> i64 {
    set["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

fn in_range(set: &Value, ord: i64) -> bool {
    ord >= start_ordinal(set) && ord < start_ordinal(set) + replicas(set)
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn running_and_ready(p: &Value) -> bool {
    phase(p) == "Running" && pod_ready(p)
}

/// Ready for at least `minReadySeconds`.
fn available(p: &Value, min_ready: i64) -> bool {
    if !running_and_ready(p) {
        return false;
    }
    if min_ready <= 0 {
        return true;
    }
    let since = p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    since.is_some_and(|t| jiff::Timestamp::now().as_second() - t.as_second() >= min_ready)
}

fn healthy(p: &Value) -> bool {
    running_and_ready(p) && !is_terminating(p)
}

fn revision_of(p: &Value) -> &str {
    p["metadata"]["labels"][REVISION_LABEL]
        .as_str()
        .unwrap_or("")
}

/// The claim `<template>-<set>-<ordinal>` of each claim template, as the
/// controller creates it: the template with the set's selector labels.
fn claims_for(set: &Value, ord: i64) -> Vec<Value> {
    let match_labels = &set["spec"]["selector"]["matchLabels"];
    set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let mut c = t.clone();
            let name = format!("{}-{}-{ord}", name_of(t), name_of(set));
            c["apiVersion"] = json!("v1");
            c["kind"] = json!("PersistentVolumeClaim");
            if !c["metadata"].is_object() {
                c["metadata"] = json!({});
            }
            c["metadata"]["name"] = json!(name);
            c["metadata"]["namespace"] = json!(namespace_of(set));
            if !c["metadata"]["labels"].is_object() {
                c["metadata"]["labels"] = json!({});
            }
            for (k, v) in match_labels.as_object().into_iter().flatten() {
                c["metadata"]["labels"][k] = v.clone();
            }
            if let Some(m) = c.as_object_mut() {
                m.remove("status");
            }
            c
        })
        .collect()
}

/// A new pod of ordinal `ord` from `template`, labelled with `revision`.
fn new_pod(set: &Value, template: &Value, revision: &str, ord: i64) -> Value {
    let name = format!("{}-{ord}", name_of(set));
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
    }
    meta["name"] = json!(name);
    meta["generateName"] = json!(format!("{}-", name_of(set)));
    meta["namespace"] = json!(namespace_of(set));
    meta["ownerReferences"] = json!([owner_ref(set)]);
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"][POD_NAME_LABEL] = json!(name);
    meta["labels"][POD_INDEX_LABEL] = json!(ord.to_string());
    meta["labels"][REVISION_LABEL] = json!(revision);
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!(name);
    if let Some(svc) = set["spec"]["serviceName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        spec["subdomain"] = json!(svc);
    }
    // Claim volumes first, then the template's other volumes.
    let claims = claims_for(set, ord);
    let mut volumes: Vec<Value> = set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(&claims)
        .map(|(t, c)| {
            json!({"name": name_of(t), "persistentVolumeClaim": {"claimName": name_of(c)}})
        })
        .collect();
    let taken: Vec<&str> = set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(name_of)
        .collect();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        if !taken.contains(&v["name"].as_str().unwrap_or("")) {
            volumes.push(v.clone());
        }
    }
    if volumes.is_empty() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("volumes");
        }
    } else {
        spec["volumes"] = json!(volumes);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

/// What one pass knows of a set.
struct Pass<'a> {
    rt: &'a Runtime,
    set: &'a Value,
    revs: Revisions,
    /// Claims of the set's namespace, by name.
    claims: HashMap<String, Arc<Value>>,
    monotonic: bool,
    min_ready: i64,
}

impl Pass<'_> {
    fn event(&self, kind: Kind, reason: &str, message: String) {
        if kind == Kind::Warning {
            self.rt
                .events
                .record_every(self.set, FAILURE_PERIOD, kind, reason, message, COMPONENT);
        } else {
            self.rt
                .events
                .record(self.set, None, kind, reason, message, COMPONENT);
        }
    }

    fn set_name(&self) -> &str {
        name_of(self.set)
    }

    /// Creates the pod's missing claims; Err names what stops the pod.
    fn create_claims(&mut self, pod: &str, ord: i64) -> Result<(), String> {
        let mut errs = Vec::new();
        for claim in claims_for(self.set, ord) {
            let cname = name_of(&claim).to_string();
            match self.claims.get(&cname) {
                Some(c) if is_terminating(c) => errs.push(format!("pvc {cname} is being deleted")),
                Some(_) => {}
                None => match self.rt.try_create(&resources::PVCS, claim) {
                    Ok(c) => {
                        self.event(
                            Kind::Normal,
                            "SuccessfulCreate",
                            format!(
                                "create Claim {cname} Pod {pod} in StatefulSet {} success",
                                self.set_name()
                            ),
                        );
                        self.claims.insert(cname, c);
                    }
                    Err(e) if e.reason == "AlreadyExists" => {}
                    Err(e) => {
                        self.event(
                            Kind::Warning,
                            "FailedCreate",
                            format!(
                                "create Claim {cname} for Pod {pod} in StatefulSet {} failed error: {}",
                                self.set_name(),
                                e.message
                            ),
                        );
                        errs.push(format!("failed to create PVC {cname}: {}", e.message));
                    }
                },
            }
        }
        if errs.is_empty() {
            Ok(())
        } else if errs.len() == 1 {
            Err(errs.remove(0))
        } else {
            Err(format!("[{}]", errs.join(", ")))
        }
    }

    /// A claim the retention policy gave to a pod of this name that is
    /// gone: wait for the garbage collector before using the name again.
    fn stale_claim(&self, pod: &str, ord: i64) -> bool {
        claims_for(self.set, ord).iter().any(|c| {
            self.claims.get(name_of(c)).is_some_and(|claim| {
                claim["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r["kind"] == "Pod" && r["name"] == pod)
            })
        })
    }

    fn create_pod(&mut self, ord: i64) {
        let partition = &self.set["spec"]["updateStrategy"];
        let below = match partition["rollingUpdate"]["partition"].as_i64() {
            Some(p) => ord < start_ordinal(self.set) + p,
            None => {
                partition["type"] == "RollingUpdate"
                    && ord
                        < start_ordinal(self.set)
                            + self.set["status"]["currentReplicas"].as_i64().unwrap_or(0)
            }
        };
        let rev = if below {
            self.revs.current.clone()
        } else {
            self.revs.update.clone()
        };
        let pod = new_pod(self.set, &history::template_of(&rev), name_of(&rev), ord);
        let name = name_of(&pod).to_string();
        if self.stale_claim(&name, ord) {
            return;
        }
        if let Err(why) = self.create_claims(&name, ord) {
            self.pod_event("create", &name, Some(why));
            return;
        }
        match self.rt.try_create(&resources::PODS, pod) {
            Ok(created) => {
                self.pod_event("create", &name, None);
                self.fix_claims(&created);
            }
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => self.pod_event("create", &name, Some(e.message)),
        }
    }

    fn pod_event(&self, verb: &str, pod: &str, err: Option<String>) {
        let set = self.set_name();
        let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
        match err {
            None => self.event(
                Kind::Normal,
                &format!("Successful{title}"),
                format!("{verb} Pod {pod} in StatefulSet {set} successful"),
            ),
            Some(e) => self.event(
                Kind::Warning,
                &format!("Failed{title}"),
                format!("{verb} Pod {pod} in StatefulSet {set} failed error: {e}"),
            ),
        }
    }

    fn delete_pod(&self, pod: &Value) {
        let r = self.rt.delete(
            &resources::PODS,
            namespace_of(pod),
            name_of(pod),
            &DeleteOptions {
                preconditions: crate::storage::store::Preconditions {
                    uid: Some(uid_of(pod).to_string()),
                    ..Default::default()
                },
                ..DeleteOptions::default()
            },
        );
        match r {
            Ok(_) => self.pod_event("delete", name_of(pod), None),
            Err(e) if e.code == 404 => {}
            Err(e) => self.pod_event("delete", name_of(pod), Some(e.message)),
        }
    }

    /// The ownerReferences the retention policy wants on `pod`'s claims.
    fn fix_claims(&mut self, pod: &Value) {
        let Some(ord) = ordinal_of(self.set, pod) else {
            return;
        };
        let policy = &self.set["spec"]["persistentVolumeClaimRetentionPolicy"];
        let delete_on = |k: &str| policy[k] == "Delete";
        let scaled_down = !in_range(self.set, ord);
        // (owned by the set, owned by the pod)
        let want = match (delete_on("whenDeleted"), delete_on("whenScaled")) {
            (false, false) => (false, false),
            (true, false) => (true, false),
            (false, true) => (false, scaled_down),
            (true, true) => (!scaled_down, scaled_down),
        };
        for claim in claims_for(self.set, ord) {
            let Some(current) = self.claims.get(name_of(&claim)).cloned() else {
                continue;
            };
            if is_terminating(&current) {
                continue;
            }
            let refs: Vec<Value> = current["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mine = |r: &Value| r["uid"] == uid_of(self.set) || r["uid"] == uid_of(pod);
            if refs.iter().any(|r| r["controller"] == true && !mine(r)) {
                self.rt.events.record_once(
                    self.set,
                    Kind::Warning,
                    "ConflictingController",
                    format!(
                        "PersistentVolumeClaim {} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim",
                        name_of(&current)
                    ),
                    COMPONENT,
                );
                continue;
            }
            let mut new: Vec<Value> = refs.iter().filter(|r| !mine(r)).cloned().collect();
            if want.0 {
                new.push(owner_ref(self.set));
            }
            if want.1 {
                new.push(owner_ref(pod));
            }
            let same = new.len() == refs.len()
                && new
                    .iter()
                    .all(|r| refs.iter().any(|o| o["uid"] == r["uid"]));
            if same {
                continue;
            }
            let mut n = (*current).clone();
            if new.is_empty() {
                if let Some(m) = n["metadata"].as_object_mut() {
                    m.remove("ownerReferences");
                }
            } else {
                n["metadata"]["ownerReferences"] = json!(new);
            }
            if let Some(out) = self.rt.put(&resources::PVCS, n) {
                self.claims.insert(name_of(&out).to_string(), out);
            }
        }
    }

    /// Upstream's `processReplica`; true when the pass must stop here.
    fn replica(&mut self, ord: i64, pod: Option<&Value>) -> bool {
        let Some(pod) = pod else {
            self.create_pod(ord);
            return self.monotonic;
        };
        if matches!(phase(pod), "Failed" | "Succeeded") {
            // Replaced on a later pass, once the old one is gone.
            if !is_terminating(pod) {
                self.delete_pod(pod);
            }
            return true;
        }
        if phase(pod) == "Pending" {
            let _ = self.create_claims(name_of(pod), ord);
        }
        if self.monotonic && (is_terminating(pod) || !available(pod, self.min_ready)) {
            return true;
        }
        self.repair_identity(pod, ord);
        self.fix_claims(pod);
        false
    }

    /// A pod that lost its pod-name label gets it back.
    fn repair_identity(&self, pod: &Value, ord: i64) {
        let name = name_of(pod);
        let labels = &pod["metadata"]["labels"];
        if labels[POD_NAME_LABEL] == name
            && labels[POD_INDEX_LABEL].as_str() == Some(ord.to_string().as_str())
        {
            return;
        }
        let mut n = pod.clone();
        if !n["metadata"]["labels"].is_object() {
            n["metadata"]["labels"] = json!({});
        }
        n["metadata"]["labels"][POD_NAME_LABEL] = json!(name);
        n["metadata"]["labels"][POD_INDEX_LABEL] = json!(ord.to_string());
        match self.rt.try_put(&resources::PODS, n) {
            Ok(_) => self.pod_event("update", name, None),
            Err(e) if e.code == 409 || e.code == 404 => {}
            Err(e) => self.pod_event("update", name, Some(e.message)),
        }
    }
}

/// Pods of the set: the ones it controls, after adopting matching orphans
/// named like its pods and releasing those its selector no longer matches.
fn claim_pods(rt: &Runtime, set: &Value) -> Vec<Arc<Value>> {
    let (pods, _) = rt
        .store
        .list_stored(&resources::PODS, Some(namespace_of(set)));
    let uid = uid_of(set);
    let selector = LabelSelector::from_object(&set["spec"]["selector"]);
    let matches = |p: &Value| {
        selector
            .as_ref()
            .is_some_and(|s| !s.is_empty() && s.matches(&p["metadata"]["labels"]))
    };
    let mut out = Vec::new();
    for o in &pods {
        let mine = o.facts.controller.as_deref() == Some(uid);
        if !mine && o.facts.controller.is_some() {
            continue;
        }
        let p = o.value();
        if mine && matches(&p) {
            out.push(Arc::new(p));
        } else if mine {
            let mut n = p.clone();
            if let Some(list) = n["metadata"]["ownerReferences"].as_array_mut() {
                list.retain(|r| r["uid"] != uid);
            }
            rt.put(&resources::PODS, n);
        } else if !is_terminating(&p) && matches(&p) && ordinal_of(set, &p).is_some() {
            let mut n = p.clone();
            let mut refs = n["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            refs.push(owner_ref(set));
            n["metadata"]["ownerReferences"] = json!(refs);
            if let Some(adopted) = rt.put(&resources::PODS, n) {
                out.push(adopted);
            }
        }
    }
    out
}

fn sync(rt: &Runtime, set: &Value) {
    let Some(revs) = history::sync(rt, set, &history::STATEFUL_SET) else {
        return;
    };
    let pods = claim_pods(rt, set);
    let (claims, _) = rt.store.list(&resources::PVCS, Some(namespace_of(set)));
    let claims = claims
        .into_iter()
        .map(|c| (name_of(&c).to_string(), c))
        .collect();
    let start = start_ordinal(set);
    let count = replicas(set);
    let mut slots: Vec<Option<Arc<Value>>> = vec![None; count as usize];
    let mut condemned: Vec<(i64, Arc<Value>)> = Vec::new();
    for p in &pods {
        match ordinal_of(set, p) {
            Some(ord) if in_range(set, ord) => slots[(ord - start) as usize] = Some(p.clone()),
            Some(ord) => condemned.push((ord, p.clone())),
            None => {}
        }
    }
    condemned.sort_by_key(|(ord, _)| std::cmp::Reverse(*ord));
    let mut pass = Pass {
        rt,
        set,
        revs,
        claims,
        monotonic: set["spec"]["podManagementPolicy"] != "Parallel",
        min_ready: set["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
    };
    act(&mut pass, &slots, &condemned);
    write_status(&pass, &pods);
    let live: Vec<String> = pods.iter().map(|p| revision_of(p).to_string()).collect();
    let (current, update) = (
        name_of(&pass.revs.current).to_string(),
        name_of(&pass.revs.update).to_string(),
    );
    history::truncate_history(rt, set, &pass.revs.all, |r| {
        let n = name_of(r);
        n == current || n == update || live.iter().any(|l| l == n)
    });
}

/// Creates, repairs, deletes and updates pods: one step at a time with
/// `OrderedReady`, as far as it goes with `Parallel`.
fn act(pass: &mut Pass<'_>, slots: &[Option<Arc<Value>>], condemned: &[(i64, Arc<Value>)]) {
    let start = start_ordinal(pass.set);
    for (i, slot) in slots.iter().enumerate() {
        if pass.replica(start + i as i64, slot.as_deref()) && pass.monotonic {
            return;
        }
    }
    for (_, pod) in condemned {
        pass.fix_claims(pod);
    }
    // Condemned pods go from the highest ordinal down; with OrderedReady
    // one at a time, and only while every pod below is healthy (the
    // lowest unhealthy one excepted).
    let first_unhealthy = slots
        .iter()
        .flatten()
        .chain(condemned.iter().rev().map(|(_, p)| p))
        .find(|p| !healthy(p))
        .map(|p| uid_of(p).to_string());
    for (_, pod) in condemned {
        if is_terminating(pod) {
            if pass.monotonic {
                return;
            }
            continue;
        }
        if pass.monotonic
            && !available(pod, pass.min_ready)
            && first_unhealthy.as_deref() != Some(uid_of(pod))
        {
            return;
        }
        pass.delete_pod(pod);
        if pass.monotonic {
            return;
        }
    }
    let strategy = &pass.set["spec"]["updateStrategy"];
    if strategy["type"] != "RollingUpdate" {
        return;
    }
    let partition = strategy["rollingUpdate"]["partition"]
        .as_i64()
        .unwrap_or(0)
        .max(0) as usize;
    let update = name_of(&pass.revs.update).to_string();
    for slot in slots.iter().skip(partition).rev() {
        let Some(pod) = slot else {
            return;
        };
        if revision_of(pod) != update && !is_terminating(pod) {
            pass.delete_pod(pod);
            return;
        }
        if !healthy(pod) {
            return;
        }
    }
}

/// The status from the pods as they were at the start of the pass.
fn write_status(pass: &Pass<'_>, pods: &[Arc<Value>]) {
    let set = pass.set;
    let current = name_of(&pass.revs.current).to_string();
    let update = name_of(&pass.revs.update).to_string();
    let (mut total, mut ready, mut avail, mut cur, mut upd) = (0, 0, 0, 0, 0);
    for p in pods.iter().filter(|p| ordinal_of(set, p).is_some()) {
        if phase(p).is_empty() {
            continue;
        }
        total += 1;
        if running_and_ready(p) {
            ready += 1;
            if available(p, pass.min_ready) {
                avail += 1;
            }
        }
        if !is_terminating(p) {
            if revision_of(p) == current {
                cur += 1;
            }
            if revision_of(p) == update {
                upd += 1;
            }
        }
    }
    let mut current_rev = current;
    // A finished rolling update: the update revision becomes current.
    if set["spec"]["updateStrategy"]["type"] == "RollingUpdate"
        && upd == ready
        && ready == total
        && total == replicas(set)
    {
        cur = upd;
        current_rev = update.clone();
    }
    let mut st = json!({
        "observedGeneration": set["metadata"]["generation"],
        "replicas": total,
        "availableReplicas": avail,
        "collisionCount": pass.revs.collision_count,
    });
    for (k, v) in [
        ("readyReplicas", ready),
        ("currentReplicas", cur),
        ("updatedReplicas", upd),
    ] {
        if v > 0 {
            st[k] = json!(v);
        }
    }
    st["currentRevision"] = json!(current_rev);
    st["updateRevision"] = json!(update);
    if let Some(conds) = set["status"]["conditions"].as_array() {
        st["conditions"] = json!(conds);
    }
    if set["status"] != st {
        let mut n = set.clone();
        n["status"] = st;
        pass.rt.put(&resources::STATEFUL_SETS, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_the_name() {
        assert_eq!(parent_and_ordinal("db-0"), Some(("db", 0)));
        assert_eq!(parent_and_ordinal("my-db-12"), Some(("my-db", 12)));
        assert_eq!(parent_and_ordinal("db-x"), None);
        assert_eq!(parent_and_ordinal("db"), None);
    }

    #[test]
    fn pods_get_identity_and_their_claims() {
        let set = json!({"metadata": {"name": "db", "namespace": "ns", "uid": "u"},
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "spec": {"serviceName": "db-hl", "selector": {"matchLabels": {"app": "db"}},
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "x"}},
                    "spec": {"accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Pending"}}]}});
        let template = json!({"metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "c", "image": "i"}],
                     "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "c"}}]}});
        let pod = new_pod(&set, &template, "db-abc", 1);
        assert_eq!(pod["metadata"]["name"], "db-1");
        assert_eq!(pod["metadata"]["labels"][POD_NAME_LABEL], "db-1");
        assert_eq!(pod["metadata"]["labels"][POD_INDEX_LABEL], "1");
        assert_eq!(pod["metadata"]["labels"][REVISION_LABEL], "db-abc");
        assert_eq!(pod["spec"]["hostname"], "db-1");
        assert_eq!(pod["spec"]["subdomain"], "db-hl");
        assert_eq!(
            pod["spec"]["volumes"],
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}},
                   {"name": "conf", "configMap": {"name": "c"}}])
        );
        let claims = claims_for(&set, 1);
        assert_eq!(claims[0]["metadata"]["name"], "data-db-1");
        assert_eq!(
            claims[0]["metadata"]["labels"],
            json!({"tier": "x", "app": "db"})
        );
        assert!(claims[0].get("status").is_none());
    }
}
