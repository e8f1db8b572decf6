//! What server-side apply needs to know of the schema: which objects are
//! structs (their fields are not owned themselves), which are maps (each
//! entry is), which are atomic (owned and replaced whole), and how each
//! list merges — by keys (`x-kubernetes-list-type: map`), as a set, or
//! atomically (the default for lists upstream leaves untyped). A small
//! hand-kept copy of the `x-kubernetes-*` markers of the kinds served,
//! keyed by field names, as the strategic merge table in `apiserver::patch`.

use serde_json::{Map, Value};

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    /// Items are matched by these keys (with their defaults).
    Map(&'static [(&'static str, Option<&'static str>)]),
}

/// What a node of an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Scalar,
    /// A Go struct: its fields are walked, not owned themselves.
    Struct,
    /// A `map[string]T`: each entry is owned.
    Map,
    /// Owned and replaced as a whole (a label selector, an untyped list).
    Atomic,
    List(ListType),
}

const NAME: &[(&str, Option<&str>)] = &[("name", None)];
const CONTAINER_PORT: &[(&str, Option<&str>)] =
    &[("containerPort", None), ("protocol", Some("TCP"))];
const SERVICE_PORT: &[(&str, Option<&str>)] = &[("port", None), ("protocol", Some("TCP"))];

/// Fields that are `map[string]T` in the types served.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "parameters",
    "capacity",
    "allocatable",
    "requests",
    "limits",
    "hard",
    "used",
    "volumeAttributes",
    "default",
    "defaultRequest",
    "max",
    "min",
    "maxLimitRequestRatio",
];

/// Fields that are atomic structs or maps (label selectors, a Service's
/// selector map).
const ATOMIC_OBJECTS: &[&str] = &[
    "selector",
    "labelSelector",
    "namespaceSelector",
    "podSelector",
];

/// The kind of the node `field`, under the field names `parents` (list
/// items add no name), holding `v`.
pub fn node(kind: &str, parents: &[&str], field: &str, v: &Value) -> Node {
    match v {
        Value::Object(_) if ATOMIC_OBJECTS.contains(&field) => Node::Atomic,
        Value::Object(_) if MAP_FIELDS.contains(&field) && !parents.is_empty() => Node::Map,
        Value::Object(_) => Node::Struct,
        Value::Array(_) => Node::List(list_type(kind, parents, field)),
        _ => Node::Scalar,
    }
}

/// How the list `field` under `parents` merges.
fn list_type(kind: &str, parents: &[&str], field: &str) -> ListType {
    let parent = parents.last().copied().unwrap_or("");
    let in_container = parents
        .iter()
        .any(|p| matches!(*p, "containers" | "initContainers" | "ephemeralContainers"));
    match field {
        "finalizers" if parent == "metadata" => ListType::Set,
        "ownerReferences" => ListType::Map(&[("uid", None)]),
        "containers" | "initContainers" | "ephemeralContainers" => ListType::Map(NAME),
        "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims" if !in_container => {
            ListType::Map(NAME)
        }
        "ports" if in_container => ListType::Map(CONTAINER_PORT),
        "ports" if kind == "Service" && parent == "spec" => ListType::Map(SERVICE_PORT),
        "env" if in_container => ListType::Map(NAME),
        "volumeMounts" => ListType::Map(&[("mountPath", None)]),
        "volumeDevices" => ListType::Map(&[("devicePath", None)]),
        "hostAliases" => ListType::Map(&[("ip", None)]),
        "topologySpreadConstraints" => {
            ListType::Map(&[("topologyKey", None), ("whenUnsatisfiable", None)])
        }
        "conditions" if parent == "status" => ListType::Map(&[("type", None)]),
        "podIPs" | "hostIPs" if parent == "status" => ListType::Map(&[("ip", None)]),
        _ => ListType::Atomic,
    }
}

/// The key of an item of a list merged by `keys`: compact JSON with
/// sorted keys, defaults filled in; None when a key without a default is
/// missing.
pub fn item_key(keys: &[(&str, Option<&str>)], item: &Value) -> Option<String> {
    let mut m = Map::new();
    for (k, default) in keys {
        let v = match (item.get(*k), default) {
            (Some(v), _) if !v.is_null() => v.clone(),
            (_, Some(d)) => Value::String((*d).to_string()),
            _ => return None,
        };
        m.insert((*k).to_string(), v);
    }
    serde_json::to_string(&Value::Object(m)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_structs_and_maps_of_the_served_kinds() {
        let obj = json!({});
        let arr = json!([]);
        assert_eq!(
            node("Deployment", &["spec"], "template", &obj),
            Node::Struct
        );
        assert_eq!(
            node("Deployment", &["spec"], "selector", &obj),
            Node::Atomic
        );
        assert_eq!(node("Pod", &["metadata"], "labels", &obj), Node::Map);
        assert_eq!(
            node("Pod", &["spec"], "containers", &arr),
            Node::List(ListType::Map(NAME))
        );
        assert_eq!(
            node("Pod", &["spec", "containers"], "ports", &arr),
            Node::List(ListType::Map(CONTAINER_PORT))
        );
        assert_eq!(
            node("Service", &["spec"], "ports", &arr),
            Node::List(ListType::Map(SERVICE_PORT))
        );
        assert_eq!(
            node("Pod", &["spec"], "tolerations", &arr),
            Node::List(ListType::Atomic)
        );
        assert_eq!(
            node("Pod", &["metadata"], "finalizers", &arr),
            Node::List(ListType::Set)
        );
        assert_eq!(
            item_key(CONTAINER_PORT, &json!({"containerPort": 80})).as_deref(),
            Some("{\"containerPort\":80,\"protocol\":\"TCP\"}")
        );
        assert_eq!(item_key(NAME, &json!({"image": "x"})), None);
    }
}
