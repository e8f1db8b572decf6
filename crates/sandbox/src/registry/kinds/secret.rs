//! Secret: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Secrets;

impl Strategy for Secrets {
    /// `stringData` is write-only: each key overwrites the same key of
    /// `data` (base64-encoded), then it is dropped (upstream's
    /// `Convert_v1_Secret_To_core_Secret`).
    fn convert(&self, obj: &mut Value) {
        use base64::Engine as _;
        let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
            return;
        };
        let Some(entries) = string_data.as_object() else {
            return;
        };
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in entries {
            let text = v.as_str().unwrap_or("");
            obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }

    fn default(&self, obj: &mut Value) {
        if obj["type"].as_str().is_none_or(str::is_empty) {
            obj["type"] = json!("Opaque");
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Type", "string", 0), ("Data", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let n = o["data"].as_object().map_or(0, |m| m.len());
        json!([name, s(&o["type"]), n, age])
    }
}
