//! The garbage collector, as upstream's: an object whose owners
//! (ownerReferences) are all gone, or being deleted in the foreground, is
//! deleted; an owner deleted in the foreground (finalizer
//! `foregroundDeletion`) goes once its blocking dependents are gone. The
//! store only orphans at once (`Orphan` propagation); everything else
//! about dependents happens here, after the owner's delete, so pods go
//! through their graceful deletion like any other delete.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::machinery::meta::is_terminating;
use crate::machinery::meta::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
use crate::machinery::meta::{name_of, namespace_of};
use crate::machinery::resources::{self, RESOURCES, ResourceDef};
use crate::registry::deletion::{DeleteOptions, Propagation};
use crate::runtime::Runtime;
use crate::storage::store::{Obj, Preconditions};

/// What the collector knows of a possible owner.
struct Owner {
    /// Being deleted with the `foregroundDeletion` finalizer.
    waiting: bool,
}

fn has_finalizer(o: &Value, f: &str) -> bool {
    o["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|x| x == f))
}

/// Whether the sandbox serves the kind an ownerReference names.
fn served(r: &Value) -> bool {
    let group = r["apiVersion"]
        .as_str()
        .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    let kind = r["kind"].as_str().unwrap_or("");
    resources::find_kind(group, kind).is_some_and(ResourceDef::stored)
}

/// Whether the owner an ownerReference names exists now, with that uid.
fn owner_exists(rt: &Runtime, oref: &Value, ns: &str) -> bool {
    let group = oref["apiVersion"]
        .as_str()
        .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    let Some(r) = resources::find_kind(group, oref["kind"].as_str().unwrap_or("")) else {
        return true;
    };
    let ns = if r.namespaced { ns } else { "" };
    rt.store
        .get(r, ns, oref["name"].as_str().unwrap_or(""))
        .is_some_and(|o| o["metadata"]["uid"] == oref["uid"])
}

pub fn reconcile(rt: &Arc<Runtime>) {
    let stored: Vec<&'static ResourceDef> =
        RESOURCES.iter().copied().filter(|r| r.stored()).collect();
    // Every object's uid (from the store's facts, unparsed); only the
    // objects that have owners or wait for dependents are parsed.
    let listed: Vec<(&'static ResourceDef, Vec<Arc<Obj>>)> = stored
        .iter()
        .map(|r| (*r, rt.store.list_stored(r, None).0))
        .collect();
    let mut all: Vec<(&'static ResourceDef, Arc<Value>)> = Vec::new();
    for (r, objs) in &listed {
        for o in objs {
            if o.facts.owned || (o.facts.terminating && o.facts.foreground) {
                all.push((r, Arc::new(o.value())));
            }
        }
    }
    if all.is_empty() {
        return;
    }
    let owners: HashMap<&str, Owner> = listed
        .iter()
        .flat_map(|(_, objs)| objs)
        .filter(|o| !o.facts.uid.is_empty())
        .map(|o| {
            let waiting = o.facts.terminating && o.facts.foreground;
            (&*o.facts.uid, Owner { waiting })
        })
        .collect();
    // owner uid → its dependents (blocking or not).
    let mut dependents: HashMap<&str, Vec<bool>> = HashMap::new();
    for (_, o) in &all {
        for r in o["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(u) = r["uid"].as_str() {
                dependents
                    .entry(u)
                    .or_default()
                    .push(r["blockOwnerDeletion"].as_bool() == Some(true));
            }
        }
    }
    // Dependents whose owners are gone or waiting for them.
    for (r, o) in &all {
        let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        if refs.is_empty() {
            continue;
        }
        let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), 0);
        for oref in refs {
            let uid = oref["uid"].as_str().unwrap_or("");
            if !served(oref) {
                solid += 1;
                continue;
            }
            match owners.get(uid) {
                // Checked live: the owner may be newer than the listing.
                None if !owner_exists(rt, oref, namespace_of(o)) => dangling.push(uid),
                None => solid += 1,
                Some(w) if w.waiting => waiting += 1,
                Some(_) => solid += 1,
            }
        }
        if dangling.is_empty() && waiting == 0 {
            continue;
        }
        if solid > 0 {
            // Still owned: only the references to vanished owners go.
            if !dangling.is_empty() {
                let mut n = (**o).clone();
                if let Some(list) = n["metadata"]["ownerReferences"].as_array_mut() {
                    list.retain(|x| !dangling.contains(&x["uid"].as_str().unwrap_or("")));
                }
                rt.put(r, n);
            }
            continue;
        }
        if is_terminating(o) {
            continue;
        }
        let uid = o["metadata"]["uid"].as_str().unwrap_or("");
        let policy = if waiting > 0 && dependents.contains_key(uid) {
            Propagation::Foreground
        } else if has_finalizer(o, FINALIZER_ORPHAN) {
            Propagation::Orphan
        } else if has_finalizer(o, FINALIZER_FOREGROUND) {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        let _ = rt.delete(
            r,
            namespace_of(o),
            name_of(o),
            &DeleteOptions {
                propagation: Some(policy),
                preconditions: Preconditions {
                    uid: Some(uid.to_string()),
                    ..Preconditions::default()
                },
                ..DeleteOptions::default()
            },
        );
    }
    // Owners deleted in the foreground whose blocking dependents are gone.
    for (r, o) in &all {
        if !(is_terminating(o) && has_finalizer(o, FINALIZER_FOREGROUND)) {
            continue;
        }
        let uid = o["metadata"]["uid"].as_str().unwrap_or("");
        let blocked = dependents
            .get(uid)
            .is_some_and(|d| d.iter().any(|blocking| *blocking));
        if blocked {
            continue;
        }
        let mut n = (**o).clone();
        if let Some(fs) = n["metadata"]["finalizers"].as_array_mut() {
            fs.retain(|f| f != FINALIZER_FOREGROUND);
            if fs.is_empty()
                && let Some(m) = n["metadata"].as_object_mut()
            {
                m.remove("finalizers");
            }
        }
        rt.put(r, n);
    }
}
