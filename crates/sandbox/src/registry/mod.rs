//! The registry: what the API server does to an object between decoding
//! it and storing it, for every kind — defaulting, validation and
//! admission — and how each kind prints. Each kind's rules are in
//! [`kinds`], one file per kind, behind the [`Strategy`] trait; what
//! several kinds share is in [`podspec`], [`validation`] and [`printing`].

pub(crate) mod admission;
pub(crate) mod bootstrap;
mod kinds;
pub(crate) mod podspec;
pub(crate) mod printing;
pub(crate) mod typed;
pub(crate) mod validation;

use serde_json::{Value, json};

use crate::machinery::resources::ResourceDef;
pub(crate) use crate::machinery::status::Cause;
pub(crate) use kinds::{strategy, template_generation};
use printing::{AGE, Col, NAME, s, since};
use validation::{
    DNS1035_MSG, LABEL_MSG, SUBDOMAIN_MSG, valid_dns1035, valid_label, valid_label_value,
    valid_subdomain,
};

/// Which of upstream's name rules a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// A DNS subdomain (most kinds).
    Subdomain,
    /// A path segment (RBAC kinds: `system:basic-user`).
    PathSegment,
    /// A DNS label (namespaces).
    Label,
    /// A DNS-1035 label (services).
    Dns1035,
}

/// What the registry does for one kind, as upstream's per-kind strategy
/// (defaults, validation) and printer (columns, cells) do.
pub(crate) trait Strategy: Sync {
    /// The rule `metadata.name` follows.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Upstream's defaults (`SetDefaults_*`), applied to every object written.
    fn default(&self, _obj: &mut Value) {}

    /// Upstream's `PrepareForCreate`: what the server sets on a new object
    /// beyond defaults (before validation).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Upstream's `PrepareForUpdate`: what the server sets on an updated
    /// object from the stored one (before validation).
    fn prepare_for_update(&self, _obj: &mut Value, _old: &Value) {}

    /// The kind's own validation; `old` is the stored version on updates.
    /// The metadata every kind has is checked before (see [`validate`]).
    fn validate(&self, _obj: &Value, _old: Option<&Value>, _out: &mut Vec<Cause>) {}

    /// kubectl's columns for the kind.
    fn columns(&self) -> &'static [Col] {
        &[NAME, AGE]
    }

    /// One row of the kind's table.
    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        json!([
            s(&o["metadata"]["name"]),
            since(&o["metadata"]["creationTimestamp"], now)
        ])
    }
}

/// Sets `key` of the object `v` when it is absent or null.
pub(crate) fn set_default(v: &mut Value, key: &str, default: Value) {
    if v.is_object() && v.get(key).is_none_or(Value::is_null) {
        v[key] = default;
    }
}

/// Applies upstream's defaults to an object about to be stored.
pub(crate) fn apply_defaults(res: &ResourceDef, obj: &mut Value) {
    strategy(res).default(obj);
}

/// What the server sets on an object about to be created or updated
/// (`old`), beyond the defaults.
pub(crate) fn prepare(res: &ResourceDef, obj: &mut Value, old: Option<&Value>) {
    match old {
        None => strategy(res).prepare_for_create(obj),
        Some(old) => strategy(res).prepare_for_update(obj, old),
    }
}

/// Validates a name for a resource; upstream uses labels for namespaces,
/// DNS-1035 labels for services and subdomains for most others.
fn name_causes(rule: NameRule, name: &str, out: &mut Vec<Cause>) {
    let v = json!(name);
    let (ok, msg, max) = match rule {
        NameRule::Label => (valid_label(name), LABEL_MSG, 63),
        NameRule::Dns1035 => (valid_dns1035(name), DNS1035_MSG, 63),
        NameRule::Subdomain => (valid_subdomain(name), SUBDOMAIN_MSG, 253),
        NameRule::PathSegment => (
            !matches!(name, "." | "..") && !name.contains(['/', '%']),
            "may not be '.' or '..' and may not contain '/' or '%'",
            usize::MAX,
        ),
    };
    if name.len() > max {
        out.push(Cause::invalid(
            "metadata.name",
            &v,
            &format!("must be no more than {max} characters"),
        ));
    } else if !ok {
        out.push(Cause::invalid("metadata.name", &v, msg));
    }
}

/// Validates an object; `old` is the stored version on updates.
pub(crate) fn validate(res: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if name.is_empty() {
        out.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        });
        return out;
    }
    if old.is_none() {
        name_causes(strategy(res).name_rule(), name, &mut out);
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if !v.is_string() {
                out.push(Cause::invalid(
                    "metadata.labels".to_string(),
                    v,
                    "label values must be strings",
                ));
            } else if !valid_label_value(v.as_str().unwrap_or("")) {
                out.push(Cause::invalid(
                    "metadata.labels",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ));
            }
            if k.is_empty() {
                out.push(Cause::invalid(
                    "metadata.labels",
                    &json!(k),
                    "name part must be non-empty",
                ));
            }
        }
    }
    strategy(res).validate(obj, old, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::admission::admit_pod;
    use super::*;
    use crate::machinery::cluster::SERVICE_ACCOUNT_MOUNT;
    use crate::machinery::resources::{self};

    #[test]
    fn pod_defaults() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "d", "image": "nginx:1.27"}]}});
        apply_defaults(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(validate(&resources::PODS, &p, None).is_empty());
    }

    #[test]
    fn templates_get_pod_spec_defaults_only() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx:1.25",
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]});
        let mut d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}});
        apply_defaults(&resources::DEPLOYMENTS, &mut d);
        let t = &d["spec"]["template"]["spec"];
        for k in [
            "restartPolicy",
            "dnsPolicy",
            "schedulerName",
            "terminationGracePeriodSeconds",
            "securityContext",
        ] {
            assert!(!t[k].is_null(), "{k}");
        }
        for k in [
            "serviceAccountName",
            "serviceAccount",
            "priority",
            "preemptionPolicy",
            "enableServiceLinks",
            "tolerations",
            "volumes",
            "initContainers",
        ] {
            assert!(t.get(k).is_none(), "{k} in {t}");
        }
        assert_eq!(
            t["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert!(t["containers"][0].get("ports").is_none());

        let mut p = json!({"metadata": {"name": "p"}, "spec": spec.clone()});
        p["spec"]["tolerations"] = json!([{"key": "x", "operator": "Exists"}]);
        apply_defaults(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["spec"]["enableServiceLinks"], true);
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 3);
        assert!(p["spec"].get("volumes").is_none());
        admit_pod(&mut p);
        let vol = &p["spec"]["volumes"][0];
        assert!(
            vol["name"]
                .as_str()
                .unwrap()
                .starts_with("kube-api-access-")
        );
        assert_eq!(
            vol["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0],
            json!({"name": vol["name"], "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT})
        );
        let mut opted_out = json!({"metadata": {"name": "p"}, "spec": {"automountServiceAccountToken": false, "containers": [{"name": "c", "image": "i"}]}});
        admit_pod(&mut opted_out);
        assert!(opted_out["spec"].get("volumes").is_none());

        let mut pv = json!({"metadata": {"name": "v"}, "spec": {"hostPath": {"path": "/mnt/x"}}});
        apply_defaults(&resources::PVS, &mut pv);
        assert_eq!(pv["spec"]["hostPath"]["type"], "");
    }

    #[test]
    fn names_and_required_fields() {
        let p = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}});
        let causes = validate(&resources::PODS, &p, None);
        assert_eq!(causes[0].field, "metadata.name");
        assert!(causes.iter().any(|c| c.field == "spec.containers[0].image"));
        let pvc = json!({"metadata": {"name": "c"}, "spec": {}});
        let causes = validate(&resources::PVCS, &pvc, None);
        assert_eq!(causes.len(), 2);
    }
}
