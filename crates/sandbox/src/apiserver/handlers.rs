//! Resource requests: routing by URL and verb, the reads (get, list,
//! watch, as objects or Tables) answered from the store, and the writes
//! handed to [`write`](super::write), which goes through the registry.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};
use serde_json::{Value, json};

use super::{table, watch, write};
use crate::machinery::http::{self as h, Body};
use crate::machinery::resources::{self, ResourceDef};
use crate::machinery::selectors::{self, FieldSelector, LabelSelector};
use crate::machinery::status::ApiError;
use crate::registry::pipeline::Registry;
use crate::storage::store::{Obj, Store};

/// A parsed resource URL.
pub(crate) use crate::machinery::http::Target;

/// What a request asked for, beyond the URL.
pub struct Req<'a> {
    pub method: &'a Method,
    pub query: &'a HashMap<String, String>,
    pub accept: &'a str,
    pub content_type: &'a str,
    /// The client's program (`kubectl/v1.35.0 ...`): the default field manager.
    pub user_agent: &'a str,
    /// Who the client is (its bearer token), for per-client limits.
    pub client: &'a str,
    /// The watches each client holds.
    pub watches: &'a Arc<watch::WatchSlots>,
    pub body: Bytes,
}

/// Parses `/api/v1/...` or `/apis/G/V/...` into a target; `Err` means "no such path".
pub fn parse_target(segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
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
pub async fn handle(reg: &Registry, t: Target, req: Req<'_>) -> Response<Body> {
    let r = match dispatch(reg, &t, &req).await {
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

/// Runs store work (which waits for the disk) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the sandbox's store task failed: {e}")))?
}

async fn dispatch(reg: &Registry, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    let store = reg.store();
    let sub = t.sub.as_deref();
    if res.plural == "selfsubjectaccessreviews" {
        return if req.method == Method::POST && t.name.is_none() {
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
    match (req.method.as_str(), t.name.as_deref(), sub) {
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
        ("GET", Some(name), None | Some("status" | "ephemeralcontainers")) => {
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
            Ok(h::json(200, &write::scale_of(&obj)))
        }
        ("GET", Some(name), Some("log")) => {
            let ns = t.ns.as_deref().unwrap_or("");
            store
                .get(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(h::with_type(200, "text/plain", Bytes::new()))
        }
        ("POST", None, None) => write::create(reg, t, req).await,
        ("PUT", Some(name), None | Some("status" | "ephemeralcontainers")) => {
            write::update(reg, t, name, req).await
        }
        ("PUT", Some(name), Some("scale")) => write::update_scale(reg, t, name, req).await,
        ("PATCH", Some(name), None | Some("status" | "scale" | "ephemeralcontainers")) => {
            write::patch(reg, t, name, req).await
        }
        ("DELETE", Some(name), None) => write::delete(reg, t, name, req).await,
        ("DELETE", None, None) => write::delete_collection(reg, t, req).await,
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn self_subject_access_review(req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    // Everything is allowed, so a body we cannot read (kubectl sends
    // protobuf here) still gets an answer.
    let body = super::decode::json_or_yaml(req).unwrap_or_default();
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
pub(crate) fn one(res: &ResourceDef, obj: &Value, accept: &str, code: u16) -> Response<Body> {
    if is_table(accept) {
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        h::json_bytes(code, table::table(res, [obj.clone()], rv, None, true, true))
    } else {
        h::json(code, obj)
    }
}

/// Adds upstream's `Warning: 299 - "..."` headers.
pub(crate) fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let v = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(hv) = http::HeaderValue::from_str(&v) {
            r.headers_mut().append("Warning", hv);
        }
    }
    r
}

pub(crate) fn selectors(
    query: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let label = LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let field = FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok((label, field))
}

/// A `<Kind>List` around objects already serialised (as the store keeps them).
pub(crate) fn list_bytes(
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
    watch::check_list_options(req.query)?;
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
    if !t.res.stored() {
        return Err(ApiError::method_not_allowed(
            "watch is not supported on this resource",
        ));
    }
    let send_initial_events = watch::list_options(req.query)?;
    let (label, field) = selectors(req.query)?;
    let slot = req.watches.take(req.client)?;
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
        send_initial_events,
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
    watch::serve(store.clone(), opts, slot)
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
            crate::machinery::selectors::selector_string(&json!({"matchLabels": {"app": "web"}})),
            "app=web"
        );
    }
}
