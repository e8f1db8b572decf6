//! ControllerRevisions, the pod-template history of StatefulSets and
//! DaemonSets, as upstream's `controller/history` package keeps it: one
//! revision per distinct template (named `<owner>-<hash>`, numbered in the
//! order templates were used), an older template coming back renumbered
//! rather than copied (`kubectl rollout undo`), hash collisions counted in
//! `status.collisionCount`, and the history cut to `revisionHistoryLimit`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::{
    controller_uid, is_terminating, name_of, namespace_of, owner_ref, uid_of,
};
use crate::machinery::resources;
use crate::machinery::selectors::LabelSelector;
use crate::registry::deletion::DeleteOptions;
use crate::runtime::Runtime;

/// How a kind names and labels its revisions.
pub(crate) struct Flavor {
    /// The label that carries the hash on revisions.
    pub hash_label: &'static str,
    /// What the hash is computed over (with the collision count).
    pub hash_input: fn(owner: &Value, data: &Value) -> Value,
}

/// StatefulSets hash the revision's data and label it `controller.kubernetes.io/hash`.
pub(crate) const STATEFUL_SET: Flavor = Flavor {
    hash_label: "controller.kubernetes.io/hash",
    hash_input: |_, data| data.clone(),
};

/// DaemonSets hash the pod template and label it `controller-revision-hash`.
pub(crate) const DAEMON_SET: Flavor = Flavor {
    hash_label: "controller-revision-hash",
    hash_input: |owner, _| owner["spec"]["template"].clone(),
};

/// The revision's data: the owner's pod template as a strategic merge
/// patch that replaces the whole template.
pub(crate) fn data_of(owner: &Value) -> Value {
    let mut t = owner["spec"]["template"].clone();
    if t.is_object() {
        t["$patch"] = json!("replace");
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision records.
pub(crate) fn template_of(rev: &Value) -> Value {
    let mut t = rev["data"]["spec"]["template"].clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    t
}

fn revision_number(rev: &Value) -> i64 {
    rev["revision"].as_i64().unwrap_or(0)
}

fn hash(flavor: &Flavor, owner: &Value, data: &Value, collisions: i64) -> String {
    let mut input = (flavor.hash_input)(owner, data);
    if collisions > 0 {
        input = json!([input, collisions]);
    }
    crate::machinery::names::template_hash(&input)
}

/// The owner's revisions, oldest first, adopting orphans its selector
/// matches (after an orphaning delete and a re-create) as upstream does.
pub(crate) fn owned(rt: &Runtime, owner: &Value) -> Vec<Arc<Value>> {
    let (all, _) = rt
        .store
        .list(&resources::CONTROLLER_REVISIONS, Some(namespace_of(owner)));
    let uid = uid_of(owner);
    let selector = LabelSelector::from_object(&owner["spec"]["selector"]);
    let mut mine = Vec::new();
    for rev in all {
        if is_terminating(&rev) {
            continue;
        }
        match controller_uid(&rev) {
            Some(u) if u == uid => mine.push(rev),
            None if selector
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.matches(&rev["metadata"]["labels"])) =>
            {
                let mut n = (*rev).clone();
                n["metadata"]["ownerReferences"] = json!([owner_ref(owner)]);
                if let Some(out) = rt.put(&resources::CONTROLLER_REVISIONS, n) {
                    mine.push(out);
                }
            }
            _ => {}
        }
    }
    mine.sort_by_key(|r| revision_number(r));
    mine
}

/// What [`sync`] settled: the revisions pods are made from.
pub(crate) struct Revisions {
    /// The revision the owner's status names as current (else the update one).
    pub current: Arc<Value>,
    /// The revision of the owner's template now.
    pub update: Arc<Value>,
    pub collision_count: i64,
    /// Every revision, oldest first.
    pub all: Vec<Arc<Value>>,
}

/// Finds or makes the revision of the owner's template (renumbering an
/// older equal one), and the current one its status names.
pub(crate) fn sync(rt: &Runtime, owner: &Value, flavor: &Flavor) -> Option<Revisions> {
    let mut all = owned(rt, owner);
    let mut collisions = owner["status"]["collisionCount"].as_i64().unwrap_or(0);
    let data = data_of(owner);
    let next = all.last().map_or(1, |r| revision_number(r) + 1);
    let equal = all.iter().rposition(|r| r["data"] == data);
    let update = match equal {
        Some(i) if i + 1 == all.len() => all[i].clone(),
        Some(i) => {
            // A template seen before: that revision becomes the newest.
            let mut n = (*all[i]).clone();
            n["revision"] = json!(next);
            let out = rt.put(&resources::CONTROLLER_REVISIONS, n)?;
            all[i] = out.clone();
            all.sort_by_key(|r| revision_number(r));
            out
        }
        None => loop {
            let h = hash(flavor, owner, &data, collisions);
            let name = format!("{}-{h}", truncate(name_of(owner), 223));
            if let Some(existing) =
                rt.store
                    .get(&resources::CONTROLLER_REVISIONS, namespace_of(owner), &name)
            {
                if existing["data"] == data && controller_uid(&existing) == Some(uid_of(owner)) {
                    break existing;
                }
                // Same name, other content: count the collision and rehash.
                collisions += 1;
                if collisions > 100 {
                    return None;
                }
                continue;
            }
            let mut labels = owner["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels[flavor.hash_label] = json!(h);
            let mut rev = json!({
                "apiVersion": "apps/v1",
                "kind": "ControllerRevision",
                "metadata": {
                    "name": name,
                    "namespace": namespace_of(owner),
                    "labels": labels,
                    "ownerReferences": [owner_ref(owner)],
                },
                "data": data,
                "revision": next,
            });
            if let Some(a) = owner["metadata"]["annotations"].as_object()
                && !a.is_empty()
            {
                rev["metadata"]["annotations"] = json!(a);
            }
            let out = rt.create(&resources::CONTROLLER_REVISIONS, rev)?;
            all.push(out.clone());
            break out;
        },
    };
    let current_name = owner["status"]["currentRevision"].as_str().unwrap_or("");
    let current = all
        .iter()
        .find(|r| name_of(r) == current_name)
        .cloned()
        .unwrap_or_else(|| update.clone());
    Some(Revisions {
        current,
        update,
        collision_count: collisions,
        all,
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Deletes the oldest revisions no pod uses, beyond `revisionHistoryLimit`.
/// `live` says whether a revision is still in use (current, update, or the
/// template of a pod).
pub(crate) fn truncate_history(
    rt: &Runtime,
    owner: &Value,
    revs: &[Arc<Value>],
    live: impl Fn(&Value) -> bool,
) {
    let limit = owner["spec"]["revisionHistoryLimit"]
        .as_i64()
        .unwrap_or(10)
        .max(0) as usize;
    let old: Vec<&Arc<Value>> = revs.iter().filter(|r| !live(r)).collect();
    if old.len() <= limit {
        return;
    }
    for r in &old[..old.len() - limit] {
        let _ = rt.delete(
            &resources::CONTROLLER_REVISIONS,
            namespace_of(r),
            name_of(r),
            &DeleteOptions::default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_the_template() {
        let owner = json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}});
        let data = data_of(&owner);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let rev = json!({"data": data});
        assert_eq!(template_of(&rev), owner["spec"]["template"]);
        let h1 = hash(&STATEFUL_SET, &owner, &data_of(&owner), 0);
        let h2 = hash(&STATEFUL_SET, &owner, &data_of(&owner), 1);
        assert_ne!(h1, h2);
    }
}
