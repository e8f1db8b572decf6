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
        validate_access_modes(
            &spec["accessModes"],
            "spec.accessModes",
            Some("at least 1 access mode is required"),
            out,
        );
        let storage = &spec["resources"]["requests"]["storage"];
        if storage.is_null() {
            out.push(Cause::required("spec.resources[storage]"));
        } else {
            positive_quantity(storage, "spec.resources[storage]", out);
        }
        if let Some(class) = spec["storageClassName"].as_str()
            && !class.is_empty()
            && !valid_subdomain(class)
        {
            out.push(Cause::invalid(
                "spec.storageClassName",
                &json!(class),
                SUBDOMAIN_MSG,
            ));
        }
        volume_mode(&spec["volumeMode"], "spec.volumeMode", out);
        if let Some(old) = old {
            validate_update(obj, old, out);
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

/// `volumeMode` is Block or Filesystem.
pub(crate) fn volume_mode(v: &Value, field: &str, out: &mut Vec<Cause>) {
    if let Some(m) = v.as_str()
        && m != "Block"
        && m != "Filesystem"
    {
        out.push(Cause::unsupported(field, m, &["Block", "Filesystem"]));
    }
}

/// `dst[key]` becomes `src[key]`, absent when that is.
fn copy_field(dst: &mut Value, src: &Value, key: &str) {
    match src.get(key) {
        Some(v) if !v.is_null() => dst[key] = v.clone(),
        _ => {
            if let Some(m) = dst.as_object_mut() {
                m.remove(key);
            }
        }
    }
}

/// What a claim's update may change (`ValidatePersistentVolumeClaimUpdate`):
/// the volume name once, the class once when it had none, the storage
/// request of a bound claim (never to or below its capacity); the rest
/// of the spec is immutable.
fn validate_update(obj: &Value, old: &Value, out: &mut Vec<Cause>) {
    let (spec, old_spec) = (&obj["spec"], &old["spec"]);
    let mut new_clone = spec.clone();
    let mut old_clone = old_spec.clone();
    if old_spec["volumeName"].as_str().is_none_or(str::is_empty) {
        copy_field(&mut old_clone, spec, "volumeName");
    }
    let beta = "volume.beta.kubernetes.io/storage-class";
    let old_beta = &old["metadata"]["annotations"][beta];
    if old_spec["storageClassName"].is_null()
        && (old_beta.is_null() || *old_beta == spec["storageClassName"])
    {
        copy_field(&mut old_clone, spec, "storageClassName");
    }
    if !old_beta.is_null() && obj["metadata"]["annotations"][beta] != *old_beta {
        out.push(Cause::invalid(
            format!("metadata.annotations[{beta}]"),
            &obj["metadata"]["annotations"][beta],
            "field is immutable",
        ));
    }
    if obj["status"]["phase"] == "Bound" {
        if new_clone["resources"]["requests"].is_object() {
            copy_field(
                &mut new_clone["resources"]["requests"],
                &old_spec["resources"]["requests"],
                "storage",
            );
        }
        copy_field(&mut new_clone, old_spec, "volumeAttributesClassName");
    }
    if new_clone != old_clone {
        out.push(Cause::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    let size = |v: &Value| quantity(&v["resources"]["requests"]["storage"]);
    if let (Some(n), Some(o)) = (size(spec), size(old_spec))
        && n < o
    {
        // Down to, not to or below, what the volume has (recovery from a
        // failed expansion); Kubernetes never shrinks a volume.
        let capacity = quantity(&old["status"]["capacity"]["storage"]).unwrap_or(0.0);
        if n <= capacity {
            out.push(Cause::forbidden(
                "spec.resources.requests.storage",
                "field can not be less than status.capacity",
            ));
        }
    }
    if spec["volumeMode"] != old_spec["volumeMode"] {
        out.push(Cause::invalid(
            "volumeMode",
            &spec["volumeMode"],
            "field is immutable",
        ));
    }
}
