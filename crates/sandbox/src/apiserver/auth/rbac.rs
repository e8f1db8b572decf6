//! RBAC, as upstream's `plugin/pkg/auth/authorizer/rbac`: the rules that
//! apply to a user in a namespace (every ClusterRoleBinding's, then the
//! namespace's RoleBindings'), and whether one of them allows a request.
//!
//! Matching follows upstream's `rbac/v1` helpers: `*` matches any verb,
//! group, resource or non-resource URL; `pods/log` names a subresource and
//! `*/log` that subresource of every resource; an empty `resourceNames`
//! matches every name; a non-resource URL ending in `*` matches by prefix.
//! Subjects: a User by name, a Group by the user's groups, a
//! ServiceAccount as `system:serviceaccount:NS:NAME` (a RoleBinding's
//! subject without a namespace means the binding's own namespace).

use serde_json::Value;

use super::{Attributes, User};
use crate::machinery::resources;
use crate::storage::store::Store;

/// One `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

impl Rule {
    fn resource_matches(&self, a: &Attributes) -> bool {
        let full = a.full_resource();
        self.resources.iter().any(|r| {
            r == "*"
                || *r == full
                || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(&a.subresource))
        })
    }

    /// Whether this rule allows a resource request (`RuleAllows`).
    pub(crate) fn allows(&self, a: &Attributes) -> bool {
        has(&self.verbs, &a.verb)
            && has(&self.api_groups, &a.group)
            && self.resource_matches(a)
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }

    /// Whether this rule allows a request to a non-resource path.
    pub(crate) fn allows_path(&self, verb: &str, path: &str) -> bool {
        has(&self.verbs, verb)
            && self.non_resource_urls.iter().any(|u| {
                u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
            })
    }
}

/// A subject of a binding.
#[derive(Debug, Clone, Default, serde::Deserialize)]
struct Subject {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

impl Subject {
    /// Upstream's `appliesToUser`.
    fn applies_to(&self, user: &User, binding_ns: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_ns
                } else {
                    &self.namespace
                };
                !ns.is_empty() && user.name == super::token::service_account_user(ns, &self.name)
            }
            _ => false,
        }
    }

    /// How upstream names the subject in an "allowed by" reason.
    fn describe(&self, binding_ns: &str) -> String {
        if self.kind == "ServiceAccount" {
            let ns = if self.namespace.is_empty() {
                binding_ns
            } else {
                &self.namespace
            };
            format!("{} {:?}", self.kind, format!("{}/{ns}", self.name))
        } else {
            format!("{} {:?}", self.kind, self.name)
        }
    }
}

fn rules_of(role: &Value) -> Vec<Rule> {
    serde_json::from_value(role["rules"].clone()).unwrap_or_default()
}

fn subjects_of(binding: &Value) -> Vec<Subject> {
    serde_json::from_value(binding["subjects"].clone()).unwrap_or_default()
}

/// The role a binding refers to, if it exists.
fn role_of(store: &Store, binding: &Value, binding_ns: &str) -> Option<std::sync::Arc<Value>> {
    let r = &binding["roleRef"];
    let name = r["name"].as_str()?;
    match r["kind"].as_str()? {
        "ClusterRole" => store.get(&resources::CLUSTER_ROLES, "", name),
        "Role" if !binding_ns.is_empty() => store.get(&resources::ROLES, binding_ns, name),
        _ => None,
    }
}

/// Calls `visit` with every rule that applies to `user` in `ns` (cluster
/// scope when empty) and the words upstream uses for where it comes from;
/// stops when `visit` returns true.
fn visit_rules(
    store: &Store,
    user: &User,
    ns: &str,
    visit: &mut dyn FnMut(&Rule, &dyn Fn() -> String) -> bool,
) {
    let (crbs, _) = store.list(&resources::CLUSTER_ROLE_BINDINGS, None);
    for b in &crbs {
        let Some(s) = subjects_of(b).into_iter().find(|s| s.applies_to(user, "")) else {
            continue;
        };
        let Some(role) = role_of(store, b, "") else {
            continue;
        };
        for rule in rules_of(&role) {
            let source = || {
                format!(
                    "ClusterRoleBinding {:?} of {} {:?} to {}",
                    b["metadata"]["name"].as_str().unwrap_or(""),
                    b["roleRef"]["kind"].as_str().unwrap_or(""),
                    b["roleRef"]["name"].as_str().unwrap_or(""),
                    s.describe("")
                )
            };
            if visit(&rule, &source) {
                return;
            }
        }
    }
    if ns.is_empty() {
        return;
    }
    let (rbs, _) = store.list(&resources::ROLE_BINDINGS, Some(ns));
    for b in &rbs {
        let Some(s) = subjects_of(b).into_iter().find(|s| s.applies_to(user, ns)) else {
            continue;
        };
        let Some(role) = role_of(store, b, ns) else {
            continue;
        };
        for rule in rules_of(&role) {
            let source = || {
                format!(
                    "RoleBinding \"{}/{ns}\" of {} {:?} to {}",
                    b["metadata"]["name"].as_str().unwrap_or(""),
                    b["roleRef"]["kind"].as_str().unwrap_or(""),
                    b["roleRef"]["name"].as_str().unwrap_or(""),
                    s.describe(ns)
                )
            };
            if visit(&rule, &source) {
                return;
            }
        }
    }
}

/// Whether RBAC allows a resource request: `Some(reason)` as upstream
/// words it (`RBAC: allowed by RoleBinding "x/ns" of ClusterRole "admin"
/// to ServiceAccount "learner/ns"`).
pub(crate) fn allows(store: &Store, user: &User, a: &Attributes) -> Option<String> {
    let mut reason = None;
    visit_rules(store, user, &a.namespace, &mut |rule, source| {
        if rule.allows(a) {
            reason = Some(format!("RBAC: allowed by {}", source()));
        }
        reason.is_some()
    });
    reason
}

/// Whether RBAC allows a request to a non-resource path.
pub(crate) fn allows_path(store: &Store, user: &User, verb: &str, path: &str) -> Option<String> {
    let mut reason = None;
    visit_rules(store, user, "", &mut |rule, source| {
        if rule.allows_path(verb, path) {
            reason = Some(format!("RBAC: allowed by {}", source()));
        }
        reason.is_some()
    });
    reason
}

/// Every rule that applies to `user` in `ns` (SelfSubjectRulesReview).
pub(crate) fn rules_for(store: &Store, user: &User, ns: &str) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    visit_rules(store, user, ns, &mut |rule, _| {
        if !out.contains(rule) {
            out.push(rule.clone());
        }
        false
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], res: &[&str], names: &[&str]) -> Rule {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_string()).collect();
        Rule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(res),
            resource_names: v(names),
            non_resource_urls: vec![],
        }
    }

    fn attrs(verb: &str, group: &str, res: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: res.into(),
            subresource: sub.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn rules_match_as_upstream() {
        let pods = rule(&["get", "list"], &[""], &["pods"], &[]);
        assert!(pods.allows(&attrs("list", "", "pods", "", "")));
        assert!(!pods.allows(&attrs("delete", "", "pods", "", "p")));
        assert!(!pods.allows(&attrs("get", "", "pods", "log", "p")));
        assert!(!pods.allows(&attrs("get", "apps", "pods", "", "p")));
        let logs = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(logs.allows(&attrs("get", "", "pods", "log", "p")));
        assert!(!logs.allows(&attrs("get", "", "pods", "", "p")));
        let any_status = rule(&["get"], &["*"], &["*/status"], &[]);
        assert!(any_status.allows(&attrs("get", "apps", "deployments", "status", "d")));
        assert!(!any_status.allows(&attrs("get", "apps", "deployments", "", "d")));
        let named = rule(&["*"], &[""], &["configmaps"], &["progress"]);
        assert!(named.allows(&attrs("update", "", "configmaps", "", "progress")));
        assert!(!named.allows(&attrs("update", "", "configmaps", "", "other")));
        assert!(!named.allows(&attrs("list", "", "configmaps", "", "")));
        let all = rule(&["*"], &["*"], &["*"], &[]);
        assert!(all.allows(&attrs("deletecollection", "batch", "jobs", "", "")));
    }

    #[test]
    fn paths_match_by_prefix() {
        let r = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/*".into(), "/version".into()],
            ..Rule::default()
        };
        assert!(r.allows_path("get", "/apis/apps/v1"));
        assert!(r.allows_path("get", "/version"));
        assert!(!r.allows_path("get", "/version/x"));
        assert!(!r.allows_path("post", "/version"));
    }

    #[test]
    fn subjects_apply_as_upstream() {
        let user = User {
            name: "system:serviceaccount:ws-ana:learner".into(),
            uid: String::new(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:ws-ana".into(),
            ],
            extra: Default::default(),
        };
        let sa = |ns: &str| Subject {
            kind: "ServiceAccount".into(),
            name: "learner".into(),
            namespace: ns.into(),
        };
        assert!(sa("").applies_to(&user, "ws-ana"));
        assert!(!sa("").applies_to(&user, "ws-bob"));
        assert!(!sa("").applies_to(&user, ""));
        assert!(sa("ws-ana").applies_to(&user, "ws-bob"));
        let group = Subject {
            kind: "Group".into(),
            name: "system:serviceaccounts:ws-ana".into(),
            namespace: String::new(),
        };
        assert!(group.applies_to(&user, ""));
        assert_eq!(
            sa("").describe("ws-ana"),
            "ServiceAccount \"learner/ws-ana\""
        );
    }
}
