//! The namespace controller: a namespace being deleted (`Terminating`)
//! has its content deleted (pods gracefully, as any client's delete), its
//! status conditions say what remains, and once nothing is left its
//! `kubernetes` finalizer is removed and the namespace goes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::name_of;
use crate::machinery::meta::{is_terminating, set_condition};
use crate::machinery::resources;
use crate::machinery::resources::RESOURCES;
use crate::registry::deletion::{DeleteOptions, Propagation};
use crate::runtime::Runtime;

pub fn reconcile(rt: &Arc<Runtime>) {
    let (namespaces, _) = rt.store.list(&resources::NAMESPACES, None);
    for ns in namespaces.iter().filter(|n| is_terminating(n)) {
        sync(rt, ns);
    }
}

fn sync(rt: &Runtime, ns: &Value) {
    let name = name_of(ns);
    let background = DeleteOptions {
        propagation: Some(Propagation::Background),
        ..DeleteOptions::default()
    };
    // Delete what is there, then count what remains.
    for r in RESOURCES
        .iter()
        .copied()
        .filter(|r| r.namespaced && r.stored())
    {
        for o in rt.store.list(r, Some(name)).0 {
            if !is_terminating(&o) {
                let _ = rt.delete(r, name, name_of(&o), &background);
            }
        }
    }
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for r in RESOURCES
        .iter()
        .copied()
        .filter(|r| r.namespaced && r.stored())
    {
        let objs = rt.store.list(r, Some(name)).0;
        if objs.is_empty() {
            continue;
        }
        remaining.insert(format!("{}.{}", r.plural, r.group), objs.len());
        for o in &objs {
            for f in o["metadata"]["finalizers"].as_array().into_iter().flatten() {
                if let Some(f) = f.as_str() {
                    *finalizers.entry(f.to_string()).or_default() += 1;
                }
            }
        }
    }
    if remaining.is_empty() {
        // Finalize (the `kubernetes` finalizer of spec.finalizers), then delete.
        let mut n = ns.clone();
        n["spec"]["finalizers"] = json!([]);
        if rt.put(&resources::NAMESPACES, n).is_some() {
            let _ = rt.delete(&resources::NAMESPACES, "", name, &DeleteOptions::default());
        }
        return;
    }
    let mut conds = ns["status"]["conditions"].clone();
    let f = |c: &mut Value, t: &str, reason: &str, msg: &str| {
        set_condition(c, t, "False", Some(reason), Some(msg), false);
    };
    f(
        &mut conds,
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    );
    f(
        &mut conds,
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    );
    f(
        &mut conds,
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    );
    let list: Vec<String> = remaining
        .iter()
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    set_condition(
        &mut conds,
        "NamespaceContentRemaining",
        "True",
        Some("SomeResourcesRemain"),
        Some(&format!(
            "Some resources are remaining: {}",
            list.join(", ")
        )),
        false,
    );
    if finalizers.is_empty() {
        f(
            &mut conds,
            "NamespaceFinalizersRemaining",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        );
    } else {
        let list: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        set_condition(
            &mut conds,
            "NamespaceFinalizersRemaining",
            "True",
            Some("SomeFinalizersRemain"),
            Some(&format!(
                "Some content in the namespace has finalizers remaining: {}",
                list.join(", ")
            )),
            false,
        );
    }
    if ns["status"]["conditions"] != conds {
        let mut n = ns.clone();
        n["status"]["conditions"] = conds;
        rt.put(&resources::NAMESPACES, n);
    }
}
