//! ConfigMap: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct ConfigMaps;

impl Strategy for ConfigMaps {
    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let mut total = 0;
        for (k, v) in obj["data"].as_object().into_iter().flatten() {
            config_key(k, "data", out);
            total += v.as_str().map_or(0, str::len);
            if obj["binaryData"].get(k).is_some() {
                out.push(Cause::invalid(
                    format!("data[{k}]"),
                    &json!(k),
                    "duplicate of key present in binaryData",
                ));
            }
        }
        for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
            config_key(k, "binaryData", out);
            total += decoded_len(v.as_str().unwrap_or(""));
        }
        if total > MAX_DATA_BYTES {
            // Upstream reports this on the root path, printed `[]`.
            out.push(Cause::too_long("[]", MAX_DATA_BYTES));
        }
        if let Some(old) = old {
            immutable_data(obj, old, &["data", "binaryData"], out);
        }
    }

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
