//! Node: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Nodes;

impl Strategy for Nodes {
    /// Nodes may set their whole status on create.
    fn keeps_status_on_create(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let spec = &o["spec"];
        let st = &o["status"];
        let ready = arr(&st["conditions"]).iter().find(|c| c["type"] == "Ready");
        let mut status = match ready.map(|c| s(&c["status"])) {
            Some(x) if x == "True" => "Ready".to_string(),
            Some(x) if x == "False" => "NotReady".to_string(),
            _ => "Unknown".to_string(),
        };
        if spec["unschedulable"] == json!(true) {
            status.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = o["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                            (!r.is_empty()).then(|| r.to_string())
                        } else if k == "kubernetes.io/role" {
                            Some(s(v))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        let addr = |t: &str| {
            arr(&st["addresses"])
                .iter()
                .find(|a| a["type"] == t)
                .map(|a| s(&a["address"]))
                .unwrap_or_default()
        };
        let info = &st["nodeInfo"];
        json!([
            name,
            status,
            or_none(roles.join(",")),
            age,
            s(&info["kubeletVersion"]),
            or_none(addr("InternalIP")),
            or_none(addr("ExternalIP")),
            or_none(s(&info["osImage"])),
            or_none(s(&info["kernelVersion"])),
            or_none(s(&info["containerRuntimeVersion"])),
        ])
    }
}
