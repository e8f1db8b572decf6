//! `pods/<name>/ephemeralcontainers`: how `kubectl debug POD` adds a
//! debugging container to a running pod. GET answers the pod; PATCH (what
//! kubectl 1.22+ sends: a strategic merge of `spec.ephemeralContainers`)
//! and PUT (a whole Pod) change only that list. As upstream, ephemeral
//! containers can only be added, never changed or removed; their names are
//! unique among all the pod's containers; ports, probes, lifecycle and
//! resources are forbidden; `targetContainerName` must name a container.

use http::Response;
use serde_json::{Value, json};

use crate::apiserver::handlers::{Req, Target};
use crate::apiserver::http::{self as h, Body};
use crate::apiserver::patch::{self, PatchType};
use crate::machinery::resources;
use crate::machinery::status::{ApiError, Cause};
use crate::storage::store::{Store, UpdateScope};

/// Fields an ephemeral container may not set.
const FORBIDDEN: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
];

/// Answers GET, PATCH and PUT on the subresource.
pub async fn handle(store: &Store, t: &Target, req: &Req<'_>) -> Result<Response<Body>, ApiError> {
    let res = &resources::PODS;
    let ns = t.ns.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let cur = store
        .get(res, &ns, &name)
        .ok_or_else(|| ApiError::not_found(res, &name))?;
    let wanted = match req.method.as_str() {
        "GET" => return Ok(h::json(200, &cur)),
        "PATCH" => {
            let pt = PatchType::from_content_type(req.content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(req.content_type))?;
            let p: Value = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            patch::apply("Pod", pt, &cur, &p)?
        }
        "PUT" => {
            let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
                ApiError::bad_request(format!("the body of the request could not be read: {e}"))
            })?;
            if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
                && !rv.is_empty()
                && cur["metadata"]["resourceVersion"].as_str() != Some(rv)
            {
                return Err(ApiError::conflict(res, &name));
            }
            body
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let mut list: Vec<Value> = wanted["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &mut list {
        default_container(c);
    }
    let causes = validate(&cur, &list);
    if !causes.is_empty() {
        return Err(ApiError::invalid(res, &name, causes));
    }
    let mut obj = (*cur).clone();
    obj["spec"]["ephemeralContainers"] = json!(list);
    let s = store.clone();
    let out = tokio::task::spawn_blocking(move || {
        s.update_scoped(res, obj, UpdateScope::EphemeralContainers)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the sandbox's store task failed: {e}")))??;
    Ok(h::json(200, &out))
}

/// The defaults an ephemeral container gets, as a container does.
fn default_container(c: &mut Value) {
    if c["terminationMessagePath"].is_null() {
        c["terminationMessagePath"] = json!("/dev/termination-log");
    }
    if c["terminationMessagePolicy"].is_null() {
        c["terminationMessagePolicy"] = json!("File");
    }
    if c["imagePullPolicy"].is_null() {
        let image = c["image"].as_str().unwrap_or("");
        let last = image.rsplit('/').next().unwrap_or(image);
        let latest = !last.contains(':') || last.ends_with(":latest");
        c["imagePullPolicy"] = json!(if latest && !image.contains('@') {
            "Always"
        } else {
            "IfNotPresent"
        });
    }
}

/// Upstream's checks of an ephemeral containers update.
fn validate(pod: &Value, list: &[Value]) -> Vec<Cause> {
    let mut out = Vec::new();
    let old: Vec<Value> = pod["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for o in &old {
        let oname = o["name"].as_str().unwrap_or("");
        match list.iter().find(|n| n["name"].as_str() == Some(oname)) {
            Some(n) if strip(n) == strip(o) => {}
            _ => out.push(Cause::forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers \"{oname}\" may not be changed"),
            )),
        }
    }
    let mut names: Vec<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let regular: Vec<String> = names.clone();
    for (i, c) in list.iter().enumerate() {
        let field = format!("spec.ephemeralContainers[{i}]");
        let name = c["name"].as_str().unwrap_or("");
        if name.is_empty() {
            out.push(Cause::required(format!("{field}.name")));
        } else if names.iter().any(|n| n == name) {
            out.push(Cause::duplicate(format!("{field}.name"), &json!(name)));
        } else {
            names.push(name.to_string());
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            out.push(Cause::required(format!("{field}.image")));
        }
        let is_new = !old.iter().any(|o| o["name"].as_str() == Some(name));
        if is_new {
            for f in FORBIDDEN {
                let set = match &c[*f] {
                    Value::Null => false,
                    Value::Object(m) => !m.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                };
                if set {
                    out.push(Cause::forbidden(
                        format!("{field}.{f}"),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
        if let Some(target) = c["targetContainerName"].as_str()
            && !target.is_empty()
            && !regular.iter().any(|n| n == target)
        {
            out.push(Cause::invalid(
                format!("{field}.targetContainerName"),
                &json!(target),
                "must be the name of a container in the pod",
            ));
        }
    }
    out
}

/// A container as compared for "changed" (defaults aside).
fn strip(c: &Value) -> Value {
    let mut c = c.clone();
    if let Some(m) = c.as_object_mut() {
        for k in [
            "terminationMessagePath",
            "terminationMessagePolicy",
            "imagePullPolicy",
        ] {
            m.remove(k);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_additions_of_valid_containers() {
        let pod = json!({"spec": {"containers": [{"name": "app", "image": "nginx"}],
            "ephemeralContainers": [{"name": "debugger-a", "image": "busybox"}]}});
        let ok = vec![
            json!({"name": "debugger-a", "image": "busybox"}),
            json!({"name": "debugger-b", "image": "busybox", "targetContainerName": "app", "stdin": true, "tty": true}),
        ];
        assert!(validate(&pod, &ok).is_empty());
        let changed = vec![json!({"name": "debugger-a", "image": "alpine"})];
        let causes = validate(&pod, &changed);
        assert_eq!(causes.len(), 1);
        let removed = validate(&pod, &[]);
        assert_eq!(removed.len(), 1);
        let bad = vec![
            json!({"name": "debugger-a", "image": "busybox"}),
            json!({"name": "app", "image": "busybox", "ports": [{"containerPort": 80}], "targetContainerName": "nope"}),
        ];
        let causes = validate(&pod, &bad);
        assert_eq!(causes.len(), 3, "{causes:?}");
        let mut c = json!({"name": "d", "image": "busybox"});
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePolicy"], "File");
        let mut c = json!({"name": "d", "image": "busybox:1.36"});
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    }
}
