//! ServiceAccount: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct ServiceAccounts;

impl Strategy for ServiceAccounts {
    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Secrets", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        json!([name, arr(&o["secrets"]).len(), age])
    }
}
