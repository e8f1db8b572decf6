//! StatefulSet: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.
//! Unlike a Deployment's, the pod template's spec is not validated here
//! (its volume mounts may name claim templates, not volumes): a bad
//! template shows as the controller's `FailedCreate` event, as upstream.

use super::prelude::*;

pub(crate) struct StatefulSets;

/// The fields an update may change; everything else in the spec is fixed.
const MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// A claim template as upstream stores it: a whole PersistentVolumeClaim
/// with its defaults (`volumeMode`, `status.phase`).
fn default_claim_template(t: &mut Value) {
    if !t.is_object() {
        return;
    }
    set_default(t, "apiVersion", json!("v1"));
    set_default(t, "kind", json!("PersistentVolumeClaim"));
    if t["spec"].is_object() {
        set_default(&mut t["spec"], "volumeMode", json!("Filesystem"));
    }
    set_default(t, "status", json!({"phase": "Pending"}));
}

/// Go's `%#v` of an `*intstr.IntOrString`.
fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::Null => "(*intstr.IntOrString)(nil)".into(),
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// Go's `%#v` of an `*apps.RollingUpdateStatefulSetStrategy`.
fn go_rolling_update(ru: &Value) -> String {
    format!(
        "&apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
        ru["partition"].as_i64().unwrap_or(0),
        go_int_or_string(&ru["maxUnavailable"])
    )
}

fn validate_update_strategy(spec: &Value, out: &mut Vec<Cause>) {
    let us = &spec["updateStrategy"];
    let ru = &us["rollingUpdate"];
    match us["type"].as_str().unwrap_or("") {
        "" => out.push(Cause::required("spec.updateStrategy")),
        "OnDelete" => {
            if !ru.is_null() {
                out.push(invalid_go(
                    "spec.updateStrategy.rollingUpdate",
                    &go_rolling_update(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            nonnegative(
                &ru["partition"],
                "spec.updateStrategy.rollingUpdate.partition",
                out,
            );
            let mu = &ru["maxUnavailable"];
            let path = "spec.updateStrategy.rollingUpdate.maxUnavailable";
            if !mu.is_null() {
                int_or_percent(mu, path, out);
                if int_or_percent_value(mu) == 0 {
                    out.push(Cause::invalid(path, mu, "cannot be 0"));
                }
            }
        }
        other => out.push(invalid_go(
            "spec.updateStrategy",
            &format!(
                "apps.StatefulSetUpdateStrategy{{Type:\"{other}\", RollingUpdate:{}}}",
                if ru.is_null() {
                    "(*apps.RollingUpdateStatefulSetStrategy)(nil)".to_string()
                } else {
                    go_rolling_update(ru)
                }
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
}

impl Strategy for StatefulSets {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if !spec.is_object() {
            return;
        }
        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        // A type given without rollingUpdate stays without it (upstream
        // only fills in the whole strategy when the type is missing).
        if spec["updateStrategy"]["type"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            if !spec["updateStrategy"].is_object() {
                spec["updateStrategy"] = json!({});
            }
            spec["updateStrategy"]["type"] = json!("RollingUpdate");
            set_default(&mut spec["updateStrategy"], "rollingUpdate", json!({}));
        }
        if spec["updateStrategy"]["type"] == "RollingUpdate"
            && spec["updateStrategy"]["rollingUpdate"].is_object()
        {
            set_default(
                &mut spec["updateStrategy"]["rollingUpdate"],
                "partition",
                json!(0),
            );
        }
        set_default(spec, "persistentVolumeClaimRetentionPolicy", json!({}));
        let policy = &mut spec["persistentVolumeClaimRetentionPolicy"];
        for k in ["whenDeleted", "whenScaled"] {
            if policy[k].as_str().is_none_or(str::is_empty) {
                policy[k] = json!("Retain");
            }
        }
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        default_template(&mut spec["template"]);
        if let Some(ts) = spec
            .get_mut("volumeClaimTemplates")
            .and_then(Value::as_array_mut)
        {
            for t in ts {
                default_claim_template(t);
            }
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        match spec["podManagementPolicy"].as_str().unwrap_or("") {
            "" => out.push(Cause::required("spec.podManagementPolicy")),
            "OrderedReady" | "Parallel" => {}
            p => out.push(Cause::invalid(
                "spec.podManagementPolicy",
                &json!(p),
                "must be 'OrderedReady' or 'Parallel'",
            )),
        }
        validate_update_strategy(spec, out);
        let policy = &spec["persistentVolumeClaimRetentionPolicy"];
        for k in ["whenDeleted", "whenScaled"] {
            let v = policy[k].as_str().unwrap_or("");
            if v != "Retain" && v != "Delete" {
                out.push(Cause::unsupported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{k}"),
                    v,
                    &["Delete", "Retain"],
                ));
            }
        }
        nonnegative(&spec["replicas"], "spec.replicas", out);
        nonnegative(&spec["minReadySeconds"], "spec.minReadySeconds", out);
        nonnegative(&spec["ordinals"]["start"], "spec.ordinals.start", out);
        let sel = &spec["selector"];
        if sel.is_null() {
            out.push(Cause::required("spec.selector"));
        } else if sel["matchLabels"].as_object().is_none_or(|m| m.is_empty())
            && sel["matchExpressions"]
                .as_array()
                .is_none_or(|m| m.is_empty())
        {
            out.push(invalid_go(
                "spec.selector",
                "&v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
                "empty selector is invalid for statefulset",
            ));
        } else if !selector_matches_template(spec) {
            out.push(invalid_go(
                "spec.template.metadata.labels",
                go_map(&spec["template"]["metadata"]["labels"])
                    .as_str()
                    .unwrap_or(""),
                "`selector` does not match template `labels`",
            ));
        }
        let pod = &spec["template"]["spec"];
        let rp = pod["restartPolicy"].as_str().unwrap_or("Always");
        if rp != "Always" {
            out.push(Cause::unsupported(
                "spec.template.spec.restartPolicy",
                rp,
                &["Always"],
            ));
        }
        if !pod["activeDeadlineSeconds"].is_null() {
            out.push(Cause::forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in StatefulSet is not Supported",
            ));
        }
        if let Some(old) = old {
            let fixed = |v: &Value| {
                let mut s = v["spec"].clone();
                if let Some(m) = s.as_object_mut() {
                    for k in MUTABLE {
                        m.remove(*k);
                    }
                }
                s
            };
            if fixed(obj) != fixed(old) {
                out.push(Cause::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Ready", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let spec = &o["spec"];
        let (c, i, _) = template_columns(spec);
        json!([
            s(&o["metadata"]["name"]),
            format!(
                "{}/{}",
                int(&o["status"]["readyReplicas"]),
                int(&spec["replicas"])
            ),
            since(&o["metadata"]["creationTimestamp"], now),
            c,
            i,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::machinery::resources;
    use crate::registry::{apply_defaults, validate};
    use serde_json::json;

    fn sts() -> serde_json::Value {
        json!({"metadata": {"name": "db"}, "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "postgres",
                    "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    }

    #[test]
    fn defaults_and_a_valid_set() {
        let mut s = sts();
        apply_defaults(&resources::STATEFUL_SETS, &mut s);
        let spec = &s["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        let t = &spec["volumeClaimTemplates"][0];
        assert_eq!(t["kind"], "PersistentVolumeClaim");
        assert_eq!(t["spec"]["volumeMode"], "Filesystem");
        assert_eq!(t["status"]["phase"], "Pending");
        // The template's mounts name a claim template, not a volume: fine.
        assert!(validate(&resources::STATEFUL_SETS, &s, None).is_empty());
        let mut on_delete = sts();
        on_delete["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        apply_defaults(&resources::STATEFUL_SETS, &mut on_delete);
        assert!(on_delete["spec"]["updateStrategy"]["rollingUpdate"].is_null());
    }

    #[test]
    fn errors_as_upstream_words_them() {
        let mut s = sts();
        s["spec"]["podManagementPolicy"] = json!("Sometimes");
        s["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Keep"});
        s["spec"]["replicas"] = json!(-1);
        s["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        s["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
        apply_defaults(&resources::STATEFUL_SETS, &mut s);
        let msgs: Vec<String> = validate(&resources::STATEFUL_SETS, &s, None)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'",
                "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Delete\", \"Retain\"",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ]
        );
    }

    #[test]
    fn only_some_fields_change() {
        let mut old = sts();
        apply_defaults(&resources::STATEFUL_SETS, &mut old);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        new["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] = json!("Delete");
        assert!(validate(&resources::STATEFUL_SETS, &new, Some(&old)).is_empty());
        new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("2Gi");
        let causes = validate(&resources::STATEFUL_SETS, &new, Some(&old));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec");
        assert!(causes[0].message.starts_with(
            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals'"
        ));
    }
}
