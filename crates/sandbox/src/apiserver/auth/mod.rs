//! Authentication and authorization, as upstream's API server does them:
//! who sent a request (the sandbox's own bearer token, or a
//! ServiceAccount token from a TokenRequest) and whether RBAC lets them
//! (Role, ClusterRole, RoleBinding, ClusterRoleBinding, with the built-in
//! roles of a fresh cluster); and the API's questions about both
//! (SelfSubjectAccessReview — `kubectl auth can-i` —, SubjectAccessReview,
//! LocalSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview —
//! `kubectl auth whoami` —, TokenReview, and `serviceaccounts/NAME/token`).
//!
//! - `token`: ServiceAccount tokens (JWTs) made and checked;
//! - `rbac`: the rules that apply to a user and whether one allows a request;
//! - `bootstrap`: the built-in ClusterRoles and ClusterRoleBindings;
//! - `reviews`: the review endpoints;
//! - `escalation`: upstream's rule that RBAC objects grant only what their
//!   author holds.
//!
//! The API server calls [`authenticate`], then [`authorize`] for resource
//! requests, then [`respond`] for the endpoints this module answers.
//! Requests to non-resource paths (discovery, OpenAPI, version) are
//! allowed to every authenticated user, as the built-in
//! `system:discovery` role does.

pub(crate) mod escalation;
pub(crate) mod rbac;
pub(crate) mod reviews;
pub(crate) mod token;

use std::collections::HashMap;

use http::{Method, Response, header};
use serde_json::{Value, json};

use crate::apiserver::handlers::Target;
use crate::machinery::http::{self as h, Body};
use crate::machinery::resources::{self, ResourceDef};
use crate::machinery::status::ApiError;
use crate::storage::store::Store;

/// The name of the user the sandbox's own token authenticates.
pub(crate) const ADMIN_USER: &str = "kubetutor-admin";
/// The group that may do anything (upstream's `system:masters`).
pub(crate) const MASTERS: &str = "system:masters";
pub(crate) const AUTHENTICATED: &str = "system:authenticated";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// `authentication.kubernetes.io/credential-id`... (tokens: jti).
    pub extra: HashMap<String, Vec<String>>,
}

impl User {
    fn admin() -> User {
        User {
            name: ADMIN_USER.into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            extra: HashMap::new(),
        }
    }

    pub(crate) fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user behind a bearer token: the sandbox's own token, or a valid
/// ServiceAccount token. `None`: 401.
pub(crate) fn user_of_token(store: &Store, admin_token: &str, t: &str) -> Option<User> {
    if constant_time_eq(t.as_bytes(), admin_token.as_bytes()) {
        return Some(User::admin());
    }
    token::verify(store, admin_token, t).ok()
}

/// The user of a request, from its `Authorization: Bearer` header.
pub(crate) fn authenticate(
    store: &Store,
    admin_token: &str,
    headers: &http::HeaderMap,
) -> Option<User> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ")?.trim();
    user_of_token(store, admin_token, t)
}

/// What a request asks to do, as upstream's RequestInfo and authorizer
/// attributes say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

impl Attributes {
    /// The attributes of a resource request.
    pub(crate) fn of(t: &Target, method: &Method, query: Option<&str>) -> Attributes {
        let watching = crate::machinery::http::parse_query(query)
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1");
        let verb = match (method.as_str(), t.name.is_some()) {
            ("GET" | "HEAD", _) if watching => "watch",
            ("GET" | "HEAD", true) => "get",
            ("GET" | "HEAD", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            (other, _) => other,
        };
        let name = t.name.clone().unwrap_or_default();
        // A namespace's own namespace is itself (upstream's RequestInfo).
        let namespace = match (
            &t.ns,
            t.res.plural == "namespaces" && t.res.group.is_empty(),
        ) {
            (Some(ns), _) => ns.clone(),
            (None, true) => name.clone(),
            (None, false) => String::new(),
        };
        Attributes {
            verb: verb.to_ascii_lowercase(),
            group: t.res.group.to_owned(),
            resource: t.res.plural.to_owned(),
            subresource: t.sub.clone().unwrap_or_default(),
            namespace,
            name,
        }
    }

    /// `pods` or `pods/log`.
    pub(crate) fn full_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Upstream's words for a refusal (`responsewriters.forbiddenMessage`).
pub(crate) fn forbidden_message(user: &User, a: &Attributes) -> String {
    let who = format!(
        "User {:?} cannot {} resource {:?} in API group {:?}",
        user.name,
        a.verb,
        a.full_resource(),
        a.group
    );
    if a.namespace.is_empty() {
        format!("{who} at the cluster scope")
    } else {
        format!("{who} in the namespace {:?}", a.namespace)
    }
}

/// The 403 of a refused request, shaped as `apierrors.NewForbidden`.
pub(crate) fn forbidden(res: &ResourceDef, user: &User, a: &Attributes) -> ApiError {
    let what = res.qualified();
    let subject = if a.name.is_empty() {
        what.clone()
    } else {
        format!("{what} {:?}", a.name)
    };
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!("{subject} is forbidden: {}", forbidden_message(user, a)),
    );
    let mut details = json!({"kind": res.plural});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    e.details = Some(details);
    e
}

/// Whether `user` may make this resource request: `Err` is the 403 to send.
pub(crate) fn authorize(
    store: &Store,
    user: &User,
    t: &Target,
    method: &Method,
    query: Option<&str>,
) -> Result<(), ApiError> {
    if user.is_master() {
        return Ok(());
    }
    let a = Attributes::of(t, method, query);
    if rbac::allows(store, user, &a).is_some() {
        return Ok(());
    }
    tracing::debug!(user = %user.name, verb = %a.verb, resource = %a.full_resource(), ns = %a.namespace, "forbidden");
    Err(forbidden(t.res, user, &a))
}

/// Whether `user` may request a non-resource path (discovery, OpenAPI,
/// version): `Err` is upstream's 403 (`forbidden: User "x" cannot get
/// path "/p"`).
pub(crate) fn authorize_path(
    store: &Store,
    user: &User,
    method: &Method,
    path: &str,
) -> Result<(), ApiError> {
    if user.is_master() {
        return Ok(());
    }
    let verb = method.as_str().to_ascii_lowercase();
    let verb = if verb == "head" {
        "get".to_string()
    } else {
        verb
    };
    if rbac::allows_path(store, user, &verb, path).is_some() {
        return Ok(());
    }
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!(
            "forbidden: User {:?} cannot {verb} path {path:?}",
            user.name
        ),
    );
    e.details = Some(json!({}));
    Err(e)
}

/// Answers the requests this module serves (reviews, TokenRequest) and
/// refuses RBAC writes that would grant more than their author holds;
/// `None` lets the request go on to the resource handlers.
pub(crate) fn respond(
    store: &Store,
    admin_token: &str,
    user: &User,
    t: &Target,
    method: &Method,
    content_type: &str,
    body: &[u8],
) -> Option<Response<Body>> {
    let res = t.res;
    let ours = [
        &resources::SELF_SUBJECT_ACCESS_REVIEWS,
        &resources::SUBJECT_ACCESS_REVIEWS,
        &resources::LOCAL_SUBJECT_ACCESS_REVIEWS,
        &resources::SELF_SUBJECT_RULES_REVIEWS,
        &resources::SELF_SUBJECT_REVIEWS,
        &resources::TOKEN_REVIEWS,
    ]
    .iter()
    .any(|r| std::ptr::eq(*r, res));
    let token_request =
        std::ptr::eq(res, &resources::SERVICE_ACCOUNTS) && t.sub.as_deref() == Some("token");
    if !ours && !token_request {
        if escalation::applies(user, t, method) {
            let checked =
                decode(content_type, body).and_then(|doc| escalation::check(store, user, t, &doc));
            if let Err(e) = checked {
                return Some(h::error(&e));
            }
        }
        return None;
    }
    if method != Method::POST || (ours && t.name.is_some()) {
        return Some(h::error(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )));
    }
    let doc = match decode(content_type, body) {
        Ok(d) => d,
        Err(e) => return Some(h::error(&e)),
    };
    let out = if token_request {
        token::request(store, admin_token, t, &doc)
    } else {
        reviews::answer(store, admin_token, user, res, t.ns.as_deref(), &doc)
    };
    Some(match out {
        Ok(v) => h::json(201, &v),
        Err(e) => h::error(&e),
    })
}

/// A request body in JSON, YAML or protobuf.
fn decode(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if crate::apiserver::protobuf::is_protobuf(content_type) {
        return crate::apiserver::protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        });
    }
    if body.is_empty() {
        return Ok(json!({}));
    }
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        _ => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        res: &'static ResourceDef,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Target {
        Target {
            res,
            ns: ns.map(Into::into),
            name: name.map(Into::into),
            sub: sub.map(Into::into),
        }
    }

    #[test]
    fn attributes_as_upstream_reads_them() {
        let a = Attributes::of(
            &target(&resources::PODS, Some("ns"), None, None),
            &Method::GET,
            Some("watch=true"),
        );
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", "ns"));
        let a = Attributes::of(
            &target(&resources::PODS, Some("ns"), Some("p"), Some("log")),
            &Method::GET,
            None,
        );
        assert_eq!(
            (a.verb.as_str(), a.full_resource().as_str()),
            ("get", "pods/log")
        );
        let a = Attributes::of(
            &target(&resources::NAMESPACES, None, Some("ws-ana"), None),
            &Method::GET,
            None,
        );
        assert_eq!(a.namespace, "ws-ana");
        let a = Attributes::of(
            &target(&resources::PVCS, Some("ns"), None, None),
            &Method::DELETE,
            None,
        );
        assert_eq!(a.verb, "deletecollection");
    }

    #[test]
    fn refusals_say_what_upstream_says() {
        let user = User {
            name: "system:serviceaccount:ws-bob:learner".into(),
            uid: String::new(),
            groups: vec![],
            extra: HashMap::new(),
        };
        let a = Attributes::of(
            &target(&resources::PODS, Some("ws-ana"), None, None),
            &Method::GET,
            None,
        );
        let e = forbidden(&resources::PODS, &user, &a);
        assert_eq!(
            e.message,
            "pods is forbidden: User \"system:serviceaccount:ws-bob:learner\" cannot list resource \"pods\" in API group \"\" in the namespace \"ws-ana\""
        );
        let a = Attributes::of(
            &target(&resources::STORAGE_CLASSES, None, Some("fast"), None),
            &Method::DELETE,
            None,
        );
        let e = forbidden(&resources::STORAGE_CLASSES, &user, &a);
        assert_eq!(
            e.message,
            "storageclasses.storage.k8s.io \"fast\" is forbidden: User \"system:serviceaccount:ws-bob:learner\" cannot delete resource \"storageclasses\" in API group \"storage.k8s.io\" at the cluster scope"
        );
        assert_eq!(e.code, 403);
    }
}
