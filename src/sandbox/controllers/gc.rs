//! The garbage collector's background half: dependents whose owners are
//! all gone (an owner deleted while its controller was creating them, or
//! an orphaned object whose owner came back and went again) are deleted.
//! Cascading deletes themselves happen in the store when the owner goes.

use std::collections::HashSet;
use std::sync::Arc;

use super::Runtime;
use crate::sandbox::resources;
use crate::sandbox::store::{DeleteOptions, name_of, namespace_of};

/// Kinds whose objects are created with ownerReferences in the sandbox.
const DEPENDENTS: &[&str] = &[
    "pods",
    "replicasets.apps",
    "endpointslices.discovery.k8s.io",
    "controllerrevisions.apps",
];

/// Kinds that own objects in the sandbox.
const OWNERS: &[&str] = &[
    "deployments.apps",
    "replicasets.apps",
    "jobs.batch",
    "services",
    "nodes",
    "pods",
];

pub fn reconcile(rt: &Arc<Runtime>) {
    let mut alive: Option<HashSet<String>> = None;
    for q in DEPENDENTS {
        let Some(r) = resources::by_qualified(q) else {
            continue;
        };
        let (objs, _) = rt.store.list(r, None);
        for o in objs {
            let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
                continue;
            };
            if refs.is_empty() {
                continue;
            }
            let alive = alive.get_or_insert_with(|| all_uids(rt));
            let any_alive = refs.iter().any(|r| {
                let group = r["apiVersion"]
                    .as_str()
                    .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
                    .unwrap_or("");
                // Owners of kinds the sandbox does not serve are left alone.
                !OWNERS.iter().any(|q| {
                    resources::by_qualified(q)
                        .is_some_and(|d| d.group == group && r["kind"].as_str() == Some(d.kind))
                }) || r["uid"].as_str().is_some_and(|u| alive.contains(u))
            });
            if !any_alive {
                let _ =
                    rt.store
                        .delete(r, namespace_of(&o), name_of(&o), &DeleteOptions::default());
            }
        }
    }
}

/// The uids of every object of the kinds that own things.
fn all_uids(rt: &Runtime) -> HashSet<String> {
    let mut out = HashSet::new();
    for q in OWNERS {
        let Some(r) = resources::by_qualified(q) else {
            continue;
        };
        for o in rt.store.list(r, None).0 {
            if let Some(u) = o["metadata"]["uid"].as_str() {
                out.insert(u.to_string());
            }
        }
    }
    out
}
