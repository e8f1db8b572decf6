//! The component schemas: k8s-openapi's schemas (generated from upstream's
//! published OpenAPI, with upstream's descriptions and definition names)
//! brought back to the shape upstream's API server serves them in.
//!
//! What k8s-openapi changes and is undone here: the `metadata` it marks as
//! required on every kind (upstream never requires it), the defaulted
//! `name` of object references it marks as required, the
//! `x-kubernetes-int-or-string` stand-in for `Quantity` and `IntOrString`
//! (upstream: a string with format `int-or-string` / v3 `oneOf`), and the
//! missing `x-kubernetes-group-version-kind` on kinds. List kinds
//! (`PodList`), which k8s-openapi models as one generic type, are built here.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::kinds::{self, Kind};

/// Where the neutral definitions point their `$ref`s; each document
/// rewrites them to its own place.
pub const REF_PREFIX: &str = "#/definitions/";

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Every definition, keyed by upstream's name, with `$ref`s to
/// [`REF_PREFIX`], and every kind.
pub struct Schemas {
    pub definitions: BTreeMap<String, Value>,
    pub kinds: Vec<Kind>,
}

/// A group/version/kind triple as the `x-kubernetes-group-version-kind`
/// extension writes it (keys exactly group, kind, version).
pub fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

impl Schemas {
    /// Generates every k8s-openapi kind's schema and post-processes it.
    /// `meta_gvs` are the group-versions whose `DeleteOptions` and
    /// `WatchEvent` the server accepts (every served one).
    pub fn generate(meta_gvs: &[(&str, &str)]) -> Result<Schemas, String> {
        let settings = SchemaSettings::draft07().with(|s| {
            s.transforms.clear();
            s.definitions_path = "/definitions/".into();
            s.meta_schema = None;
        });
        let mut generator = settings.into_generator();
        let kinds = kinds::register(&mut generator);
        let mut definitions: BTreeMap<String, Value> =
            generator.take_definitions(false).into_iter().collect();

        for k in &kinds {
            let schema = definitions
                .get_mut(&k.definition)
                .ok_or_else(|| format!("k8s-openapi has no schema for {}", k.definition))?;
            set_gvk(schema, vec![gvk(k.group, k.version, k.kind)]);
            drop_required_metadata(schema);
        }
        for k in &kinds {
            if let Some(list_kind) = k.list_kind {
                let (name, schema) = list_schema(k, list_kind, &definitions)?;
                definitions.insert(name, schema);
            }
        }
        for meta in ["DeleteOptions", "WatchEvent"] {
            let name = format!("io.k8s.apimachinery.pkg.apis.meta.v1.{meta}");
            if let Some(schema) = definitions.get_mut(&name) {
                let list = meta_gvs.iter().map(|(g, v)| gvk(g, v, meta)).collect();
                set_gvk(schema, list);
            }
        }
        for (name, schema) in &mut definitions {
            if (name == QUANTITY || name == INT_OR_STRING)
                && let Some(o) = schema.as_object_mut()
            {
                o.remove("x-kubernetes-int-or-string");
            }
        }
        for schema in definitions.values_mut() {
            undo_required_defaults(schema);
        }
        crate::patch_tags::annotate(&mut definitions);
        Ok(Schemas { definitions, kinds })
    }

    /// The kind with this group, version and kind.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// `name` and every definition it refers to, transitively.
    pub fn closure(&self, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(schema) = self.definitions.get(&name) {
                refs(schema, &mut todo);
            }
        }
        seen
    }
}

fn set_gvk(schema: &mut Value, list: Vec<Value>) {
    if let Some(o) = schema.as_object_mut() {
        o.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
    }
}

/// k8s-openapi makes `metadata` a required field of every kind (its
/// structs hold it by value); upstream's schemas never require it.
fn drop_required_metadata(schema: &mut Value) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(req)) = o.get_mut("required") {
        req.retain(|r| r != "metadata");
        if req.is_empty() {
            o.remove("required");
        }
    }
}

/// Upstream gives the `name` of a local object reference a default of ""
/// and does not require it; k8s-openapi, which turns defaulted fields into
/// required ones, requires it. Upstream marks such a field in its text.
fn undo_required_defaults(schema: &mut Value) {
    const MARK: &str = "This field is effectively required, but due to backwards compatibility is allowed to be empty.";
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    let mut defaulted = Vec::new();
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for (name, p) in props.iter_mut() {
            if p["description"].as_str().is_some_and(|d| d.contains(MARK)) {
                p["default"] = json!("");
                defaulted.push(Value::String(name.clone()));
            }
        }
    }
    if let Some(Value::Array(req)) = o.get_mut("required") {
        req.retain(|r| !defaulted.contains(r));
        if req.is_empty() {
            o.remove("required");
        }
    }
}

/// `PodList` from `Pod`: the shape every upstream list kind has. Texts are
/// those k8s-openapi gives its generic list type; apiVersion and kind are
/// the item kind's own.
fn list_schema(
    k: &Kind,
    list_kind: &str,
    definitions: &BTreeMap<String, Value>,
) -> Result<(String, Value), String> {
    let item = definitions
        .get(&k.definition)
        .ok_or_else(|| format!("no schema for {}", k.definition))?;
    let prop = |name: &str| item["properties"][name].clone();
    let prefix = k
        .definition
        .rsplit_once('.')
        .map(|(p, _)| p)
        .unwrap_or(&k.definition);
    let name = format!("{prefix}.{list_kind}");
    let schema = json!({
        "description": "List is a list of resources.",
        "type": "object",
        "properties": {
            "apiVersion": prop("apiVersion"),
            "kind": prop("kind"),
            "items": {
                "description": "List of objects.",
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{}", k.definition)},
            },
            "metadata": {
                "$ref": format!("{REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [gvk(k.group, k.version, list_kind)],
    });
    Ok((name, schema))
}

/// Collects the definition names `schema` refers to.
pub fn refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(o) => {
            for (key, v) in o {
                if key == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                        out.push(name.to_string());
                    }
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The schema as upstream's OpenAPI v3 documents carry it: refs under
/// `#/components/schemas/`, a ref with siblings (a field's description)
/// wrapped as `allOf: [{$ref}]` so the siblings are not ignored, and the
/// quantity types as `oneOf`.
pub fn to_v3(name: &str, schema: &Value) -> Value {
    let mut out = rewrite(schema, "#/components/schemas/", true);
    if let Some(o) = out.as_object_mut() {
        match name {
            QUANTITY => {
                o.insert(
                    "oneOf".into(),
                    json!([{"type": "string"}, {"type": "number"}]),
                );
            }
            INT_OR_STRING => {
                o.insert("format".into(), json!("int-or-string"));
                o.insert(
                    "oneOf".into(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            _ => {}
        }
    }
    out
}

/// The schema as upstream's swagger 2.0 document carries it: refs under
/// `#/definitions/` with their siblings beside them, the quantity types as
/// plain strings.
pub fn to_v2(name: &str, schema: &Value) -> Value {
    let mut out = rewrite(schema, "#/definitions/", false);
    if let Some(o) = out.as_object_mut() {
        match name {
            QUANTITY => {
                o.insert("type".into(), json!("string"));
            }
            INT_OR_STRING => {
                o.insert("type".into(), json!("string"));
                o.insert("format".into(), json!("int-or-string"));
            }
            _ => {}
        }
    }
    out
}

fn rewrite(schema: &Value, prefix: &str, wrap: bool) -> Value {
    match schema {
        Value::Object(o) => {
            let mut out = Map::new();
            for (key, v) in o {
                if key == "$ref" {
                    let target = v
                        .as_str()
                        .and_then(|r| r.strip_prefix(REF_PREFIX))
                        .unwrap_or_default();
                    out.insert(key.clone(), json!(format!("{prefix}{target}")));
                } else {
                    out.insert(key.clone(), rewrite(v, prefix, wrap));
                }
            }
            if wrap
                && out.len() > 1
                && let Some(r) = out.remove("$ref")
            {
                out.insert("allOf".into(), json!([{"$ref": r}]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| rewrite(v, prefix, wrap)).collect()),
        other => other.clone(),
    }
}
