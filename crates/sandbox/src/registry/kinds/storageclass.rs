//! StorageClass: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct StorageClasses;

impl Strategy for StorageClasses {
    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, "reclaimPolicy", json!("Delete"));
        set_default(obj, "volumeBindingMode", json!("Immediate"));
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        match obj["provisioner"].as_str() {
            None | Some("") => out.push(Cause::required("provisioner")),
            Some(p) => check_qualified(&p.to_lowercase(), p, "provisioner", out),
        }
        if let Some(params) = obj["parameters"].as_object() {
            if params.len() > 512 {
                out.push(Cause::too_long("parameters", 512));
            }
            if params.contains_key("") {
                out.push(Cause::invalid(
                    "parameters",
                    &json!(""),
                    "field can not be empty.",
                ));
            }
        }
        let reclaim = obj["reclaimPolicy"].as_str().unwrap_or("Delete");
        if reclaim != "Delete" && reclaim != "Retain" {
            out.push(Cause::unsupported(
                "reclaimPolicy",
                reclaim,
                &["Delete", "Retain"],
            ));
        }
        let mode = obj["volumeBindingMode"].as_str().unwrap_or("Immediate");
        if mode != "Immediate" && mode != "WaitForFirstConsumer" {
            out.push(Cause::unsupported(
                "volumeBindingMode",
                mode,
                &["Immediate", "WaitForFirstConsumer"],
            ));
        }
        if let Some(old) = old {
            // `ValidateStorageClassUpdate`: no `spec.` in these paths.
            for f in ["parameters", "provisioner", "reclaimPolicy"] {
                if obj[f] != old[f] {
                    out.push(Cause::forbidden(
                        f,
                        &format!("updates to {f} are forbidden."),
                    ));
                }
            }
            immutable(
                &obj["volumeBindingMode"],
                &old["volumeBindingMode"],
                "volumeBindingMode",
                out,
            );
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            AGE,
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let default = o["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
            == "true"
            || o["metadata"]["annotations"]["storageclass.beta.kubernetes.io/is-default-class"]
                == "true";
        let shown = if default {
            format!("{name} (default)")
        } else {
            name
        };
        let reclaim = if o["reclaimPolicy"].is_null() {
            "Delete".into()
        } else {
            s(&o["reclaimPolicy"])
        };
        let mode = if o["volumeBindingMode"].is_null() {
            "Immediate".into()
        } else {
            s(&o["volumeBindingMode"])
        };
        json!([
            shown,
            s(&o["provisioner"]),
            reclaim,
            mode,
            o["allowVolumeExpansion"].as_bool().unwrap_or(false),
            age,
        ])
    }
}
