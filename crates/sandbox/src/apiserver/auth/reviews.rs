//! The API's questions about authentication and authorization, answered
//! as upstream's `authorization.k8s.io` and `authentication.k8s.io`
//! registries do: SelfSubjectAccessReview (`kubectl auth can-i`),
//! SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview
//! (`kubectl auth can-i --list`), SelfSubjectReview (`kubectl auth
//! whoami`) and TokenReview. Nothing is stored: each answer is the request
//! with its `status` filled in.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Attributes, User, rbac, token};
use crate::machinery::resources::ResourceDef;
use crate::machinery::status::{ApiError, Cause};
use crate::storage::store::Store;

/// Whether `user` may do what `spec` asks (`resourceAttributes` or
/// `nonResourceAttributes`): `(allowed, reason)`.
fn decide(store: &Store, user: &User, spec: &Value) -> (bool, String) {
    if user.is_master() {
        return (true, String::new());
    }
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    if let Some(nr) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        let reason = rbac::allows_path(store, user, &text(&nr["verb"]), &text(&nr["path"]));
        return (reason.is_some(), reason.unwrap_or_default());
    }
    let r = &spec["resourceAttributes"];
    let a = Attributes {
        verb: text(&r["verb"]),
        group: text(&r["group"]),
        resource: text(&r["resource"]),
        subresource: text(&r["subresource"]),
        namespace: text(&r["namespace"]),
        name: text(&r["name"]),
    };
    let reason = rbac::allows(store, user, &a);
    (reason.is_some(), reason.unwrap_or_default())
}

fn status(allowed: bool, reason: String) -> Value {
    let mut s = json!({"allowed": allowed});
    if !reason.is_empty() {
        s["reason"] = json!(reason);
    }
    s
}

/// The answer: the request's kind and spec, with a status.
fn answer_of(res: &ResourceDef, doc: &Value, ns: Option<&str>, status: Value) -> Value {
    let mut meta = json!({"creationTimestamp": null});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    json!({
        "kind": res.kind,
        "apiVersion": res.api_version(),
        "metadata": meta,
        "spec": doc.get("spec").cloned().unwrap_or(json!({})),
        "status": status,
    })
}

fn spec_required(res: &ResourceDef, spec: &Value) -> Result<(), ApiError> {
    let has = |k: &str| spec.get(k).is_some_and(Value::is_object);
    match (has("resourceAttributes"), has("nonResourceAttributes")) {
        (true, true) => Err(ApiError::invalid(
            res,
            "",
            vec![Cause::invalid(
                "spec.nonResourceAttributes",
                &spec["nonResourceAttributes"],
                "cannot be specified in combination with resourceAttributes",
            )],
        )),
        (false, false) => Err(ApiError::invalid(
            res,
            "",
            vec![Cause::required("spec.resourceAttributes")],
        )),
        _ => Ok(()),
    }
}

/// The user a SubjectAccessReview asks about.
fn subject_of(spec: &Value) -> User {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    User {
        name: text(&spec["user"]),
        uid: text(&spec["uid"]),
        groups: serde_json::from_value(spec["groups"].clone()).unwrap_or_default(),
        extra: serde_json::from_value::<HashMap<String, Vec<String>>>(spec["extra"].clone())
            .unwrap_or_default(),
    }
}

/// Answers a review created by `user` (`ns`: the URL's namespace).
pub(crate) fn answer(
    store: &Store,
    admin_token: &str,
    user: &User,
    res: &ResourceDef,
    ns: Option<&str>,
    doc: &Value,
) -> Result<Value, ApiError> {
    let spec = &doc["spec"];
    match res.kind {
        "SelfSubjectAccessReview" => {
            spec_required(res, spec)?;
            let (ok, why) = decide(store, user, spec);
            Ok(answer_of(res, doc, None, status(ok, why)))
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            spec_required(res, spec)?;
            if let Some(ns) = ns {
                let asked = spec["resourceAttributes"]["namespace"]
                    .as_str()
                    .unwrap_or("");
                if asked != ns {
                    return Err(ApiError::invalid(
                        res,
                        "",
                        vec![Cause::invalid(
                            "spec.resourceAttributes.namespace",
                            &json!(asked),
                            "must match metadata.namespace",
                        )],
                    ));
                }
            }
            let who = subject_of(spec);
            if who.name.is_empty() && who.groups.is_empty() {
                return Err(ApiError::invalid(
                    res,
                    "",
                    vec![Cause::invalid(
                        "spec.user",
                        &json!(""),
                        "at least one of user or group must be specified",
                    )],
                ));
            }
            let (ok, why) = decide(store, &who, spec);
            Ok(answer_of(res, doc, ns, status(ok, why)))
        }
        "SelfSubjectRulesReview" => {
            let ns = spec["namespace"].as_str().unwrap_or("");
            let rules = rbac::rules_for(store, user, ns);
            let (urls, res_rules): (Vec<_>, Vec<_>) = rules
                .into_iter()
                .partition(|r| !r.non_resource_urls.is_empty());
            let resource_rules: Vec<Value> = res_rules
                .iter()
                .map(|r| {
                    let mut v = json!({"verbs": r.verbs});
                    if !r.api_groups.is_empty() {
                        v["apiGroups"] = json!(r.api_groups);
                    }
                    if !r.resources.is_empty() {
                        v["resources"] = json!(r.resources);
                    }
                    if !r.resource_names.is_empty() {
                        v["resourceNames"] = json!(r.resource_names);
                    }
                    v
                })
                .collect();
            let non_resource: Vec<Value> = urls
                .iter()
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            Ok(answer_of(
                res,
                doc,
                None,
                json!({"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": false}),
            ))
        }
        "SelfSubjectReview" => Ok(json!({
            "kind": res.kind,
            "apiVersion": res.api_version(),
            "metadata": {"creationTimestamp": null},
            "status": {"userInfo": user.to_json()},
        })),
        "TokenReview" => {
            let t = spec["token"].as_str().unwrap_or("");
            let st = match super::user_of_token(store, admin_token, t) {
                Some(u) => json!({
                    "authenticated": true,
                    "user": u.to_json(),
                    "audiences": token::audiences(admin_token, t),
                }),
                None => {
                    json!({"user": {}, "error": "[invalid bearer token, service account token is not valid]"})
                }
            };
            Ok(answer_of(res, doc, None, st))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}
