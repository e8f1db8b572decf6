//! ResourceQuota: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct ResourceQuotas;

impl Strategy for ResourceQuotas {
    fn columns(&self) -> &'static [Col] {
        &[NAME, AGE, ("Request", "string", 0), ("Limit", "string", 0)]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let st = &o["status"];
        let pairs = |prefix: bool| {
            let hard = st["hard"].as_object();
            let used = &st["used"];
            let mut out: Vec<String> = hard
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.starts_with("limits.") == prefix)
                .map(|(k, v)| format!("{k}: {}/{}", s(&used[k]).if_empty("0"), s(v)))
                .collect();
            out.sort();
            out.join(", ")
        };
        json!([name, age, pairs(false), pairs(true)])
    }
}
