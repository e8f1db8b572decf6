//! Resource requests: list, get, create, update, patch, delete and the
//! status and scale subresources, answered from the store.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};
use serde_json::{Value, json};

use super::{table, watch};
use crate::apiserver::http::{self as h, Body};
use crate::apiserver::patch::{self, PatchType};
use crate::machinery::resources::{self, ResourceDef};
use crate::machinery::selectors::{self, FieldSelector, LabelSelector};
use crate::machinery::status::{self, ApiError};
use crate::registry;
use crate::registry::typed;
use crate::storage::store::{DeleteOptions, Obj, Propagation, Store, UpdateScope};

/// A parsed resource URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub res: &'static ResourceDef,
    /// The namespace from the URL (None: cluster-scoped or all namespaces).
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// What a request asked for, beyond the URL.
pub struct Req<'a> {
    pub method: &'a Method,
    pub query: &'a HashMap<String, String>,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub body: Bytes,
}

/// Parses `/api/v1/...` or `/apis/G/V/...` into a target; `Err` means "no such path".
pub fn parse_target(segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let nsres = resources::find(group, version, "namespaces");
    let _ = nsres;
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(res) = resources::find(group, version, plural).filter(|r| r.namespaced)
    {
        return Some(Target {
            res,
            ns: Some((*ns).to_string()),
            name: tail.first().map(|s| (*s).to_string()),
            sub: tail.get(1).map(|s| (*s).to_string()),
        });
    }
    let [plural, tail @ ..] = rest else {
        return None;
    };
    let res = resources::find(group, version, plural)?;
    if res.namespaced && !tail.is_empty() {
        return None;
    }
    Some(Target {
        res,
        ns: None,
        name: tail.first().map(|s| (*s).to_string()),
        sub: tail.get(1).map(|s| (*s).to_string()),
    })
}

/// Answers a resource request.
pub async fn handle(store: &Store, t: Target, req: Req<'_>) -> Response<Body> {
    let r = match dispatch(store, &t, &req).await {
        Ok(r) => r,
        Err(e) => h::error(&e),
    };
    if t.res.group.is_empty() && t.res.plural == "endpoints" {
        // What the API server says of every request to v1 Endpoints.
        return with_warnings(
            r,
            &[
                "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
                    .to_string(),
            ],
        );
    }
    r
}

fn is_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the sandbox's store task failed: {e}")))?
}

async fn dispatch(store: &Store, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let m = req.method;
    let sub = t.sub.as_deref();
    if res.plural == "selfsubjectaccessreviews" {
        return if m == Method::POST && t.name.is_none() {
            self_subject_access_review(req)
        } else {
            Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource".to_string(),
            ))
        };
    }
    if let Some(s) = sub
        && !res.has_subresource(s)
    {
        return Err(ApiError::path_not_found());
    }
    if sub == Some("ephemeralcontainers") && t.name.is_some() {
        return crate::apiserver::ephemeral::handle(store, t, req).await;
    }
    match (m.as_str(), t.name.as_deref(), sub) {
        ("GET", None, _) => {
            let watching = matches!(
                req.query.get("watch").map(String::as_str),
                Some("true" | "1")
            );
            if watching {
                watch_collection(store, t, req)
            } else {
                list(store, t, req)
            }
        }
        ("GET", Some(name), None | Some("status")) => {
            let ns = t.ns.as_deref().unwrap_or("");
            let obj = store
                .get(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(one(res, &obj, req.accept, 200))
        }
        ("GET", Some(name), Some("scale")) => {
            let ns = t.ns.as_deref().unwrap_or("");
            let obj = store
                .get(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(h::json(200, &scale_of(&obj)))
        }
        ("GET", Some(name), Some("log")) => {
            let ns = t.ns.as_deref().unwrap_or("");
            store
                .get(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(h::with_type(200, "text/plain", Bytes::new()))
        }
        ("POST", None, None) => create(store, t, req).await,
        ("PUT", Some(name), None | Some("status")) => {
            let mut obj = decode_body(res, req)?;
            let warnings = check_fields(res, &mut obj, req.query)?;
            prepare_named(res, t, name, &mut obj)?;
            let scope = if sub == Some("status") {
                UpdateScope::Status
            } else {
                UpdateScope::Main
            };
            let s = store.clone();
            let out = blocking(move || s.update_scoped(res, obj, scope)).await?;
            Ok(with_warnings(one(res, &out, req.accept, 200), &warnings))
        }
        ("PUT", Some(name), Some("scale")) => {
            let body = decode_json_or_yaml(req)?;
            let replicas = body["spec"]["replicas"].as_i64().unwrap_or(0);
            let rv = body["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            set_replicas(store, t, name, replicas, rv).await
        }
        ("PATCH", Some(name), _) => patch(store, t, name, req).await,
        ("DELETE", Some(name), None) => delete(store, t, name, req).await,
        ("DELETE", None, None) => delete_collection(store, t, req).await,
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn self_subject_access_review(req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    // Everything is allowed, so a body we cannot read (kubectl sends
    // protobuf here) still gets an answer.
    let body = decode_json_or_yaml(req).unwrap_or_default();
    Ok(h::json(
        201,
        &json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": body.get("spec").cloned().unwrap_or(json!({})),
            "status": {"allowed": true, "reason": "the sandbox allows every request"},
        }),
    ))
}

/// An object response, as a one-row Table when asked.
fn one(res: &ResourceDef, obj: &Value, accept: &str, code: u16) -> Response<Body> {
    if is_table(accept) {
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        h::json_bytes(code, table::table(res, [obj.clone()], rv, None, true, true))
    } else {
        h::json(code, obj)
    }
}

fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let v = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(hv) = http::HeaderValue::from_str(&v) {
            r.headers_mut().append("Warning", hv);
        }
    }
    r
}

fn decode_json_or_yaml(req: &Req<'_>) -> Result<Value, ApiError> {
    if crate::apiserver::protobuf::is_protobuf(req.content_type) {
        return crate::apiserver::protobuf::decode(&req.body).map_err(|e| {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        });
    }
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "" | "application/json" | "*/*" => serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "couldn't get version/kind; json parse error: {}",
                go_json_error(&req.body, &e)
            ))
        }),
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(&req.body)
                .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// A JSON syntax error as Go's encoding/json words it.
fn go_json_error(body: &[u8], e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of JSON input".to_string(),
        Category::Syntax => {
            // The offending character, from serde's line and column.
            let line = body
                .split(|b| *b == b'\n')
                .nth(e.line().saturating_sub(1))
                .unwrap_or_default();
            let c = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.chars().nth(e.column().saturating_sub(1)));
            match c {
                Some(c) => format!("invalid character '{c}' looking for beginning of value"),
                None => e.to_string(),
            }
        }
        _ => e.to_string(),
    }
}

/// Decodes a create/update body and checks it names this resource's kind.
fn decode_body(res: &ResourceDef, req: &Req<'_>) -> Result<Value, ApiError> {
    let v = decode_json_or_yaml(req)?;
    if !v.is_object() {
        return Err(ApiError::cannot_handle(
            res,
            "the body must be a JSON object",
        ));
    }
    if let Some(kind) = v["kind"].as_str()
        && !kind.is_empty()
        && kind != res.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the body ({kind}) does not match the kind of the URL ({})",
            res.kind
        )));
    }
    if let Some(av) = v["apiVersion"].as_str()
        && !av.is_empty()
        && av != res.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    Ok(v)
}

/// Decodes against the schema: type errors are 400; unknown fields are an
/// error with `fieldValidation=Strict`, a warning by default, dropped either way.
fn check_fields(
    res: &ResourceDef,
    obj: &mut Value,
    query: &HashMap<String, String>,
) -> Result<Vec<String>, ApiError> {
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    let checked = typed::check(res, obj).map_err(|e| ApiError::cannot_handle(res, e))?;
    if checked.unknown.is_empty() {
        return Ok(Vec::new());
    }
    let msgs: Vec<String> = checked
        .unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    let mode = query
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn");
    match mode {
        "Strict" => Err(ApiError::cannot_handle(
            res,
            format!("strict decoding error: {}", msgs.join(", ")),
        )),
        "Ignore" => {
            typed::prune(obj, &checked.unknown);
            Ok(Vec::new())
        }
        _ => {
            typed::prune(obj, &checked.unknown);
            Ok(msgs)
        }
    }
}

/// Fills name and namespace from the URL and checks they agree with the body.
fn prepare_named(
    res: &ResourceDef,
    t: &Target,
    name: &str,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match obj["metadata"]["name"].as_str() {
        None | Some("") => obj["metadata"]["name"] = json!(name),
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
    }
    set_namespace(res, t, obj)
}

fn set_namespace(res: &ResourceDef, t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if !res.namespaced {
        return Ok(());
    }
    let Some(url_ns) = t.ns.as_deref() else {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the URL",
        ));
    };
    match obj["metadata"]["namespace"].as_str() {
        None | Some("") => obj["metadata"]["namespace"] = json!(url_ns),
        Some(n) if n != url_ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Some(_) => {}
    }
    Ok(())
}

fn dry_run(query: &HashMap<String, String>) -> bool {
    query.get("dryRun").is_some_and(|d| d == "All")
}

async fn create(store: &Store, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if !res.stored() {
        return Err(ApiError::method_not_allowed(
            "create is not supported on this resource",
        ));
    }
    let mut obj = decode_body(res, req)?;
    let warnings = check_fields(res, &mut obj, req.query)?;
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    set_namespace(res, t, &mut obj)?;
    if dry_run(req.query) {
        let mut o = obj;
        registry::apply_defaults(res, &mut o);
        registry::prepare(res, &mut o, None);
        let causes = registry::validate(res, &o, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                res,
                crate::machinery::meta::name_of(&o),
                causes,
            ));
        }
        return Ok(with_warnings(one(res, &o, req.accept, 201), &warnings));
    }
    let s = store.clone();
    let out = blocking(move || s.create(res, obj)).await?;
    Ok(with_warnings(one(res, &out, req.accept, 201), &warnings))
}

fn scale_of(obj: &Value) -> Value {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&obj["spec"]["selector"]),
        },
    })
}

/// A LabelSelector object as a selector string (`app=web,tier in (a,b)`).
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("");
        let vals: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e["operator"].as_str().unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

async fn set_replicas(
    store: &Store,
    t: &Target,
    name: &str,
    replicas: i64,
    rv: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if replicas < 0 {
        return Err(ApiError::invalid(
            res,
            name,
            vec![status::Cause::invalid(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let ns = t.ns.clone().unwrap_or_default();
    let name = name.to_string();
    let s = store.clone();
    let out = blocking(move || {
        for _ in 0..8 {
            let cur = s
                .get(res, &ns, &name)
                .ok_or_else(|| ApiError::not_found(res, &name))?;
            let mut o = (*cur).clone();
            o["spec"]["replicas"] = json!(replicas);
            if let Some(rv) = &rv {
                o["metadata"]["resourceVersion"] = json!(rv);
            }
            match s.update(res, o) {
                Err(e) if e.reason == "Conflict" && rv.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(res, &name))
    })
    .await?;
    Ok(h::json(200, &scale_of(&out)))
}

async fn patch(
    store: &Store,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let pt = PatchType::from_content_type(req.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(req.content_type))?;
    let patch: Value = if pt == PatchType::Apply {
        Value::Null
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    let ns = t.ns.clone().unwrap_or_default();
    let sub = t.sub.clone();
    if sub.as_deref() == Some("scale") {
        let cur = store
            .get(res, &ns, name)
            .ok_or_else(|| ApiError::not_found(res, name))?;
        let patched = patch::apply("Scale", pt, &scale_of(&cur), &patch)?;
        let replicas = patched["spec"]["replicas"].as_i64().unwrap_or(0);
        return set_replicas(store, t, name, replicas, None).await;
    }
    let explicit_rv = patch["metadata"]["resourceVersion"].as_str().is_some();
    let query = req.query.clone();
    let name = name.to_string();
    let s = store.clone();
    let t2 = t.clone();
    let (out, warnings) = blocking(move || {
        for _ in 0..8 {
            let cur = s
                .get(res, &ns, &name)
                .ok_or_else(|| ApiError::not_found(res, &name))?;
            let mut patched = patch::apply(res.kind, pt, &cur, &patch)?;
            if !patched.is_object() {
                return Err(ApiError::bad_request("the patch did not produce an object"));
            }
            let warnings = check_fields(res, &mut patched, &query)?;
            if !explicit_rv {
                patched["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
            }
            patched["metadata"]["name"] = json!(name);
            set_namespace(res, &t2, &mut patched)?;
            let scope = if sub.as_deref() == Some("status") {
                UpdateScope::Status
            } else {
                UpdateScope::Main
            };
            match s.update_scoped(res, patched, scope) {
                Err(e) if e.reason == "Conflict" && !explicit_rv => continue,
                Err(e) => return Err(e),
                Ok(o) => return Ok((o, warnings)),
            }
        }
        Err(ApiError::conflict(res, &name))
    })
    .await?;
    Ok(with_warnings(one(res, &out, req.accept, 200), &warnings))
}

fn delete_options(req: &Req<'_>) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions::default();
    let body: Value = if req.body.is_empty() {
        Value::Null
    } else {
        decode_json_or_yaml(req)?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .map(str::to_string)
        .or_else(|| req.query.get("propagationPolicy").cloned());
    opts.propagation = match policy.as_deref() {
        None | Some("") => None,
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    if body["orphanDependents"] == json!(true)
        || req
            .query
            .get("orphanDependents")
            .is_some_and(|v| v == "true")
    {
        opts.propagation = Some(Propagation::Orphan);
    }
    opts.grace_period_seconds = body["gracePeriodSeconds"].as_i64().or_else(|| {
        req.query
            .get("gracePeriodSeconds")
            .and_then(|g| g.parse().ok())
    });
    opts.precondition_uid = body["preconditions"]["uid"].as_str().map(str::to_string);
    opts.precondition_rv = body["preconditions"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    Ok(opts)
}

async fn delete(
    store: &Store,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let opts = delete_options(req)?;
    let ns = t.ns.clone().unwrap_or_default();
    if dry_run(req.query) {
        let obj = store
            .get(res, &ns, name)
            .ok_or_else(|| ApiError::not_found(res, name))?;
        return Ok(h::json(200, &obj));
    }
    let name = name.to_string();
    let s = store.clone();
    let d = blocking(move || s.delete(res, &ns, &name, &opts)).await?;
    // 202 Accepted while the object lingers (graceful deletion, finalizers).
    let code = if d.removed { 200 } else { 202 };
    Ok(one(res, &d.object, req.accept, code))
}

async fn delete_collection(
    store: &Store,
    t: &Target,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let opts = delete_options(req)?;
    let (label, field) = selectors(req.query)?;
    let (items, _) = store.list_stored(res, t.ns.as_deref());
    let mut deleted = Vec::new();
    for o in items
        .iter()
        .filter(|o| selectors::selects(&label, &field, o))
    {
        let s = store.clone();
        let ns = o.ns.to_string();
        let name = o.name.to_string();
        let opts = opts.clone();
        match blocking(move || s.delete(res, &ns, &name, &opts)).await {
            Ok(d) => deleted.push(d.object),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = store.resource_version();
    let deleted: Vec<Vec<u8>> = deleted
        .iter()
        .map(|o| serde_json::to_vec(&**o).unwrap_or_default())
        .collect();
    let items: Vec<&[u8]> = deleted.iter().map(Vec::as_slice).collect();
    Ok(h::json_bytes(200, list_bytes(res, &items, rv, None)))
}

fn selectors(query: &HashMap<String, String>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let label = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let field = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok((label, field))
}

/// A `<Kind>List` around objects already serialised (as the store keeps them).
fn list_bytes(
    res: &ResourceDef,
    items: &[&[u8]],
    rv: u64,
    cont: Option<(String, usize)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + items.len() * 1024);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"",
            res.kind,
            res.api_version()
        )
        .as_bytes(),
    );
    if let Some((token, remaining)) = cont {
        out.extend_from_slice(
            format!(",\"continue\":\"{token}\",\"remainingItemCount\":{remaining}").as_bytes(),
        );
    }
    out.extend_from_slice(b"},\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(o);
    }
    out.extend_from_slice(b"]}");
    out
}

fn encode_continue(ns: &str, name: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ns}/{name}"))
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(store: &Store, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if !res.stored() {
        return Err(ApiError::method_not_allowed(
            "list is not supported on this resource",
        ));
    }
    let (label, field) = selectors(req.query)?;
    let (items, rv) = store.list_stored(res, t.ns.as_deref());
    let after = match req.query.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let mut matched: Vec<Arc<Obj>> = items
        .into_iter()
        .filter(|o| {
            after
                .as_ref()
                .is_none_or(|(ns, name)| (&*o.ns, &*o.name) > (ns.as_str(), name.as_str()))
        })
        .filter(|o| selectors::selects(&label, &field, o))
        .collect();
    let limit: usize = req
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut cont = None;
    if limit > 0 && matched.len() > limit {
        let remaining = matched.len() - limit;
        matched.truncate(limit);
        if let Some(last) = matched.last() {
            cont = Some((encode_continue(&last.ns, &last.name), remaining));
        }
    }
    if is_table(req.accept) {
        let include = req.query.get("includeObject").map(String::as_str) != Some("None");
        let c = cont.as_ref().map(|(c, _)| c.as_str());
        let rows = matched.iter().map(|o| o.value());
        return Ok(h::json_bytes(
            200,
            table::table(res, rows, &rv.to_string(), c, include, true),
        ));
    }
    let items: Vec<&[u8]> = matched.iter().map(|o| o.json()).collect();
    Ok(h::json_bytes(200, list_bytes(res, &items, rv, cont)))
}

fn watch_collection(store: &Store, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let (label, field) = selectors(req.query)?;
    let opts = watch::WatchOptions {
        res: t.res,
        ns: t.ns.clone(),
        label,
        field,
        resource_version: req
            .query
            .get("resourceVersion")
            .cloned()
            .unwrap_or_default(),
        timeout: req
            .query
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(std::time::Duration::from_secs),
        bookmarks: req
            .query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true" || v == "1"),
        table: is_table(req.accept),
    };
    Ok(watch::serve(store.clone(), opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target(&["api", "v1", "namespaces", "d", "pods", "p", "status"]).unwrap();
        assert_eq!(
            (
                t.res.plural,
                t.ns.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("pods", Some("d"), Some("p"), Some("status"))
        );
        let t = parse_target(&["api", "v1", "namespaces", "d"]).unwrap();
        assert_eq!((t.res.plural, t.name.as_deref()), ("namespaces", Some("d")));
        let t = parse_target(&["api", "v1", "namespaces", "d", "finalize"]).unwrap();
        assert_eq!(t.sub.as_deref(), Some("finalize"));
        let t = parse_target(&["api", "v1", "pods"]).unwrap();
        assert!(t.ns.is_none() && t.name.is_none());
        assert!(parse_target(&["api", "v1", "pods", "x"]).is_none());
        let t = parse_target(&[
            "apis",
            "apps",
            "v1",
            "namespaces",
            "d",
            "deployments",
            "w",
            "scale",
        ])
        .unwrap();
        assert_eq!(t.sub.as_deref(), Some("scale"));
        assert!(parse_target(&["apis", "nope", "v1", "x"]).is_none());
        assert_eq!(
            decode_continue(&encode_continue("a", "b")).unwrap(),
            ("a".into(), "b".into())
        );
        assert_eq!(
            selector_string(&json!({"matchLabels": {"app": "web"}})),
            "app=web"
        );
    }
}
