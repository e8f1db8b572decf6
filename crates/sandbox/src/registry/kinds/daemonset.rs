//! DaemonSet: what the registry does for this kind (defaults, validation,
//! the template generation annotation) and how kubectl prints it, as
//! upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct DaemonSets;

/// The annotation apps/v1 shows the internal `templateGeneration` as: 1 on
/// create, one more on every change of the pod template.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn set_generation(obj: &mut Value, generation: i64) {
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][TEMPLATE_GENERATION] = json!(generation.to_string());
}

/// The template generation an object carries (0 when it has none).
pub(crate) fn template_generation(obj: &Value) -> i64 {
    obj["metadata"]["annotations"][TEMPLATE_GENERATION]
        .as_str()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

fn go_strategy(us: &Value) -> String {
    let ru = &us["rollingUpdate"];
    let ru = if ru.is_null() {
        "(*apps.RollingUpdateDaemonSet)(nil)".to_string()
    } else {
        format!(
            "&apps.RollingUpdateDaemonSet{{MaxUnavailable:{}, MaxSurge:{}}}",
            ru["maxUnavailable"], ru["maxSurge"]
        )
    };
    format!(
        "apps.DaemonSetUpdateStrategy{{Type:{:?}, RollingUpdate:{ru}}}",
        us["type"].as_str().unwrap_or("")
    )
}

fn validate_update_strategy(us: &Value, out: &mut Vec<Cause>) {
    match us["type"].as_str().unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => {
            let ru = &us["rollingUpdate"];
            if ru.is_null() {
                out.push(Cause::required("spec.updateStrategy.rollingUpdate"));
                return;
            }
            let (mu, ms) = (&ru["maxUnavailable"], &ru["maxSurge"]);
            int_or_percent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", out);
            int_or_percent(ms, "spec.updateStrategy.rollingUpdate.maxSurge", out);
            match (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0) {
                (true, true) => out.push(Cause::invalid(
                    "spec.updateStrategy.rollingUpdate.maxSurge",
                    ms,
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => out.push(Cause {
                    reason: "FieldValueRequired",
                    field: "spec.updateStrategy.rollingUpdate.maxUnavailable".into(),
                    message: "Required value: cannot be 0 when maxSurge is 0".into(),
                }),
                _ => {}
            }
        }
        _ => {
            let list = "\"RollingUpdate\", \"OnDelete\"";
            out.push(Cause {
                reason: "FieldValueNotSupported",
                field: "spec.updateStrategy".into(),
                message: format!(
                    "Unsupported value: {}: supported values: {list}",
                    go_strategy(us)
                ),
            });
        }
    }
}

impl Strategy for DaemonSets {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if !spec.is_object() {
            return;
        }
        if !spec["updateStrategy"].is_object() {
            spec["updateStrategy"] = json!({});
        }
        let us = &mut spec["updateStrategy"];
        if us["type"].as_str().is_none_or(str::is_empty) {
            us["type"] = json!("RollingUpdate");
        }
        if us["type"] == "RollingUpdate" {
            set_default(us, "rollingUpdate", json!({}));
            set_default(&mut us["rollingUpdate"], "maxUnavailable", json!(1));
            set_default(&mut us["rollingUpdate"], "maxSurge", json!(0));
        }
        set_default(spec, "revisionHistoryLimit", json!(10));
        default_template(&mut spec["template"]);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        set_generation(obj, 1);
    }

    fn prepare_for_update(&self, obj: &mut Value, old: &Value) {
        let mut generation = template_generation(old).max(1);
        if obj["spec"]["template"] != old["spec"]["template"] {
            generation += 1;
        }
        set_generation(obj, generation);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        let sel = &spec["selector"];
        if sel.is_null() {
            out.push(Cause::required("spec.selector"));
        } else {
            if !selector_matches_template(spec) {
                out.push(invalid_go(
                    "spec.template.metadata.labels",
                    go_map(&spec["template"]["metadata"]["labels"])
                        .as_str()
                        .unwrap_or(""),
                    "`selector` does not match template `labels`",
                ));
            }
            if sel["matchLabels"].as_object().is_none_or(|m| m.is_empty())
                && sel["matchExpressions"]
                    .as_array()
                    .is_none_or(|m| m.is_empty())
            {
                out.push(invalid_go(
                    "spec.selector",
                    "&v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}",
                    "empty selector is invalid for daemonset",
                ));
            }
        }
        let pod = &spec["template"]["spec"];
        validate_pod_spec(pod, "spec.template.spec", out);
        let rp = pod["restartPolicy"].as_str().unwrap_or("Always");
        if rp != "Always" {
            out.push(Cause::unsupported(
                "spec.template.spec.restartPolicy",
                rp,
                &["Always"],
            ));
        }
        if !pod["activeDeadlineSeconds"].is_null() {
            out.push(Cause::invalid(
                "spec.template.spec.activeDeadlineSeconds",
                &pod["activeDeadlineSeconds"],
                "activeDeadlineSeconds in DaemonSet is not Supported",
            ));
        }
        nonnegative(&spec["minReadySeconds"], "spec.minReadySeconds", out);
        validate_update_strategy(&spec["updateStrategy"], out);
        nonnegative(
            &spec["revisionHistoryLimit"],
            "spec.revisionHistoryLimit",
            out,
        );
        if let Some(old) = old
            && old["spec"]["selector"] != spec["selector"]
        {
            out.push(Cause::invalid(
                "spec.selector",
                &go_selector(&spec["selector"]),
                "field is immutable",
            ));
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let spec = &o["spec"];
        let st = &o["status"];
        let (c, i, sel) = template_columns(spec);
        json!([
            s(&o["metadata"]["name"]),
            int(&st["desiredNumberScheduled"]),
            int(&st["currentNumberScheduled"]),
            int(&st["numberReady"]),
            int(&st["updatedNumberScheduled"]),
            int(&st["numberAvailable"]),
            or_none(format_labels(&spec["template"]["spec"]["nodeSelector"])),
            since(&o["metadata"]["creationTimestamp"], now),
            c,
            i,
            sel,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::machinery::resources;
    use crate::registry::{apply_defaults, validate};
    use serde_json::json;

    fn ds() -> serde_json::Value {
        json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }

    #[test]
    fn defaults_and_strategy_errors() {
        let mut d = ds();
        apply_defaults(&resources::DAEMON_SETS, &mut d);
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert!(validate(&resources::DAEMON_SETS, &d, None).is_empty());
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 1, "maxSurge": 1});
        let c = validate(&resources::DAEMON_SETS, &d, None);
        assert_eq!(
            format!("{}: {}", c[0].field, c[0].message),
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"
        );
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": 0});
        let c = validate(&resources::DAEMON_SETS, &d, None);
        assert_eq!(
            c[0].message,
            "Required value: cannot be 0 when maxSurge is 0"
        );
    }
}
