//! The documents: one OpenAPI v3 document per served group-version (each
//! self-contained, as upstream's) and one swagger 2.0 document for all of
//! them, rendered from [`crate::paths`] and [`crate::schemas`].

use serde_json::{Map, Value, json};

use crate::paths::{Body, Op, PathItem};
use crate::schemas::{self, Schemas, gvk};

/// The version the sandbox reports (`/version`, server.rs).
const KUBERNETES_VERSION: &str = "v1.34.0";
/// What responses come as (upstream also lists CBOR and watch streams).
const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// Patch bodies the PATCH operations advertise. Not strategic merge: a
/// kubectl that finds it here computes `apply` patches from these schemas,
/// whose patch tags cover only what the sandbox merges by key, instead of
/// from its compiled-in types (which match upstream's Go tags).
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
];
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "Unauthorized",
    }
}

/// Definitions the paths refer to, plus what they refer to.
fn closure(schemas: &Schemas, items: &[PathItem]) -> Vec<String> {
    let mut roots = Vec::new();
    for item in items {
        for op in &item.ops {
            roots.extend(op.responses.iter().filter_map(|(_, d)| d.clone()));
            match &op.body {
                Body::Object(d) => roots.push(d.clone()),
                Body::Patch => roots.push(PATCH.into()),
                Body::None => {}
            }
        }
    }
    schemas.closure(roots).into_iter().collect()
}

fn gvk_of(op: &Op) -> Value {
    gvk(&op.gvk.0, &op.gvk.1, &op.gvk.2)
}

/// The OpenAPI v3 document of one group-version.
pub fn v3(schemas: &Schemas, items: &[PathItem]) -> Value {
    let mut paths = Map::new();
    for item in items {
        let mut p = Map::new();
        for op in &item.ops {
            p.insert(op.method.into(), v3_op(op));
        }
        let mut params = Vec::new();
        if item.name {
            params.push(json!({"description": "name of the resource", "in": "path", "name": "name", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        if item.namespace {
            params.push(json!({"description": "object name and auth scope, such as for teams and projects", "in": "path", "name": "namespace", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        params.push(json!({"description": "If 'true', then the output is pretty printed.", "in": "query", "name": "pretty", "schema": {"type": "string", "uniqueItems": true}}));
        p.insert("parameters".into(), Value::Array(params));
        paths.insert(item.path.clone(), Value::Object(p));
    }
    let mut components = Map::new();
    for name in closure(schemas, items) {
        if let Some(s) = schemas.definitions.get(&name) {
            components.insert(name.clone(), schemas::to_v3(&name, s));
        }
    }
    json!({
        "components": {
            "schemas": components,
            "securitySchemes": {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}},
        },
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "openapi": "3.0.0",
        "paths": paths,
        "security": [{"BearerToken": []}],
    })
}

fn v3_ref(definition: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{definition}")})
}

fn v3_op(op: &Op) -> Value {
    let parameters: Vec<Value> = op
        .query
        .iter()
        .map(|(name, ty)| json!({"in": "query", "name": name, "schema": {"type": ty, "uniqueItems": true}}))
        .collect();
    let mut responses = Map::new();
    for (code, def) in &op.responses {
        let content = match def {
            Some(d) => PRODUCES
                .iter()
                .map(|t| ((*t).to_string(), json!({"schema": v3_ref(d)})))
                .collect::<Map<_, _>>(),
            None => [(
                "text/plain".to_string(),
                json!({"schema": {"type": "string"}}),
            )]
            .into_iter()
            .collect(),
        };
        responses.insert(
            code.to_string(),
            json!({"content": content, "description": status_text(*code)}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut out = json!({
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": parameters,
        "responses": responses,
        "tags": [op.tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": gvk_of(op),
    });
    let body = match &op.body {
        Body::None => None,
        Body::Object(d) => {
            Some(json!({"content": {"*/*": {"schema": v3_ref(d)}}, "required": true}))
        }
        Body::Patch => {
            let content: Map<String, Value> = PATCH_TYPES
                .iter()
                .map(|t| ((*t).to_string(), json!({"schema": v3_ref(PATCH)})))
                .collect();
            Some(json!({"content": content, "required": true}))
        }
    };
    if let (Some(b), Some(o)) = (body, out.as_object_mut()) {
        o.insert("requestBody".into(), b);
    }
    out
}

/// The swagger 2.0 document of every served group-version.
pub fn v2(schemas: &Schemas, items: &[PathItem]) -> Value {
    let mut paths = Map::new();
    for item in items {
        let mut p = Map::new();
        for op in &item.ops {
            p.insert(op.method.into(), v2_op(op));
        }
        let mut params = Vec::new();
        if item.name {
            params.push(json!({"description": "name of the resource", "in": "path", "name": "name", "required": true, "type": "string", "uniqueItems": true}));
        }
        if item.namespace {
            params.push(json!({"description": "object name and auth scope, such as for teams and projects", "in": "path", "name": "namespace", "required": true, "type": "string", "uniqueItems": true}));
        }
        params.push(json!({"description": "If 'true', then the output is pretty printed.", "in": "query", "name": "pretty", "type": "string", "uniqueItems": true}));
        p.insert("parameters".into(), Value::Array(params));
        paths.insert(item.path.clone(), Value::Object(p));
    }
    let mut definitions = Map::new();
    for name in closure(schemas, items) {
        if let Some(s) = schemas.definitions.get(&name) {
            definitions.insert(name.clone(), schemas::to_v2(&name, s));
        }
    }
    json!({
        "definitions": definitions,
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "security": [{"BearerToken": []}],
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}},
        "swagger": "2.0",
    })
}

fn v2_ref(definition: &str) -> Value {
    json!({"$ref": format!("#/definitions/{definition}")})
}

fn v2_op(op: &Op) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    match &op.body {
        Body::None => {}
        Body::Object(d) => parameters
            .push(json!({"in": "body", "name": "body", "required": true, "schema": v2_ref(d)})),
        Body::Patch => parameters
            .push(json!({"in": "body", "name": "body", "required": true, "schema": v2_ref(PATCH)})),
    }
    parameters.extend(
        op.query.iter().map(
            |(name, ty)| json!({"in": "query", "name": name, "type": ty, "uniqueItems": true}),
        ),
    );
    let mut responses = Map::new();
    for (code, def) in &op.responses {
        let schema = match def {
            Some(d) => v2_ref(d),
            None => json!({"type": "string"}),
        };
        responses.insert(
            code.to_string(),
            json!({"description": status_text(*code), "schema": schema}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let consumes: Vec<&str> = match op.body {
        Body::Patch => PATCH_TYPES.to_vec(),
        _ => vec!["*/*"],
    };
    let produces: Vec<&str> = if op.responses.iter().any(|(_, d)| d.is_none()) {
        vec!["text/plain"]
    } else {
        PRODUCES.to_vec()
    };
    json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": parameters,
        "produces": produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": gvk_of(op),
    })
}
