//! The write verbs — create (POST), update (PUT), patch (all four patch
//! types), delete, deletecollection, and the status, scale and
//! ephemeralcontainers subresources — decoded, their options checked, then handed to the
//! registry's pipeline. Every one honours `dryRun=All`: the pipeline runs
//! in full and nothing is stored.

use std::cell::RefCell;
use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use crate::apiserver::decode;
use crate::apiserver::handlers::{
    Req, Target, blocking, list_bytes, one, selectors, with_warnings,
};
use crate::apiserver::options::{self, FieldValidation, OptionsKind, WriteQuery};
use crate::apiserver::patch::{self, PatchType};
use crate::machinery::http::{self as h, Body};
use crate::machinery::meta::rv_of;
use crate::machinery::resources::ResourceDef;
use crate::machinery::selectors;
use crate::machinery::status::{ApiError, Cause};
use crate::registry::pipeline::{Registry, Scope, WriteOptions};
use crate::registry::strategy;

/// The pipeline's options for a request.
fn write_options(q: &WriteQuery, req: &Req<'_>, scope: Scope) -> WriteOptions {
    WriteOptions {
        dry_run: q.dry_run,
        manager: options::manager_or_user_agent(q.field_manager.as_deref(), req.user_agent),
        scope,
    }
}

fn scope_of(t: &Target) -> Scope {
    match t.sub.as_deref() {
        Some("status") => Scope::Status,
        Some("ephemeralcontainers") => Scope::EphemeralContainers,
        _ => Scope::Main,
    }
}

/// POST: creates an object.
pub async fn create(reg: &Registry, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if !res.stored() {
        return Err(ApiError::method_not_allowed(
            "create is not supported on this resource",
        ));
    }
    let q = options::write_query(OptionsKind::Create, req.query)?;
    let mut obj = decode::object(res, req)?;
    let warnings = decode::check_fields(res, &mut obj, q.field_validation)?;
    decode::namespace_from_url(res, t, &mut obj)?;
    let opts = write_options(&q, req, Scope::Main);
    let r = reg.clone();
    let out = blocking(move || r.create(res, obj, &opts)).await?;
    Ok(with_warnings(one(res, &out, req.accept, 201), &warnings))
}

/// PUT: replaces an object (or its status).
pub async fn update(
    reg: &Registry,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let q = options::write_query(OptionsKind::Update, req.query)?;
    let mut obj = decode::object(res, req)?;
    let warnings = decode::check_fields(res, &mut obj, q.field_validation)?;
    decode::name_from_url(res, t, name, &mut obj)?;
    let opts = write_options(&q, req, scope_of(t));
    let (r, ns, name) = (
        reg.clone(),
        t.ns.clone().unwrap_or_default(),
        name.to_string(),
    );
    let out = blocking(move || {
        let make = |_: Option<&Value>| Ok(obj.clone());
        r.update(res, &ns, &name, &make, false, &opts)
    })
    .await?;
    let code = if out.created { 201 } else { 200 };
    Ok(with_warnings(
        one(res, &out.object, req.accept, code),
        &warnings,
    ))
}

/// The `autoscaling/v1` Scale of a replicated workload.
pub fn scale_of(obj: &Value) -> Value {
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
            "selector": crate::machinery::selectors::selector_string(&obj["spec"]["selector"]),
        },
    })
}

/// Makes the wanted Scale from the current one (a PUT's body, a patch).
type ScaleMaker = Box<dyn Fn(&Value) -> Result<Value, ApiError> + Send>;

/// PUT or PATCH of `scale`: the Scale `scale` makes from the current one
/// sets the workload's replicas.
async fn write_scale(
    reg: &Registry,
    t: &Target,
    name: &str,
    opts: WriteOptions,
    scale: ScaleMaker,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let (r, ns, name) = (
        reg.clone(),
        t.ns.clone().unwrap_or_default(),
        name.to_string(),
    );
    let out = blocking(move || {
        let make = |cur: Option<&Value>| {
            let cur = cur.ok_or_else(|| ApiError::not_found(res, &name))?;
            let wanted = scale(&scale_of(cur))?;
            let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid_kind(
                    "autoscaling",
                    "Scale",
                    &name,
                    vec![Cause::invalid(
                        "spec.replicas",
                        &json!(replicas),
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut o = cur.clone();
            o["spec"]["replicas"] = json!(replicas);
            if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str() {
                o["metadata"]["resourceVersion"] = json!(rv);
            }
            Ok(o)
        };
        r.update(res, &ns, &name, &make, false, &opts)
    })
    .await?;
    Ok(h::json(200, &scale_of(&out.object)))
}

/// PUT of `scale`.
pub async fn update_scale(
    reg: &Registry,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let q = options::write_query(OptionsKind::Update, req.query)?;
    let body = decode::json_or_yaml(req)?;
    let opts = write_options(&q, req, Scope::Main);
    write_scale(reg, t, name, opts, Box::new(move |_| Ok(body.clone()))).await
}

/// PATCH: JSON patch, merge patch, strategic merge patch or server-side
/// apply, on the object, its status or its scale.
pub async fn patch(
    reg: &Registry,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let pt = PatchType::from_content_type(req.content_type)
        .ok_or_else(|| patch::unsupported(req.content_type))?;
    let q = options::write_query(
        OptionsKind::Patch {
            apply: pt == PatchType::Apply,
        },
        req.query,
    )?;
    let body = patch::decode(pt, &req.body)?;
    if t.sub.as_deref() == Some("scale") {
        let opts = write_options(&q, req, Scope::Main);
        return write_scale(
            reg,
            t,
            name,
            opts,
            Box::new(move |cur| patch::apply("Scale", pt, cur, &body)),
        )
        .await;
    }
    let opts = write_options(&q, req, scope_of(t));
    if pt == PatchType::Apply {
        return apply(reg, t, name, body, &q, opts, req).await;
    }
    let (r, t2, name) = (reg.clone(), t.clone(), name.to_string());
    let mode = q.field_validation;
    let (out, warnings) = blocking(move || {
        let warnings = RefCell::new(Vec::new());
        let make = |cur: Option<&Value>| {
            let Some(cur) = cur else {
                return Err(ApiError::not_found(res, &name));
            };
            let mut patched = patch::apply(res.kind, pt, cur, &body)?;
            if !patched.is_object() {
                return Err(ApiError::bad_request("the patch did not produce an object"));
            }
            *warnings.borrow_mut() = decode::check_fields(res, &mut patched, mode)?;
            decode::name_from_url(res, &t2, &name, &mut patched)?;
            Ok(patched)
        };
        let ns = t2.ns.clone().unwrap_or_default();
        let out = r.update(res, &ns, &name, &make, false, &opts)?;
        Ok((out, warnings.into_inner()))
    })
    .await?;
    let code = if out.created { 201 } else { 200 };
    Ok(with_warnings(
        one(res, &out.object, req.accept, code),
        &warnings,
    ))
}

/// `group/version, Kind=kind` as Go prints a GroupVersionKind.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    format!("{g}/{v}, Kind={kind}")
}

/// Server-side apply (`application/apply-patch+yaml`): the configuration
/// is checked (its type, name and namespace, unknown fields), then the
/// registry merges it, recording its fields for the manager.
async fn apply(
    reg: &Registry,
    t: &Target,
    name: &str,
    mut config: Value,
    q: &WriteQuery,
    opts: WriteOptions,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if !config.is_object() {
        return Err(ApiError::bad_request(format!(
            "error decoding YAML: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            if config.is_array() { "array" } else { "string" }
        )));
    }
    let (av, kind) = (
        config["apiVersion"].as_str().unwrap_or("").to_string(),
        config["kind"].as_str().unwrap_or("").to_string(),
    );
    let group = |a: &str| a.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    if kind != res.kind || group(&av) != res.group {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}",
            gvk_string(&av, &kind)
        )));
    }
    if av != res.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
            res.api_version()
        )));
    }
    decode::name_from_url(res, t, name, &mut config)?;
    let mut checked = config.clone();
    let warnings = match decode::check_fields(res, &mut checked, q.field_validation) {
        Ok(w) => w,
        Err(e) => {
            // What structured-merge-diff says of a field the schema lacks.
            let why = e
                .message
                .rsplit(": strict decoding error: ")
                .next()
                .unwrap_or("");
            let fields: Vec<String> = why
                .split(", ")
                .filter_map(|u| u.strip_prefix("unknown field "))
                .map(|f| format!(".{}: field not declared in schema", f.trim_matches('"')))
                .collect();
            let detail = if fields.is_empty() {
                e.message.clone()
            } else {
                fields.join(", ")
            };
            return Err(ApiError::new(
                500,
                "",
                format!(
                    "failed to create typed patch object ({}/{name}; {}): {detail}",
                    t.ns.as_deref().unwrap_or(""),
                    gvk_string(&av, &kind)
                ),
            ));
        }
    };
    if q.field_validation != FieldValidation::Strict {
        // Unknown fields are dropped (and warned about) as for any write.
        config = checked;
    }
    let (r, ns, name, force) = (
        reg.clone(),
        t.ns.clone().unwrap_or_default(),
        name.to_string(),
        q.force,
    );
    let out = blocking(move || r.apply(res, &ns, &name, &config, force, &opts)).await?;
    let code = if out.created { 201 } else { 200 };
    Ok(with_warnings(
        one(res, &out.object, req.accept, code),
        &warnings,
    ))
}

/// The DeleteOptions of a request: its body when it has one.
fn delete_options(req: &Req<'_>) -> Result<crate::registry::deletion::DeleteOptions, ApiError> {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(decode::json_or_yaml(req)?)
    };
    options::delete_options(body.as_ref(), req.query)
}

/// What a successful delete of an object that is gone answers for kinds
/// that do not return it.
fn success(res: &ResourceDef, obj: &Value) -> Value {
    let mut details = json!({"name": obj["metadata"]["name"], "kind": res.plural,
        "uid": obj["metadata"]["uid"]});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": details})
}

/// DELETE of one object.
pub async fn delete(
    reg: &Registry,
    t: &Target,
    name: &str,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let opts = delete_options(req)?;
    let (r, ns, name) = (
        reg.clone(),
        t.ns.clone().unwrap_or_default(),
        name.to_string(),
    );
    let orphan_false = opts.orphan_dependents == Some(false);
    let d = blocking(move || r.delete(res, &ns, &name, &opts)).await?;
    // 202 only for a delete not done at once that asked not to orphan
    // (upstream keeps 200 otherwise, for old clients' sake).
    let code = if !d.removed && orphan_false { 202 } else { 200 };
    if d.removed && !strategy(res).returns_deleted_object() {
        return Ok(h::json(code, &success(res, &d.object)));
    }
    Ok(one(res, &d.object, req.accept, code))
}

/// DELETE of a collection: every selected object, with the same options;
/// answers the list of what was (or, dry run, would be) deleted.
pub async fn delete_collection(
    reg: &Registry,
    t: &Target,
    req: &Req<'_>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let opts = delete_options(req)?;
    let (label, field) = selectors(req.query)?;
    let (items, _) = reg.store().list_stored(res, t.ns.as_deref());
    let mut deleted: Vec<Arc<Value>> = Vec::new();
    for o in items
        .iter()
        .filter(|o| selectors::selects(&label, &field, o))
    {
        let (r, ns, name, opts) = (
            reg.clone(),
            o.ns.to_string(),
            o.name.to_string(),
            opts.clone(),
        );
        match blocking(move || r.delete(res, &ns, &name, &opts)).await {
            Ok(d) => deleted.push(d.object),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = deleted
        .iter()
        .map(|o| rv_of(o))
        .max()
        .unwrap_or(0)
        .max(reg.store().resource_version());
    let deleted: Vec<Vec<u8>> = deleted
        .iter()
        .map(|o| serde_json::to_vec(&**o).unwrap_or_default())
        .collect();
    let items: Vec<&[u8]> = deleted.iter().map(Vec::as_slice).collect();
    Ok(h::json_bytes(200, list_bytes(res, &items, rv, None)))
}
