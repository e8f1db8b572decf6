//! Deployment: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Deployments;

impl Strategy for Deployments {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if spec.is_object() {
            set_default(spec, "replicas", json!(1));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            if spec["strategy"]["type"] == "RollingUpdate" {
                set_default(&mut spec["strategy"], "rollingUpdate", json!({}));
                set_default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                set_default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            default_template(&mut spec["template"]);
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        validate_replicated(obj, old, out);
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let spec = &o["spec"];
        let st = &o["status"];
        let (c, i, sel) = template_columns(spec);
        json!([
            name,
            format!("{}/{}", int(&st["readyReplicas"]), int(&spec["replicas"])),
            int(&st["updatedReplicas"]),
            int(&st["availableReplicas"]),
            age,
            c,
            i,
            sel,
        ])
    }
}
