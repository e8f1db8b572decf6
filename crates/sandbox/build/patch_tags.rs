//! `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` on the
//! list fields whose strategic merge the sandbox's API server implements
//! (crates/sandbox/src/apiserver/patch/formats.rs, `Ty::field`): the
//! documents describe how this server merges, field for field. k8s-openapi
//! carries no patch tags, so this is the one table; keep it in step with
//! formats.rs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::schemas::REF_PREFIX;

const CORE: &str = "io.k8s.api.core.v1.";

/// (definition, field, merge key); a key of "" merges a list of scalars.
const TAGS: &[(&str, &str, &str)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        "",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        "uid",
    ),
    ("PodSpec", "containers", "name"),
    ("PodSpec", "initContainers", "name"),
    ("PodSpec", "ephemeralContainers", "name"),
    ("PodSpec", "volumes", "name"),
    ("PodSpec", "imagePullSecrets", "name"),
    ("PodSpec", "schedulingGates", "name"),
    ("PodSpec", "resourceClaims", "name"),
    ("PodSpec", "hostAliases", "ip"),
    ("PodSpec", "topologySpreadConstraints", "topologyKey"),
    ("Container", "ports", "containerPort"),
    ("Container", "env", "name"),
    ("Container", "volumeMounts", "mountPath"),
    ("Container", "volumeDevices", "devicePath"),
    ("EphemeralContainer", "ports", "containerPort"),
    ("EphemeralContainer", "env", "name"),
    ("EphemeralContainer", "volumeMounts", "mountPath"),
    ("EphemeralContainer", "volumeDevices", "devicePath"),
    ("ServiceSpec", "ports", "port"),
];

/// Fields of every kind's `status` type merged by key (formats.rs `Ty::Status`).
const STATUS_TAGS: &[(&str, &str)] = &[
    ("conditions", "type"),
    ("addresses", "type"),
    ("podIPs", "ip"),
    ("hostIPs", "ip"),
];

/// Adds the patch tags to `definitions`.
pub fn annotate(definitions: &mut BTreeMap<String, Value>) {
    for (definition, field, key) in TAGS {
        let name = if definition.contains('.') {
            (*definition).to_string()
        } else {
            format!("{CORE}{definition}")
        };
        tag(definitions.get_mut(&name), field, key);
    }
    let status_types: Vec<String> = definitions
        .values()
        .filter(|s| s.get("x-kubernetes-group-version-kind").is_some())
        .filter_map(|s| s["properties"]["status"]["$ref"].as_str())
        .filter_map(|r| r.strip_prefix(REF_PREFIX))
        .map(str::to_string)
        .collect();
    for name in status_types {
        for (field, key) in STATUS_TAGS {
            tag(definitions.get_mut(&name), field, key);
        }
    }
}

fn tag(schema: Option<&mut Value>, field: &str, key: &str) {
    let Some(prop) = schema
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut(field))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if prop.get("type") != Some(&json!("array")) {
        return;
    }
    if !key.is_empty() {
        prop.insert("x-kubernetes-patch-merge-key".into(), json!(key));
    }
    prop.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
}
