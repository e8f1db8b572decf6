//! ReplicaSet: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct ReplicaSets;

impl Strategy for ReplicaSets {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if spec.is_object() {
            set_default(spec, "replicas", json!(1));
            default_template(&mut spec["template"]);
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        validate_replicated(obj, old, out);
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
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
            int(&spec["replicas"]),
            int(&st["replicas"]),
            int(&st["readyReplicas"]),
            age,
            c,
            i,
            sel
        ])
    }
}
