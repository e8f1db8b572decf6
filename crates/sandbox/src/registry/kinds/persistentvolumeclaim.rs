//! PersistentVolumeClaim: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct PersistentVolumeClaims;

impl Strategy for PersistentVolumeClaims {
    fn default(&self, obj: &mut Value) {
        set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
        if obj["status"].is_null() {
            obj["status"] = json!({"phase": "Pending"});
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        if spec["accessModes"].as_array().is_none_or(|a| a.is_empty()) {
            out.push(Cause {
                reason: "FieldValueRequired",
                field: "spec.accessModes".into(),
                message: "Required value: at least 1 access mode is required".into(),
            });
        }
        check_access_modes(&spec["accessModes"], "spec.accessModes", out);
        if spec["resources"]["requests"]["storage"].is_null() && spec["dataSource"].is_null() {
            out.push(Cause::required("spec.resources[storage]"));
        }
        if let Some(old) = old {
            let strip = |v: &Value| {
                let mut s = v["spec"].clone();
                s["resources"]["requests"] = Value::Null;
                if old["spec"]["volumeName"].is_null() {
                    s["volumeName"] = Value::Null;
                }
                s
            };
            if strip(obj) != strip(old) {
                out.push(Cause::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let terminating = !o["metadata"]["deletionTimestamp"].is_null();
        let spec = &o["spec"];
        let st = &o["status"];
        let phase = if terminating {
            "Terminating".to_string()
        } else {
            s(&st["phase"])
        };
        let bound = !s(&spec["volumeName"]).is_empty();
        let (cap, modes) = if bound {
            (
                s(&st["capacity"]["storage"]),
                access_modes(&st["accessModes"]),
            )
        } else {
            (String::new(), String::new())
        };
        json!([
            name,
            phase,
            s(&spec["volumeName"]),
            cap,
            modes,
            storage_class(o),
            unset(s(&spec["volumeAttributesClassName"])),
            age,
            unset(s(&spec["volumeMode"])),
        ])
    }
}
