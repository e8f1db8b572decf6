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

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        let storage = &spec["capacity"]["storage"];
        if spec["capacity"].as_object().is_none_or(|c| c.is_empty()) {
            out.push(Cause::required("spec.capacity"));
        } else if storage.is_null() {
            out.push(Cause::unsupported("spec.capacity", "", &["storage"]));
        } else {
            positive_quantity(storage, "spec.capacity[storage]", out);
        }
        validate_access_modes(&spec["accessModes"], "spec.accessModes", Some(""), out);
        if let Some(p) = spec["persistentVolumeReclaimPolicy"].as_str()
            && !["Delete", "Recycle", "Retain"].contains(&p)
        {
            out.push(Cause::unsupported(
                "spec.persistentVolumeReclaimPolicy",
                p,
                &["Delete", "Recycle", "Retain"],
            ));
        }
        let src = one_of(
            spec,
            SOURCES,
            "spec",
            "must specify a volume type",
            "may not specify more than 1 volume type",
            out,
        );
        if let Some(src) = src {
            volume_source(spec, src, "spec", out);
        }
        if src == Some("local") {
            if spec["local"]["path"].as_str().is_none_or(str::is_empty) {
                out.push(Cause::required("spec.local.path"));
            }
            if spec["nodeAffinity"].is_null() {
                out.push(Cause::required_because(
                    "spec.nodeAffinity",
                    "Local volume requires node affinity",
                ));
            }
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
        super::persistentvolumeclaim::volume_mode(&spec["volumeMode"], "spec.volumeMode", out);
        if let Some(old) = old {
            // The volume's source never changes; its node affinity only
            // from none.
            let source = |v: &Value| {
                SOURCES
                    .iter()
                    .map(|s| v["spec"][*s].clone())
                    .collect::<Vec<_>>()
            };
            if source(obj) != source(old) {
                out.push(Cause::forbidden(
                    "spec.persistentvolumesource",
                    "spec.persistentvolumesource is immutable after creation",
                ));
            }
            if spec["volumeMode"] != old["spec"]["volumeMode"] {
                out.push(Cause::invalid(
                    "volumeMode",
                    &spec["volumeMode"],
                    "field is immutable",
                ));
            }
            if !old["spec"]["nodeAffinity"].is_null() {
                immutable(
                    &spec["nodeAffinity"],
                    &old["spec"]["nodeAffinity"],
                    "spec.nodeAffinity",
                    out,
                );
            }
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

/// A persistent volume's possible sources (`PersistentVolumeSource`).
const SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "nfs",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "iscsi",
    "fc",
    "flocker",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];
