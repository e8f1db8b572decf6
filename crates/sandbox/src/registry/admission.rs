//! Admission: what upstream's admission plugins do to a request after
//! defaulting — the ServiceAccount plugin's token volume on new pods.

use serde_json::{Value, json};

use crate::machinery::cluster::{ROOT_CA_CONFIGMAP, SERVICE_ACCOUNT_MOUNT};

/// What the ServiceAccount admission plugin adds to a new pod: the
/// `kube-api-access-xxxxx` projected volume (token, CA, namespace) mounted
/// read-only in every container, unless automountServiceAccountToken is
/// false or a container already mounts something there.
pub(crate) fn admit_pod(pod: &mut Value) {
    let spec = &mut pod["spec"];
    if !spec.is_object() || spec["automountServiceAccountToken"] == json!(false) {
        return;
    }
    let has_mount = |spec: &Value| {
        ["containers", "initContainers"].iter().any(|l| {
            spec[*l].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["volumeMounts"].as_array().is_some_and(|ms| {
                        ms.iter().any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT)
                    })
                })
            })
        })
    };
    if has_mount(spec) {
        return;
    }
    let name = format!(
        "kube-api-access-{}",
        crate::machinery::names::random_suffix(5)
    );
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(vols) => vols.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
    let mount = json!({"name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT});
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    Some(ms) => ms.push(mount.clone()),
                    None => c["volumeMounts"] = json!([mount.clone()]),
                }
            }
        }
    }
}
