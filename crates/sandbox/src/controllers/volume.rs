//! The persistent-volume controller and the local-path provisioner:
//! binding claims to volumes (static PVs by class, access modes, capacity
//! and selector, smallest first), provisioning for `Immediate` classes at
//! once and for `WaitForFirstConsumer` ones once the scheduler picked the
//! node, reclaiming (Delete removes the PV and its data, Retain leaves it
//! `Released`), and the `pvc-protection` / `pv-protection` finalizers.

use crate::machinery::resources;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::{is_terminating, quantity, uid_of};
use crate::machinery::meta::{name_of, namespace_of};
use crate::machinery::selectors::LabelSelector;
use crate::registry::deletion::DeleteOptions;
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

/// The PV controller's resync period: its events about a claim that still
/// waits are emitted again at this pace (`x3 over 30s`).
const RESYNC: std::time::Duration = std::time::Duration::from_secs(15);

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
/// Set by the scheduler on a WaitForFirstConsumer claim.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Provisioners the sandbox emulates (kind's, minikube's, its own).
const PROVISIONERS: &[&str] = &[
    "rancher.io/local-path",
    "kubetutor.dev/local-path",
    "k8s.io/minikube-hostpath",
];

pub fn reconcile(rt: &Arc<Runtime>) {
    protect(rt);
    let (claims, _) = rt.store.list(&resources::PVCS, None);
    for c in claims {
        if !is_terminating(&c) {
            sync_claim(rt, &c);
        }
    }
    let (pvs, _) = rt.store.list(&resources::PVS, None);
    for pv in pvs {
        sync_volume(rt, &pv);
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn with_finalizers(obj: &Value, f: Vec<String>) -> Value {
    let mut n = obj.clone();
    n["metadata"]["finalizers"] = json!(f);
    if f.is_empty()
        && let Some(m) = n["metadata"].as_object_mut()
    {
        m.remove("finalizers");
    }
    n
}

/// Whether a pod uses claim `ns/name`, as the pvc-protection controller
/// counts them: every pod scheduled to a node, whatever its phase (a
/// Completed pod still holds its claim), and no unscheduled one.
pub fn claim_in_use(rt: &Runtime, ns: &str, name: &str) -> bool {
    let (pods, _) = rt.store.list_stored(&resources::PODS, Some(ns));
    pods.iter()
        .filter(|p| p.facts.claims && !p.facts.node.is_empty())
        .any(|p| uses_claim(&p.value(), name))
}

/// Whether a pod has a volume from claim `name` (in its namespace).
pub fn uses_claim(pod: &Value, name: &str) -> bool {
    pod["spec"]["volumes"].as_array().is_some_and(|vs| {
        vs.iter()
            .any(|v| v["persistentVolumeClaim"]["claimName"].as_str() == Some(name))
    })
}

/// Adds the protection finalizers, and removes them once it is safe.
fn protect(rt: &Runtime) {
    let pvc_res = &resources::PVCS;
    let (claims, _) = rt.store.list(pvc_res, None);
    for c in claims {
        let mut f = finalizers(&c);
        let has = f.iter().any(|x| x == PVC_PROTECTION);
        if !is_terminating(&c) && !has {
            f.push(PVC_PROTECTION.to_string());
            rt.put(pvc_res, with_finalizers(&c, f));
        } else if is_terminating(&c) && has && !claim_in_use(rt, namespace_of(&c), name_of(&c)) {
            f.retain(|x| x != PVC_PROTECTION);
            rt.put(pvc_res, with_finalizers(&c, f));
        }
    }
    let pv_res = &resources::PVS;
    let (pvs, _) = rt.store.list(pv_res, None);
    for pv in pvs {
        let mut f = finalizers(&pv);
        let has = f.iter().any(|x| x == PV_PROTECTION);
        if !is_terminating(&pv) && !has {
            f.push(PV_PROTECTION.to_string());
            rt.put(pv_res, with_finalizers(&pv, f));
        } else if is_terminating(&pv) && has && pv["status"]["phase"] != "Bound" {
            f.retain(|x| x != PV_PROTECTION);
            rt.put(pv_res, with_finalizers(&pv, f));
        }
    }
}

fn class_of(obj: &Value) -> &str {
    obj["spec"]["storageClassName"].as_str().unwrap_or("")
}

fn modes(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether static volume `pv` can serve `claim`.
pub fn fits(pv: &Value, claim: &Value) -> bool {
    if is_terminating(pv) || class_of(pv) != class_of(claim) {
        return false;
    }
    let cref = &pv["spec"]["claimRef"];
    if !cref.is_null() {
        // Pre-bound to a claim by name: only that claim.
        let same = cref["name"].as_str() == Some(name_of(claim))
            && cref["namespace"].as_str() == Some(namespace_of(claim))
            && cref["uid"]
                .as_str()
                .is_none_or(|u| u.is_empty() || u == uid_of(claim));
        if !same {
            return false;
        }
    } else if pv["status"]["phase"]
        .as_str()
        .is_some_and(|p| p != "Available" && p != "Pending")
    {
        return false;
    }
    let vm = |o: &Value, f: &str| o["spec"][f].as_str().unwrap_or("Filesystem").to_string();
    if vm(pv, "volumeMode") != vm(claim, "volumeMode") {
        return false;
    }
    let have = modes(&pv["spec"]["accessModes"]);
    if !modes(&claim["spec"]["accessModes"])
        .iter()
        .all(|m| have.contains(m))
    {
        return false;
    }
    let want = quantity(&claim["spec"]["resources"]["requests"]["storage"]).unwrap_or(0.0);
    let cap = quantity(&pv["spec"]["capacity"]["storage"]).unwrap_or(0.0);
    if cap < want {
        return false;
    }
    let sel = &claim["spec"]["selector"];
    if !sel.is_null() {
        match LabelSelector::from_object(sel) {
            Some(s) if s.matches(&pv["metadata"]["labels"]) => {}
            Some(s) if s.is_empty() => {}
            _ => return false,
        }
    }
    true
}

fn sync_claim(rt: &Runtime, claim: &Value) {
    let pvc_res = &resources::PVCS;
    let pv_res = &resources::PVS;
    let volume_name = claim["spec"]["volumeName"].as_str().unwrap_or("");
    if claim["status"]["phase"] == "Bound" {
        if !volume_name.is_empty() && rt.store.get(pv_res, "", volume_name).is_none() {
            let mut n = claim.clone();
            n["status"]["phase"] = json!("Lost");
            rt.put(pvc_res, n);
            rt.events.record_once(
                claim,
                Kind::Warning,
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                "persistentvolume-controller",
            );
        }
        return;
    }
    if claim["status"]["phase"] == "Lost" {
        return;
    }
    if !volume_name.is_empty() {
        // Bound by the user to a named volume.
        if let Some(pv) = rt.store.get(pv_res, "", volume_name)
            && (pv["spec"]["claimRef"].is_null() || fits(&pv, claim))
        {
            bind(rt, &pv, claim, false);
        } else {
            set_pending(rt, claim);
        }
        return;
    }
    let class_name = class_of(claim).to_string();
    let class = if class_name.is_empty() {
        None
    } else {
        rt.store.get(&resources::STORAGE_CLASSES, "", &class_name)
    };
    let wait_for_consumer = class
        .as_ref()
        .is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer");
    let selected = claim["metadata"]["annotations"][SELECTED_NODE].is_string();
    if wait_for_consumer && !selected {
        // The scheduler may have pre-bound a static volume for the pod.
        let (pvs, _) = rt.store.list(pv_res, None);
        if let Some(pv) = pvs
            .iter()
            .find(|pv| pv["spec"]["claimRef"]["uid"].as_str() == Some(uid_of(claim)))
            && fits(pv, claim)
        {
            bind(rt, pv, claim, true);
            return;
        }
        set_pending(rt, claim);
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Normal,
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
            "persistentvolume-controller",
        );
        return;
    }
    // Static volumes first: the smallest that fits.
    let (pvs, _) = rt.store.list(pv_res, None);
    let best = pvs
        .iter()
        .filter(|pv| fits(pv, claim))
        .min_by(|a, b| {
            let q = |p: &Value| quantity(&p["spec"]["capacity"]["storage"]).unwrap_or(0.0);
            q(a).total_cmp(&q(b))
        })
        .cloned();
    if let Some(pv) = best {
        bind(rt, &pv, claim, true);
        return;
    }
    set_pending(rt, claim);
    if class_name.is_empty() {
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Normal,
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
            "persistentvolume-controller",
        );
        return;
    }
    let Some(class) = class else {
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Warning,
            "ProvisioningFailed",
            format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
            "persistentvolume-controller",
        );
        return;
    };
    let provisioner = class["provisioner"].as_str().unwrap_or("").to_string();
    if !PROVISIONERS.contains(&provisioner.as_str()) {
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Normal,
            "ExternalProvisioning",
            external_provisioning(&provisioner),
            "persistentvolume-controller",
        );
        return;
    }
    provision(rt, claim, &class, &provisioner);
}

fn external_provisioning(provisioner: &str) -> String {
    format!(
        "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
    )
}

fn set_pending(rt: &Runtime, claim: &Value) {
    if claim["status"]["phase"] != "Pending" {
        let mut n = claim.clone();
        n["status"] = json!({"phase": "Pending"});
        rt.put(&resources::PVCS, n);
    }
}

/// Provisioners that work as rancher's local-path does (kind's
/// `standard` class): a directory on the node, so only one node's pods
/// can use it, and no block devices.
const LOCAL_PATH: &[&str] = &["rancher.io/local-path", "kubetutor.dev/local-path"];

/// Why a local-path provisioner refuses a claim (the event's text), before
/// and after its "Provisioning" event.
fn local_path_refusal(claim: &Value, class: &Value, provisioner: &str) -> Option<(bool, String)> {
    if !LOCAL_PATH.contains(&provisioner) {
        return None;
    }
    if claim["spec"]["volumeMode"] == "Block" {
        // The provisioning library checks this before calling the provisioner.
        return Some((
            false,
            format!("{provisioner} does not support block volume provisioning"),
        ));
    }
    let modes = modes(&claim["spec"]["accessModes"]);
    if modes
        .iter()
        .any(|m| m != "ReadWriteOnce" && m != "ReadWriteOncePod")
    {
        return Some((
            true,
            format!(
                "failed to provision volume with StorageClass \"{}\": NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes",
                name_of(class)
            ),
        ));
    }
    if !claim["spec"]["selector"].is_null() {
        return Some((
            true,
            format!(
                "failed to provision volume with StorageClass \"{}\": claim.Spec.Selector is not supported",
                name_of(class)
            ),
        ));
    }
    None
}

fn provision(rt: &Runtime, claim: &Value, class: &Value, provisioner: &str) {
    let ns = namespace_of(claim);
    let name = name_of(claim);
    let pv_name = format!("pvc-{}", uid_of(claim));
    // The PV controller hands the claim to the (external) provisioner.
    rt.events.record_every(
        claim,
        RESYNC,
        Kind::Normal,
        "ExternalProvisioning",
        external_provisioning(provisioner),
        "persistentvolume-controller",
    );
    let refusal = local_path_refusal(claim, class, provisioner);
    if let Some((false, why)) = &refusal {
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Warning,
            "ProvisioningFailed",
            why.clone(),
            provisioner_component(provisioner),
        );
        return;
    }
    rt.events.record_every(
        claim,
        RESYNC,
        Kind::Normal,
        "Provisioning",
        format!("External provisioner is provisioning volume for claim \"{ns}/{name}\""),
        provisioner_component(provisioner),
    );
    if let Some((_, why)) = refusal {
        rt.events.record_every(
            claim,
            RESYNC,
            Kind::Warning,
            "ProvisioningFailed",
            why,
            provisioner_component(provisioner),
        );
        return;
    }
    // The helper pod's `mkdir -m 0777 -p` on the node.
    let path = format!("/var/local-path-provisioner/{pv_name}_{ns}_{name}");
    let made = rt.root.host_path(&path).map(|dir| {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    });
    if let Err(e) = made {
        rt.events.record_once(
            claim,
            Kind::Warning,
            "ProvisioningFailed",
            format!(
                "failed to provision volume with StorageClass \"{}\": {e}",
                name_of(class)
            ),
            provisioner_component(provisioner),
        );
        return;
    }
    let storage = claim["spec"]["resources"]["requests"]["storage"].clone();
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name,
            "annotations": {
                PROVISIONED_BY: provisioner,
                "local.path.provisioner/selected-node": crate::machinery::cluster::NODE_NAME,
            },
            "finalizers": [PV_PROTECTION],
        },
        "spec": {
            "accessModes": claim["spec"]["accessModes"],
            "capacity": {"storage": storage},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "name": name,
                "namespace": ns,
                "uid": uid_of(claim),
                "resourceVersion": claim["metadata"]["resourceVersion"],
            },
            "hostPath": {
                "path": path,
                "type": "DirectoryOrCreate",
            },
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{
                "key": "kubernetes.io/hostname", "operator": "In",
                "values": [crate::machinery::cluster::NODE_NAME]}]}]}},
            "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": name_of(class),
            "volumeMode": claim["spec"]["volumeMode"].as_str().unwrap_or("Filesystem"),
        },
    });
    if let Some(mo) = class["mountOptions"].as_array() {
        pv["spec"]["mountOptions"] = json!(mo);
    }
    let pv_res = &resources::PVS;
    let created = match rt.try_create(pv_res, pv) {
        Ok(p) => p,
        Err(_) => match rt.store.get(pv_res, "", &pv_name) {
            Some(p) => p,
            None => return,
        },
    };
    rt.events.record(
        claim,
        None,
        Kind::Normal,
        "ProvisioningSucceeded",
        format!("Successfully provisioned volume {pv_name}"),
        provisioner_component(provisioner),
    );
    bind(rt, &created, claim, false);
}

fn provisioner_component(p: &str) -> &'static str {
    match p {
        "rancher.io/local-path" => "rancher.io/local-path_local-path-provisioner",
        "k8s.io/minikube-hostpath" => "k8s.io/minikube-hostpath",
        _ => "kubetutor.dev/local-path",
    }
}

/// Binds `pv` and `claim` to each other (PV first, as upstream).
fn bind(rt: &Runtime, pv: &Value, claim: &Value, by_controller: bool) {
    let pv_res = &resources::PVS;
    let pvc_res = &resources::PVCS;
    let mut p = pv.clone();
    p["spec"]["claimRef"] = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "name": name_of(claim),
        "namespace": namespace_of(claim),
        "uid": uid_of(claim),
        "resourceVersion": claim["metadata"]["resourceVersion"],
    });
    if by_controller {
        if !p["metadata"]["annotations"].is_object() {
            p["metadata"]["annotations"] = json!({});
        }
        p["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    }
    p["status"] = json!({"phase": "Bound"});
    let Some(p) = (if p == *pv {
        Some(Arc::new(p))
    } else {
        rt.put(pv_res, p)
    }) else {
        return;
    };
    let mut c = claim.clone();
    c["spec"]["volumeName"] = json!(name_of(&p));
    if !c["metadata"]["annotations"].is_object() {
        c["metadata"]["annotations"] = json!({});
    }
    let ann = &mut c["metadata"]["annotations"];
    ann["pv.kubernetes.io/bind-completed"] = json!("yes");
    if by_controller || claim["spec"]["volumeName"].is_null() {
        ann["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    }
    if let Some(prov) = p["metadata"]["annotations"][PROVISIONED_BY].as_str() {
        ann["volume.beta.kubernetes.io/storage-provisioner"] = json!(prov);
        ann["volume.kubernetes.io/storage-provisioner"] = json!(prov);
    }
    c["status"] = json!({
        "phase": "Bound",
        "accessModes": p["spec"]["accessModes"],
        "capacity": p["spec"]["capacity"],
    });
    rt.put(pvc_res, c);
}

fn sync_volume(rt: &Runtime, pv: &Value) {
    let pv_res = &resources::PVS;
    let cref = &pv["spec"]["claimRef"];
    let phase = pv["status"]["phase"].as_str().unwrap_or("");
    if cref.is_null() {
        if phase != "Available" && !is_terminating(pv) {
            let mut n = pv.clone();
            n["status"] = json!({"phase": "Available"});
            rt.put(pv_res, n);
        }
        return;
    }
    let claim = rt.store.get(
        &resources::PVCS,
        cref["namespace"].as_str().unwrap_or(""),
        cref["name"].as_str().unwrap_or(""),
    );
    let cref_uid = cref["uid"].as_str().unwrap_or("");
    let claim_alive = claim
        .as_ref()
        .is_some_and(|c| cref_uid.is_empty() || uid_of(c) == cref_uid);
    if claim_alive {
        let bound = claim
            .as_ref()
            .is_some_and(|c| c["spec"]["volumeName"].as_str() == Some(name_of(pv)));
        let want = if bound || phase == "Bound" {
            "Bound"
        } else {
            "Available"
        };
        if phase != want && phase != "Released" {
            let mut n = pv.clone();
            n["status"] = json!({"phase": want});
            rt.put(pv_res, n);
        }
        return;
    }
    if cref_uid.is_empty() {
        // Pre-bound to a claim that does not exist yet.
        if phase != "Available" {
            let mut n = pv.clone();
            n["status"] = json!({"phase": "Available"});
            rt.put(pv_res, n);
        }
        return;
    }
    // Its claim is gone: reclaim.
    match pv["spec"]["persistentVolumeReclaimPolicy"]
        .as_str()
        .unwrap_or("Retain")
    {
        "Delete" => {
            if is_terminating(pv) {
                return;
            }
            let name = name_of(pv).to_string();
            if pv["metadata"]["annotations"][PROVISIONED_BY].is_string() {
                // The helper pod's `rm -rf` of the volume's directory
                // (and the layout of older sandboxes).
                let _ = rt.root.remove_volume(&name);
                if let Some(path) = pv["spec"]["hostPath"]["path"].as_str()
                    && let Ok(dir) = rt.root.host_path_entry(path)
                {
                    let _ = std::fs::remove_dir_all(dir);
                }
            } else if let Some(path) = pv["spec"]["hostPath"]["path"].as_str() {
                // The hostPath plugin's deleter: only under /tmp/ (its
                // unanchored "/tmp/.+"), for testing; anything else fails.
                // Checked on the normalised path: `/tmp/..` is `/`, which
                // would take every hostPath volume's data with it.
                let normalized = format!("/{}", crate::hostfs::normalize(path).join("/"));
                let under_tmp = normalized
                    .find("/tmp/")
                    .is_some_and(|i| normalized.len() > i + "/tmp/".len());
                if !under_tmp {
                    failed_delete(
                        rt,
                        pv,
                        format!(
                            "host_path deleter only supports /tmp/.+ but received provided {path}"
                        ),
                    );
                    return;
                }
                match host_path_target(rt, &normalized) {
                    Ok(entry) => {
                        // Like Go's os.RemoveAll: a link is removed, not followed.
                        let _ = match std::fs::symlink_metadata(&entry) {
                            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&entry),
                            Ok(_) => std::fs::remove_file(&entry),
                            Err(_) => Ok(()),
                        };
                    }
                    Err(e) => {
                        failed_delete(rt, pv, e.to_string());
                        return;
                    }
                }
            } else {
                failed_delete(
                    rt,
                    pv,
                    format!(
                        "error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched"
                    ),
                );
                return;
            }
            let mut n = pv.clone();
            n["status"] = json!({"phase": "Released"});
            if let Some(m) = n["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
            if let Some(n) = rt.put(pv_res, n) {
                let _ = rt.delete(pv_res, "", name_of(&n), &DeleteOptions::default());
            }
        }
        _ => {
            if phase != "Released" {
                let mut n = pv.clone();
                n["status"] = json!({"phase": "Released"});
                rt.put(pv_res, n);
            }
        }
    }
}

/// The sandbox entry a hostPath deleter removes for normalised `path`: its
/// parent resolved inside the hostPath tree (links followed only within
/// it), the last component itself (a link there is what gets removed).
fn host_path_target(
    rt: &Runtime,
    path: &str,
) -> Result<std::path::PathBuf, crate::hostfs::FsError> {
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    Ok(rt.root.host_path_entry(parent)?.join(last))
}

/// A reclaim that failed: the volume is `Failed` with the reason, and a
/// VolumeFailedDelete event when it turns so.
fn failed_delete(rt: &Runtime, pv: &Value, message: String) {
    if pv["status"]["phase"] == "Failed" && pv["status"]["message"] == message.as_str() {
        return;
    }
    let mut n = pv.clone();
    n["status"] = json!({"phase": "Failed", "message": message});
    if rt.put(&resources::PVS, n).is_some() {
        rt.events.record(
            pv,
            None,
            Kind::Warning,
            "VolumeFailedDelete",
            message,
            "persistentvolume-controller",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(name: &str, size: &str, modes: &[&str], class: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"tier": "db"}},
               "spec": {"capacity": {"storage": size}, "accessModes": modes,
                        "storageClassName": class},
               "status": {"phase": "Available"}})
    }

    fn claim(size: &str, modes: &[&str], class: &str) -> Value {
        json!({"metadata": {"name": "c", "namespace": "n", "uid": "u"},
               "spec": {"resources": {"requests": {"storage": size}}, "accessModes": modes,
                        "storageClassName": class}})
    }

    #[test]
    fn matching_by_class_modes_capacity_selector() {
        let c = claim("1Gi", &["ReadWriteOnce"], "manual");
        assert!(fits(&pv("a", "1Gi", &["ReadWriteOnce"], "manual"), &c));
        assert!(!fits(&pv("a", "500Mi", &["ReadWriteOnce"], "manual"), &c));
        assert!(!fits(&pv("a", "1Gi", &["ReadOnlyMany"], "manual"), &c));
        assert!(!fits(&pv("a", "1Gi", &["ReadWriteOnce"], "other"), &c));
        let mut c2 = c.clone();
        c2["spec"]["selector"] = json!({"matchLabels": {"tier": "web"}});
        assert!(!fits(&pv("a", "1Gi", &["ReadWriteOnce"], "manual"), &c2));
        let mut released = pv("a", "1Gi", &["ReadWriteOnce"], "manual");
        released["spec"]["claimRef"] = json!({"name": "old", "namespace": "n", "uid": "x"});
        released["status"]["phase"] = json!("Released");
        assert!(!fits(&released, &c));
    }
}
