//! Field managers, as upstream's (apimachinery `util/managedfields`): every
//! write records who set which fields in `metadata.managedFields`, and
//! server-side apply merges a configuration into the live object, removes
//! what its manager stopped applying, and refuses to change fields other
//! managers own unless forced.
//!
//! - An update (create, PUT, JSON/merge/strategic patch, a controller's
//!   write) is attributed to its manager as an `Update` entry: the fields
//!   it added or changed, taken from whoever owned them
//!   ([`track_update`]).
//! - An apply ([`apply`]) makes the manager's `Apply` entry exactly the
//!   fields of its configuration; a field another manager owns and the
//!   configuration changes is a conflict (409 with upstream's message),
//!   unless `force` moves it.
//!
//! Writes to a status subresource are recorded with `subresource:
//! status`; the main resource's writes do not own `status` where the kind
//! has that subresource. Update entries beyond 10 are merged into
//! `ancient-changes`, as upstream caps them.

pub(crate) mod fieldset;
pub(crate) mod schema;
pub(crate) mod walk;

use serde_json::{Value, json};

use crate::machinery::meta::{name_of, namespace_of, now_rfc3339};
use crate::machinery::resources::ResourceDef;
use crate::machinery::status::ApiError;
use crate::registry::pipeline::Scope;
use fieldset::{Pe, Set, path_string};

/// Upstream's `DefaultMaxUpdateManagers`.
const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager old updates are merged into.
const ANCIENT_CHANGES: &str = "ancient-changes";
/// kubectl's client-side apply annotation.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The manager `kubectl apply --server-side` uses, for which upstream
/// keeps the client-side apply annotation in step.
const KUBECTL: &str = "kubectl";

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    apply: bool,
    api_version: String,
    time: Option<String>,
    subresource: String,
    set: Set,
}

impl Entry {
    fn is(&self, manager: &str, apply: bool, subresource: &str) -> bool {
        self.manager == manager && self.apply == apply && self.subresource == subresource
    }

    fn encode(&self) -> Value {
        let mut e = json!({
            "manager": self.manager,
            "operation": if self.apply { "Apply" } else { "Update" },
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.set.to_fields_v1(),
        });
        if let Some(t) = &self.time {
            e["time"] = json!(t);
        }
        if !self.subresource.is_empty() {
            e["subresource"] = json!(self.subresource);
        }
        e
    }
}

/// The entries of an object's `metadata.managedFields`; None when they
/// cannot be read.
fn decode(v: &Value) -> Option<Vec<Entry>> {
    let list = v.as_array()?;
    list.iter()
        .map(|e| {
            let op = e["operation"].as_str()?;
            Some(Entry {
                manager: e["manager"].as_str().unwrap_or("").to_string(),
                apply: match op {
                    "Apply" => true,
                    "Update" => false,
                    _ => return None,
                },
                api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                time: e["time"].as_str().map(str::to_string),
                subresource: e["subresource"].as_str().unwrap_or("").to_string(),
                set: match e.get("fieldsV1") {
                    Some(f) => Set::from_fields_v1(f)?,
                    None => Set::default(),
                },
            })
        })
        .collect()
}

/// Writes the entries back, in upstream's order (Apply before Update,
/// then oldest first, then by manager).
fn store(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        b.apply
            .cmp(&a.apply)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    if entries.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] =
            Value::Array(entries.iter().map(Entry::encode).collect());
    }
}

/// An object without its managed fields (what the walks compare).
fn without_managed(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    c
}

/// Whether `v` is an object whose metadata is an object (or absent): what
/// the pipeline hands over; anything else is left untracked.
fn well_formed(v: &Value) -> bool {
    v.is_object()
        && v.get("metadata")
            .is_none_or(|m| m.is_object() || m.is_null())
}

/// What a new object is compared with on create: upstream compares with
/// the kind's Go zero value, whose non-pointer structs (spec, status, a
/// pod template...) are present though empty, so they are not "added".
fn zero(obj: &Value) -> Value {
    const ALWAYS: &[&[&str]] = &[
        &["metadata"],
        &["spec"],
        &["status"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
        &["spec", "strategy"],
        &["spec", "updateStrategy"],
        &["spec", "resources"],
        &["spec", "jobTemplate"],
        &["spec", "jobTemplate", "metadata"],
        &["spec", "jobTemplate", "spec"],
        &["spec", "jobTemplate", "spec", "template"],
        &["spec", "jobTemplate", "spec", "template", "metadata"],
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ];
    let mut z = json!({});
    for path in ALWAYS {
        let present = path
            .iter()
            .try_fold(obj, |v, k| v.get(*k).filter(|c| c.is_object()))
            .is_some();
        if !present {
            continue;
        }
        let mut at = &mut z;
        for k in *path {
            if at.get(*k).is_none() {
                at[*k] = json!({});
            }
            at = &mut at[*k];
        }
    }
    z
}

/// Removes what upstream never tracks: apiVersion, kind and the
/// metadata the server sets.
fn strip(set: &Set) -> Set {
    let mut s = set.clone();
    s.remove(&Pe::Field("apiVersion".into()));
    s.remove(&Pe::Field("kind".into()));
    let meta = Pe::Field("metadata".into());
    let mut only_meta = Set::default();
    only_meta.insert(std::slice::from_ref(&meta));
    s = s.difference(&only_meta);
    if let Some(m) = s.child_mut(&meta) {
        for f in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            m.remove(&Pe::Field(f.into()));
        }
    }
    s
}

/// The part of a set a write may own: the main resource does not own
/// `status` where the kind has a status subresource; the status
/// subresource owns only `status`, the ephemeral containers one only
/// `spec.ephemeralContainers`. Answers (subresource, set) pairs (a
/// controller's whole-object write splits in two).
fn scoped(res: &ResourceDef, scope: Scope, set: &Set) -> Vec<(&'static str, Set)> {
    let status = Pe::Field("status".into());
    let has_status = res.has_subresource("status");
    let (inside, outside) = set.split(&status);
    match scope {
        Scope::Status => vec![("status", inside)],
        Scope::EphemeralContainers => vec![(
            scope.subresource(),
            set.at(&[
                Pe::Field("spec".into()),
                Pe::Field("ephemeralContainers".into()),
            ]),
        )],
        Scope::Main if has_status => vec![("", outside)],
        Scope::All if has_status => vec![("", outside), ("status", inside)],
        _ => vec![("", set.clone())],
    }
}

/// Records an update (create, PUT, patch, a controller's write) by
/// `manager`: `new`'s `metadata.managedFields` becomes the entries of
/// `live` (or those the request set, as upstream lets clients reset or
/// rewrite them) with the fields this write added or changed given to
/// `manager`.
pub(crate) fn track_update(
    res: &ResourceDef,
    scope: Scope,
    manager: &str,
    live: Option<&Value>,
    new: &mut Value,
) {
    if !well_formed(new) || live.is_some_and(|l| !well_formed(l)) {
        return;
    }
    let live_entries = || {
        live.and_then(|l| decode(&l["metadata"]["managedFields"]))
            .unwrap_or_default()
    };
    let requested = &new["metadata"]["managedFields"];
    // A subresource's write keeps the entries as they are.
    let mut entries = if !scope.subresource().is_empty() || requested.is_null() {
        live_entries()
    } else if requested.as_array().is_some_and(|a| {
        a.is_empty() || (a.len() == 1 && a[0].as_object().is_some_and(|o| o.is_empty()))
    }) {
        Vec::new()
    } else {
        decode(requested).unwrap_or_else(live_entries)
    };
    let before = live.map_or_else(|| zero(new), without_managed);
    let changes = walk::compare(res.kind, &before, &without_managed(new));
    let now = now_rfc3339();
    let api_version = res.api_version();
    let parts: Vec<_> = scoped(res, scope, &strip(&changes.changed()))
        .into_iter()
        .zip(scoped(res, scope, &strip(&changes.removed)))
        .collect();
    for ((sub, changed), (_, removed)) in parts {
        for e in entries.iter_mut().filter(|e| !e.is(manager, false, sub)) {
            e.set = e.set.difference(&changed).difference(&removed);
        }
        match entries.iter_mut().find(|e| e.is(manager, false, sub)) {
            Some(mine) => {
                mine.set = mine.set.difference(&removed).union(&changed);
                if !changed.is_empty() {
                    mine.time = Some(now.clone());
                    mine.api_version = api_version.clone();
                }
            }
            None if !changed.is_empty() => entries.push(Entry {
                manager: manager.to_string(),
                apply: false,
                api_version: api_version.clone(),
                time: Some(now.clone()),
                subresource: sub.to_string(),
                set: changed,
            }),
            None => {}
        }
    }
    cap_updates(&mut entries);
    store(new, entries);
}

/// Merges the oldest Update entries into `ancient-changes` while there
/// are more than [`MAX_UPDATE_MANAGERS`].
fn cap_updates(entries: &mut Vec<Entry>) {
    let mut updates: Vec<usize> = (0..entries.len()).filter(|i| !entries[*i].apply).collect();
    if updates.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updates.sort_by(|a, b| {
        let (ea, eb) = (&entries[*a], &entries[*b]);
        ea.time
            .cmp(&eb.time)
            .then_with(|| ea.manager.cmp(&eb.manager))
    });
    let excess = updates.len() - MAX_UPDATE_MANAGERS;
    let merged: Vec<usize> = updates[..=excess].to_vec();
    let mut bucket = Entry {
        manager: ANCIENT_CHANGES.to_string(),
        apply: false,
        api_version: entries[merged[0]].api_version.clone(),
        time: None,
        subresource: String::new(),
        set: Set::default(),
    };
    for i in &merged {
        bucket.set = bucket.set.union(&entries[*i].set);
        bucket.time = entries[*i].time.clone().max(bucket.time);
    }
    let mut i = 0;
    entries.retain(|_| {
        let keep = !merged.contains(&i);
        i += 1;
        keep
    });
    entries.push(bucket);
}

/// The 409 for apply conflicts, worded as upstream's `NewConflictError`.
fn conflict_error(conflicts: &[(String, bool, String, String, Vec<Pe>)]) -> ApiError {
    let who = |(manager, apply, api_version, sub, _): &(String, bool, String, String, Vec<Pe>)| {
        let mut s = format!("{manager:?}");
        if !sub.is_empty() {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if !apply {
            s.push_str(&format!(" using {api_version}"));
        }
        s
    };
    let message = if let [one] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            who(one),
            path_string(&one.4)
        )
    } else {
        let mut lines = Vec::new();
        let mut managers: Vec<String> = conflicts.iter().map(who).collect();
        managers.sort();
        managers.dedup();
        for m in &managers {
            lines.push(format!("conflicts with {m}:"));
            for c in conflicts.iter().filter(|c| who(c) == *m) {
                lines.push(format!("- {}", path_string(&c.4)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(c)),
                "field": path_string(&c.4)})
        })
        .collect();
    let mut e = ApiError::new(409, "Conflict", message);
    e.details = Some(json!({"causes": causes}));
    e
}

/// The fields of the live object that the client-side apply annotation
/// sets to what they are now: what `kubectl apply --server-side` may take
/// over from client-side apply without a conflict.
fn allowed_from_last_applied(kind: &str, live: &Value) -> Option<Set> {
    let text = live["metadata"]["annotations"][LAST_APPLIED].as_str()?;
    let last: Value = serde_json::from_str(text).ok()?;
    let set = strip(&walk::field_set(kind, &last).ok()?);
    let changes = walk::compare(kind, &last, &walk::merge(kind, &last, live));
    set.intersection(&changes.changed())
        .is_empty()
        .then_some(set)
}

/// Server-side apply of `config` by `manager` onto `live` (None: the
/// object is created). Answers the merged object, managed fields set.
pub(crate) fn apply(
    res: &ResourceDef,
    scope: Scope,
    manager: &str,
    force: bool,
    live: Option<&Value>,
    config: &Value,
) -> Result<Value, ApiError> {
    if !well_formed(config) || live.is_some_and(|l| !well_formed(l)) {
        return Err(ApiError::bad_request(
            "the applied configuration is not an object with metadata",
        ));
    }
    if !config["metadata"]["managedFields"].is_null() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let kind = res.kind;
    let mut entries = live
        .and_then(|l| decode(&l["metadata"]["managedFields"]))
        .unwrap_or_default();
    let base = match live {
        Some(l) => without_managed(l),
        None => {
            let mut z = zero(config);
            z["apiVersion"] = json!(res.api_version());
            z["kind"] = json!(kind);
            z["metadata"]["name"] = json!(name_of(config));
            if res.namespaced {
                z["metadata"]["namespace"] = json!(namespace_of(config));
            }
            z
        }
    };
    let set = walk::field_set(kind, config).map_err(|e| {
        ApiError::new(
            500,
            "",
            format!(
                "failed to create typed patch object ({}/{}; {}, Kind={kind}): {e}",
                namespace_of(config),
                name_of(config),
                res.api_version()
            ),
        )
    })?;
    let mut merged = walk::merge(kind, &base, config);
    let (sub, new_set) = scoped(res, scope, &strip(&set))
        .into_iter()
        .next()
        .unwrap_or(("", Set::default()));
    let last = entries
        .iter()
        .find(|e| e.is(manager, true, sub))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let mut owned = new_set.clone();
    for e in entries.iter().filter(|e| !e.is(manager, true, sub)) {
        owned = owned.union(&e.set);
    }
    walk::remove(kind, &mut merged, &last.difference(&owned), &owned);
    let changes = walk::compare(kind, &base, &merged);
    let changed = strip(&changes.changed());
    let removed = strip(&changes.removed);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !e.is(manager, true, sub)) {
        for p in e.set.intersection(&changed).paths() {
            let id = (
                e.manager.clone(),
                e.apply,
                e.api_version.clone(),
                e.subresource.clone(),
            );
            conflicts.push((id.0, id.1, id.2, id.3, p));
        }
    }
    if !conflicts.is_empty() && !force {
        let allowed = (manager == KUBECTL)
            .then(|| live.and_then(|l| allowed_from_last_applied(kind, l)))
            .flatten();
        let forced = allowed.is_some_and(|a| conflicts.iter().all(|c| a.has(&c.4)));
        if !forced {
            return Err(conflict_error(&conflicts));
        }
    }
    for e in entries.iter_mut().filter(|e| !e.is(manager, true, sub)) {
        e.set = e.set.difference(&changed).difference(&removed);
    }
    let now = now_rfc3339();
    let object_changed = !changed.is_empty() || !removed.is_empty();
    match entries.iter_mut().find(|e| e.is(manager, true, sub)) {
        Some(mine) => {
            if object_changed || mine.set != new_set {
                mine.time = Some(now);
            }
            mine.set = new_set;
            mine.api_version = res.api_version();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            apply: true,
            api_version: res.api_version(),
            time: Some(now),
            subresource: sub.to_string(),
            set: new_set,
        }),
    }
    if manager == KUBECTL
        && merged["metadata"]["annotations"].is_object()
        && live.is_some_and(|l| l["metadata"]["annotations"][LAST_APPLIED].is_string())
    {
        // Keep kubectl's client-side apply annotation in step with what
        // was applied (upstream's lastAppliedUpdater).
        let mut applied = config.clone();
        if let Some(a) = applied
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
        {
            a.remove(LAST_APPLIED);
            if a.is_empty()
                && let Some(m) = applied["metadata"].as_object_mut()
            {
                m.remove("annotations");
            }
        }
        merged["metadata"]["annotations"][LAST_APPLIED] =
            json!(serde_json::to_string(&applied).unwrap_or_default());
    }
    store(&mut merged, entries);
    Ok(merged)
}

#[cfg(test)]
mod tests;
