//! Event: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Events;

impl Strategy for Events {
    fn columns(&self) -> &'static [Col] {
        &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let mut first = since(&o["firstTimestamp"], now);
        if o["firstTimestamp"].is_null() {
            first = since(&o["eventTime"], now);
        }
        let mut last = since(&o["lastTimestamp"], now);
        if o["lastTimestamp"].is_null() {
            last = first.clone();
        }
        let mut count = int(&o["count"]);
        if o["series"].is_object() {
            last = since(&o["series"]["lastObservedTime"], now);
            count = int(&o["series"]["count"]);
        } else if count == 0 {
            count = 1;
        }
        let io = &o["involvedObject"];
        let kind = s(&io["kind"]).to_lowercase();
        let target = if s(&io["name"]).is_empty() {
            kind
        } else {
            format!("{kind}/{}", s(&io["name"]))
        };
        let mut source = s(&o["source"]["component"]);
        if source.is_empty() {
            source = s(&o["reportingComponent"]);
        }
        let host = s(&o["source"]["host"]);
        if !host.is_empty() {
            source = format!("{source}, {host}");
        }
        json!([
            last,
            s(&o["type"]),
            s(&o["reason"]),
            target,
            s(&io["fieldPath"]),
            source,
            s(&o["message"]).trim(),
            first,
            count,
            name,
        ])
    }
}
