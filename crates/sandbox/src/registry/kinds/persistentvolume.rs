//! PersistentVolume: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct PersistentVolumes;

impl Strategy for PersistentVolumes {
    fn default(&self, obj: &mut Value) {
        set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
        if obj["spec"]["hostPath"].is_object() {
            set_default(&mut obj["spec"]["hostPath"], "type", json!(""));
        }
        set_default(
            &mut obj["spec"],
            "persistentVolumeReclaimPolicy",
            json!("Retain"),
        );
        if obj["status"].is_null() {
            obj["status"] = json!({"phase": "Pending"});
        }
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        if spec["capacity"]["storage"].is_null() {
            out.push(Cause::required("spec.capacity"));
        }
        if spec["accessModes"].as_array().is_none_or(|a| a.is_empty()) {
            out.push(Cause::required("spec.accessModes"));
        }
        check_access_modes(&spec["accessModes"], "spec.accessModes", out);
        const SOURCES: &[&str] = &[
            "hostPath",
            "local",
            "nfs",
            "csi",
            "iscsi",
            "fc",
            "awsElasticBlockStore",
            "gcePersistentDisk",
            "azureDisk",
            "azureFile",
            "cephfs",
            "rbd",
            "cinder",
            "flexVolume",
            "glusterfs",
            "portworxVolume",
            "photonPersistentDisk",
            "quobyte",
            "scaleIO",
            "storageos",
            "vsphereVolume",
            "flocker",
        ];
        if !SOURCES.iter().any(|s| spec[*s].is_object()) {
            out.push(Cause {
                reason: "FieldValueRequired",
                field: "spec".into(),
                message: "Required value: must specify a volume type".into(),
            });
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Reason", "string", 0),
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
        let claim = if spec["claimRef"].is_object() {
            format!(
                "{}/{}",
                s(&spec["claimRef"]["namespace"]),
                s(&spec["claimRef"]["name"])
            )
        } else {
            String::new()
        };
        let phase = if terminating {
            "Terminating".to_string()
        } else {
            s(&st["phase"])
        };
        json!([
            name,
            s(&spec["capacity"]["storage"]),
            access_modes(&spec["accessModes"]),
            s(&spec["persistentVolumeReclaimPolicy"]),
            phase,
            claim,
            storage_class(o),
            unset(s(&spec["volumeAttributesClassName"])),
            s(&st["reason"]),
            age,
            unset(s(&spec["volumeMode"])),
        ])
    }
}
