//! Lease: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Leases;

impl Strategy for Leases {
    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Holder", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let spec = &o["spec"];
        json!([name, s(&spec["holderIdentity"]), age])
    }
}
