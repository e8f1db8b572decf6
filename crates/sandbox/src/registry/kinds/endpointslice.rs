//! EndpointSlice: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct EndpointSlices;

impl Strategy for EndpointSlices {
    fn has_generation(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("AddressType", "string", 0),
            ("Ports", "string", 0),
            ("Endpoints", "string", 0),
            AGE,
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let ports: Vec<String> = arr(&o["ports"])
            .iter()
            .filter(|p| !p["port"].is_null())
            .map(|p| int(&p["port"]).to_string())
            .collect();
        let mut addrs: Vec<String> = Vec::new();
        let mut total = 0;
        for e in arr(&o["endpoints"]) {
            for a in arr(&e["addresses"]) {
                if addrs.len() < 3 {
                    addrs.push(s(a));
                }
                total += 1;
            }
        }
        let mut eps = addrs.join(",");
        if total > 3 {
            eps = format!("{eps} + {} more...", total - 3);
        }
        json!([
            name,
            s(&o["addressType"]),
            unset(ports.join(",")),
            unset(eps),
            age
        ])
    }
}
