//! Secret: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Secrets;

impl Strategy for Secrets {
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
