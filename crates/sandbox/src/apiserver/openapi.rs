//! OpenAPI v3, just enough for kubectl's default validation: each kind has
//! a PATCH operation with `x-kubernetes-group-version-kind` and a
//! `fieldValidation` parameter, so kubectl leaves validation to the server
//! (which honours `fieldValidation=Strict`). No schemas are advertised, so
//! kubectl computes strategic merge patches from its compiled-in types.

use serde_json::{Map, Value, json};

use crate::machinery::resources::{GROUPS, RESOURCES, ResourceDef};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A hash of the documents so that kubectl's cache is refreshed when they change.
fn doc_hash(group: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    group_doc(group, "v1").map(|d| d.to_string()).hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `/openapi/v3`.
pub fn root() -> Value {
    let mut paths = Map::new();
    for g in std::iter::once("").chain(GROUPS.iter().copied()) {
        let p = gv_path(g, "v1");
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", doc_hash(g))}),
        );
    }
    json!({"paths": paths})
}

fn params(extra: &[&str]) -> Value {
    let mut v: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation"]
        .iter()
        .chain(extra)
        .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    v.push(
        json!({"name": "pretty", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
    );
    Value::Array(v)
}

fn op(r: &ResourceDef, verb: &str, action: &str, extra: &[&str]) -> Value {
    json!({
        "operationId": format!("{verb}{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params(extra),
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
pub fn group_doc(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceDef> = RESOURCES
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let prefix = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    for r in rs {
        let base = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        let mut coll = Map::new();
        coll.insert("post".into(), op(r, "create", "post", &[]));
        if r.stored() {
            coll.insert("get".into(), op(r, "list", "list", &[]));
        }
        paths.insert(base.clone(), Value::Object(coll));
        if r.stored() {
            paths.insert(
                format!("{base}/{{name}}"),
                json!({
                    "get": op(r, "read", "get", &[]),
                    "put": op(r, "replace", "put", &[]),
                    "patch": op(r, "patch", "patch", &["force"]),
                    "delete": op(r, "delete", "delete", &[]),
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_ops_carry_gvk_and_field_validation() {
        let d = group_doc("apps", "v1").unwrap();
        let p = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            p["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "fieldValidation")
        );
        assert!(
            root()["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        assert!(group_doc("x", "v1").is_none());
    }
}
