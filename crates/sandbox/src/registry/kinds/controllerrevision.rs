//! ControllerRevision: the pod templates StatefulSets and DaemonSets have
//! had (`kubectl rollout history` and `undo` read them). Their data is
//! fixed once written; kubectl prints the controller and the revision.

use super::prelude::*;

pub(crate) struct ControllerRevisions;

impl Strategy for ControllerRevisions {
    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        if obj["data"].is_null() {
            out.push(Cause {
                reason: "FieldValueRequired",
                field: "data".into(),
                message: "Required value: data is mandatory".into(),
            });
        }
        nonnegative(&obj["revision"], "revision", out);
        if let Some(old) = old
            && old["data"] != obj["data"]
        {
            out.push(Cause::invalid("data", &obj["data"], "field is immutable"));
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Controller", "string", 0),
            ("Revision", "integer", 0),
            AGE,
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let controller = arr(&o["metadata"]["ownerReferences"])
            .iter()
            .find(|r| r["controller"] == true)
            .map(|r| {
                let group = s(&r["apiVersion"])
                    .rsplit_once('/')
                    .map(|(g, _)| g.to_string())
                    .unwrap_or_default();
                let kind = s(&r["kind"]).to_lowercase();
                let kind = if group.is_empty() {
                    kind
                } else {
                    format!("{kind}.{group}")
                };
                format!("{kind}/{}", s(&r["name"]))
            })
            .unwrap_or_else(|| "<none>".into());
        json!([
            s(&o["metadata"]["name"]),
            controller,
            int(&o["revision"]),
            since(&o["metadata"]["creationTimestamp"], now),
        ])
    }
}
