//! Endpoints: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Endpoints;

impl Strategy for Endpoints {
    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Endpoints", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        json!([name, format_endpoints(o), age])
    }
}

fn format_endpoints(o: &Value) -> String {
    let subsets = arr(&o["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for ss in subsets {
        for p in arr(&ss["ports"]) {
            for a in arr(&ss["addresses"]) {
                if list.len() < 3 {
                    list.push(format!("{}:{}", s(&a["ip"]), int(&p["port"])));
                }
                count += 1;
            }
        }
    }
    let joined = list.join(",");
    if count > 3 {
        format!("{joined} + {} more...", count - 3)
    } else {
        or_none(joined)
    }
}
