//! Namespace: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Namespaces;

impl Strategy for Namespaces {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn default(&self, obj: &mut Value) {
        let name = obj["metadata"]["name"].clone();
        if !obj["metadata"]["labels"].is_object() {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        set_default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
        if obj["status"].is_null() {
            obj["status"] = json!({"phase": "Active"});
        }
    }

    /// A namespace being deleted turns `Terminating`; the namespace
    /// controller empties it and then removes its `kubernetes` finalizer.
    fn prepare_for_delete(&self, obj: &mut Value) {
        obj["status"]["phase"] = json!("Terminating");
    }

    fn finalized(&self, obj: &Value) -> bool {
        obj["spec"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())
    }

    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Status", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let st = &o["status"];
        json!([name, s(&st["phase"]), age])
    }
}
