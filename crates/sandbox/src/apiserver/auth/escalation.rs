//! Upstream's RBAC escalation check (`pkg/registry/rbac`): a user may only
//! write a Role or ClusterRole whose rules they already hold (or with the
//! `escalate` verb on it), and only bind a role whose rules they hold (or
//! with the `bind` verb on it). Without it a learner who administers their
//! namespace could bind themselves to `cluster-admin`.
//!
//! Checked on create and update (POST, PUT). A PATCH is not checked here:
//! a binding's `roleRef` cannot change, so a patch can only alter a Role's
//! rules inside the author's own namespace (documented as a difference).

use http::Method;
use serde_json::Value;

use super::rbac::{self, Rule};
use super::{Attributes, User};
use crate::apiserver::handlers::Target;
use crate::machinery::resources;
use crate::machinery::status::ApiError;
use crate::storage::store::Store;

fn is(t: &Target, r: &resources::ResourceDef) -> bool {
    std::ptr::eq(t.res, r)
}

/// Whether the request writes an RBAC object as a user the check applies to.
pub(crate) fn applies(user: &User, t: &Target, method: &Method) -> bool {
    let rbac_kind = is(t, &resources::ROLES)
        || is(t, &resources::CLUSTER_ROLES)
        || is(t, &resources::ROLE_BINDINGS)
        || is(t, &resources::CLUSTER_ROLE_BINDINGS);
    rbac_kind
        && t.sub.is_none()
        && (method == Method::POST || method == Method::PUT)
        && !user.is_master()
}

/// Whether `user` (in `ns`) holds every permission `rule` grants.
fn covered(store: &Store, user: &User, ns: &str, rule: &Rule) -> bool {
    let held = rbac::rules_for(store, user, ns);
    let names: Vec<&str> = if rule.resource_names.is_empty() {
        vec![""]
    } else {
        rule.resource_names.iter().map(String::as_str).collect()
    };
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            if !held.iter().any(|h| h.allows_path(verb, url)) {
                return false;
            }
        }
        for group in &rule.api_groups {
            for res in &rule.resources {
                let (resource, sub) = res.split_once('/').unwrap_or((res, ""));
                for name in &names {
                    let a = Attributes {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.to_string(),
                        subresource: sub.to_string(),
                        namespace: ns.to_string(),
                        name: (*name).to_string(),
                    };
                    if !held.iter().any(|h| h.allows(&a)) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

fn forbidden(t: &Target, user: &User, name: &str, missing: &[Rule]) -> ApiError {
    let rules: Vec<String> = missing
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    let msg = format!(
        "{} {name:?} is forbidden: user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
        t.res.qualified(),
        user.name,
        user.groups,
        rules.join("\n")
    );
    let mut e = ApiError::new(403, "Forbidden", msg);
    e.details = Some(serde_json::json!({"name": name, "group": t.res.group, "kind": t.res.plural}));
    e
}

/// Refuses the write when it grants what its author does not hold.
pub(crate) fn check(store: &Store, user: &User, t: &Target, doc: &Value) -> Result<(), ApiError> {
    let ns = t.ns.as_deref().unwrap_or("");
    let name = doc["metadata"]["name"].as_str().unwrap_or("");
    let may = |verb: &str, resource: &str, name: &str| {
        let a = Attributes {
            verb: verb.into(),
            group: "rbac.authorization.k8s.io".into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: ns.into(),
            name: name.into(),
        };
        rbac::allows(store, user, &a).is_some()
    };
    let (rules, role_name) = if is(t, &resources::ROLES) || is(t, &resources::CLUSTER_ROLES) {
        if may("escalate", t.res.plural, name) {
            return Ok(());
        }
        let rules: Vec<Rule> = serde_json::from_value(doc["rules"].clone()).unwrap_or_default();
        (rules, name.to_string())
    } else {
        let r = &doc["roleRef"];
        let role = r["name"].as_str().unwrap_or("");
        let kind = r["kind"].as_str().unwrap_or("");
        let plural = if kind == "Role" {
            "roles"
        } else {
            "clusterroles"
        };
        if may("bind", plural, role) {
            return Ok(());
        }
        let stored = match kind {
            "Role" => store.get(&resources::ROLES, ns, role),
            _ => store.get(&resources::CLUSTER_ROLES, "", role),
        };
        // A binding to a role that does not exist grants nothing yet.
        let Some(stored) = stored else { return Ok(()) };
        let rules: Vec<Rule> = serde_json::from_value(stored["rules"].clone()).unwrap_or_default();
        (rules, name.to_string())
    };
    let missing: Vec<Rule> = rules
        .into_iter()
        .filter(|r| !covered(store, user, ns, r))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(forbidden(t, user, &role_name, &missing))
    }
}
