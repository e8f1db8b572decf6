//! Role, ClusterRole, RoleBinding, ClusterRoleBinding: what the registry
//! does for these kinds (names as path segments, required fields, an
//! immutable `roleRef`) and how kubectl prints them, as upstream's
//! `pkg/registry/rbac` strategies and printers do.

use super::prelude::*;

pub(crate) struct Roles;
pub(crate) struct Bindings;

fn rules_causes(o: &Value, out: &mut Vec<Cause>) {
    for (i, r) in arr(&o["rules"]).iter().enumerate() {
        let field = |f: &str| format!("rules[{i}].{f}");
        if arr(&r["verbs"]).is_empty() {
            out.push(Cause::required(field("verbs")));
        }
        let urls = arr(&r["nonResourceURLs"]);
        let res = arr(&r["resources"]);
        // Upstream: a rule is for resources or for URLs, not both.
        if !urls.is_empty() && !res.is_empty() {
            out.push(Cause::invalid(
                field("nonResourceURLs"),
                &r["nonResourceURLs"],
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        if urls.is_empty() && !res.is_empty() && arr(&r["apiGroups"]).is_empty() {
            out.push(Cause::required(field("apiGroups")));
        }
        if urls.is_empty() && res.is_empty() {
            out.push(Cause::required(field("resources")));
        }
    }
}

impl Strategy for Roles {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, o: &Value, _old: Option<&Value>, out: &mut Vec<Cause>) {
        rules_causes(o, out);
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Created At", "date", 0)]
    }

    fn cells(&self, o: &Value, _now: jiff::Timestamp) -> Value {
        json!([
            s(&o["metadata"]["name"]),
            s(&o["metadata"]["creationTimestamp"])
        ])
    }
}

impl Strategy for Bindings {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, o: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let r = &o["roleRef"];
        if s(&r["name"]).is_empty() {
            out.push(Cause::required("roleRef.name"));
        }
        let namespaced = o["kind"] == "RoleBinding";
        let kinds: &[&str] = if namespaced {
            &["Role", "ClusterRole"]
        } else {
            &["ClusterRole"]
        };
        let kind = s(&r["kind"]);
        if !kinds.contains(&kind.as_str()) {
            out.push(Cause::unsupported("roleRef.kind", &kind, kinds));
        }
        if s(&r["apiGroup"]) != "rbac.authorization.k8s.io" {
            out.push(Cause::unsupported(
                "roleRef.apiGroup",
                &s(&r["apiGroup"]),
                &["rbac.authorization.k8s.io"],
            ));
        }
        if let Some(old) = old
            && old["roleRef"] != *r
        {
            out.push(Cause::invalid("roleRef", r, "cannot change roleRef"));
        }
        for (i, sub) in arr(&o["subjects"]).iter().enumerate() {
            let kind = s(&sub["kind"]);
            if s(&sub["name"]).is_empty() {
                out.push(Cause::required(format!("subjects[{i}].name")));
            }
            match kind.as_str() {
                "ServiceAccount" if !namespaced && s(&sub["namespace"]).is_empty() => {
                    out.push(Cause::required(format!("subjects[{i}].namespace")));
                }
                "ServiceAccount" | "User" | "Group" => {}
                _ => out.push(Cause::unsupported(
                    format!("subjects[{i}].kind"),
                    &kind,
                    &["ServiceAccount", "User", "Group"],
                )),
            }
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Role", "string", 0),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let subjects = arr(&o["subjects"]);
        let of = |kind: &str| -> String {
            subjects
                .iter()
                .filter(|x| x["kind"] == kind)
                .map(|x| {
                    if kind == "ServiceAccount" {
                        format!("{}/{}", s(&x["namespace"]), s(&x["name"]))
                    } else {
                        s(&x["name"])
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let role = format!("{}/{}", s(&o["roleRef"]["kind"]), s(&o["roleRef"]["name"]));
        json!([
            s(&o["metadata"]["name"]),
            role,
            since(&o["metadata"]["creationTimestamp"], now),
            of("User"),
            of("Group"),
            of("ServiceAccount"),
        ])
    }
}
