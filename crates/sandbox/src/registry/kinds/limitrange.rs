//! LimitRange: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct LimitRanges;

impl Strategy for LimitRanges {
    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Created At", "date", 0)]
    }

    fn cells(&self, o: &Value, _now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        json!([name, s(&o["metadata"]["creationTimestamp"])])
    }
}
