//! ConfigMap: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct ConfigMaps;

impl Strategy for ConfigMaps {
    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Data", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let n = o["data"].as_object().map_or(0, |m| m.len())
            + o["binaryData"].as_object().map_or(0, |m| m.len());
        json!([name, n, age])
    }
}
