//! The kubelet's volume plugins: what backs each volume of a pod
//! (configMap, secret, projected, downwardAPI, emptyDir, hostPath and
//! persistent volumes), the files it writes into them and the hostPath
//! type checks, with the FailedMount messages upstream gives.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::hostfs::{MountKind, confined_join};
use crate::machinery::meta::name_of;
use crate::machinery::resources;
use crate::node::Node;
use crate::node::env::{field_value, service_account_token};
use crate::node::kubelet::PodRt;

/// A mounted pod volume.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) host: PathBuf,
    pub(crate) kind: MountKind,
    pub(crate) source: String,
    pub(crate) capacity: Option<u64>,
    pub(crate) read_only: bool,
}

fn volume_dir(node: &Node, prt: &PodRt, kind: &str, vol: &str) -> Result<PathBuf, String> {
    let base = node.root.pod_dir(&prt.uid).map_err(|e| e.to_string())?;
    let dir = confined_join(&base.join("volumes").join(kind), vol).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Writes `files` (relative path → bytes) into `dir`, replacing what was there.
fn write_files(dir: &std::path::Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    for (rel, data) in files {
        let path = confined_join(dir, rel).map_err(|e| e.to_string())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, data).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// The key → bytes of a ConfigMap or Secret.
pub(crate) fn data_of(obj: &Value, secret: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(d) = obj["data"].as_object() {
        for (k, v) in d {
            let s = v.as_str().unwrap_or("");
            out.push((
                k.clone(),
                if secret {
                    b64(s)
                } else {
                    s.as_bytes().to_vec()
                },
            ));
        }
    }
    if let Some(d) = obj[if secret { "stringData" } else { "binaryData" }].as_object() {
        for (k, v) in d {
            let s = v.as_str().unwrap_or("");
            out.push((
                k.clone(),
                if secret {
                    s.as_bytes().to_vec()
                } else {
                    b64(s)
                },
            ));
        }
    }
    out
}

fn projected_files(
    data: &[(String, Vec<u8>)],
    items: &Value,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    match items.as_array() {
        Some(items) if !items.is_empty() => {
            let mut out = Vec::new();
            for it in items {
                let key = it["key"].as_str().unwrap_or("");
                let path = it["path"].as_str().unwrap_or(key);
                match data.iter().find(|(k, _)| k == key) {
                    Some((_, v)) => out.push((path.to_string(), v.clone())),
                    None => return Err(key.to_string()),
                }
            }
            Ok(out)
        }
        _ => Ok(data.to_vec()),
    }
}

/// Sets up every volume of the pod, or says why each one that failed did.
pub(crate) fn setup_volumes(
    node: &Node,
    prt: &PodRt,
) -> Result<HashMap<String, Volume>, Vec<String>> {
    let mut out = HashMap::new();
    let mut errors = Vec::new();
    let vols = prt.pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &vols {
        let vname = v["name"].as_str().unwrap_or("");
        match setup_volume(node, prt, v) {
            Ok(vol) => {
                out.insert(vname.to_string(), vol);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Sets up one volume, or the FailedMount message.
fn setup_volume(node: &Node, prt: &PodRt, v: &Value) -> Result<Volume, String> {
    let ns = &prt.ns;
    {
        let vname = v["name"].as_str().unwrap_or("");
        let fail = |m: String| format!("MountVolume.SetUp failed for volume \"{vname}\" : {m}");
        let vol = if let Some(cm) = v.get("configMap").filter(|c| c.is_object()) {
            let name = cm["name"].as_str().unwrap_or("");
            let optional = cm["optional"].as_bool().unwrap_or(false);
            let data = match node.store.get(&resources::CONFIG_MAPS, ns, name) {
                Some(o) => data_of(&o, false),
                None if optional => Vec::new(),
                None => return Err(fail(format!("configmap \"{name}\" not found"))),
            };
            let files = projected_files(&data, &cm["items"])
                .map_err(|k| fail(format!("configmap references non-existent config key: {k}")))?;
            let dir = volume_dir(node, prt, "kubernetes.io~configmap", vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: name.to_string(),
                capacity: None,
                read_only: true,
            }
        } else if let Some(sec) = v.get("secret").filter(|c| c.is_object()) {
            let name = sec["secretName"].as_str().unwrap_or("");
            let optional = sec["optional"].as_bool().unwrap_or(false);
            let data = match node.store.get(&resources::SECRETS, ns, name) {
                Some(o) => data_of(&o, true),
                None if optional => Vec::new(),
                None => return Err(fail(format!("secret \"{name}\" not found"))),
            };
            let files = projected_files(&data, &sec["items"])
                .map_err(|k| fail(format!("references non-existent secret key: {k}")))?;
            let dir = volume_dir(node, prt, "kubernetes.io~secret", vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: name.to_string(),
                capacity: None,
                read_only: true,
            }
        } else if let Some(ed) = v.get("emptyDir").filter(|c| c.is_object()) {
            let dir = node
                .root
                .empty_dir(&prt.uid, vname)
                .map_err(|e| fail(e.to_string()))?;
            let capacity = crate::machinery::meta::quantity(&ed["sizeLimit"]).map(|q| q as u64);
            let kind = if ed["medium"] == "Memory" {
                MountKind::Tmpfs
            } else {
                MountKind::EmptyDir
            };
            Volume {
                host: dir,
                kind,
                source: vname.to_string(),
                capacity,
                read_only: false,
            }
        } else if let Some(hp) = v.get("hostPath").filter(|c| c.is_object()) {
            let path = hp["path"].as_str().unwrap_or("/");
            let dir = host_path(node, path, hp["type"].as_str().unwrap_or("")).map_err(fail)?;
            Volume {
                host: dir,
                kind: MountKind::HostPath,
                source: path.to_string(),
                capacity: None,
                read_only: false,
            }
        } else if let Some(pvc) = v.get("persistentVolumeClaim").filter(|c| c.is_object()) {
            let claim_name = pvc["claimName"].as_str().unwrap_or("");
            let claim = node
                .store
                .get(&resources::PVCS, ns, claim_name)
                .ok_or_else(|| fail(format!("persistentvolumeclaim \"{claim_name}\" not found")))?;
            let pv_name = claim["spec"]["volumeName"].as_str().unwrap_or("");
            let pv = node
                .store
                .get(&resources::PVS, "", pv_name)
                .filter(|_| claim["status"]["phase"] == "Bound")
                .ok_or_else(|| {
                    fail(format!(
                        "persistentvolumeclaim \"{claim_name}\" is not bound"
                    ))
                })?;
            let dir = pv_dir(node, &pv).map_err(fail)?;
            let capacity = crate::machinery::meta::quantity(&pv["spec"]["capacity"]["storage"])
                .map(|q| q as u64);
            Volume {
                host: dir,
                kind: MountKind::Volume,
                source: pv_name.to_string(),
                capacity,
                read_only: pvc["readOnly"].as_bool().unwrap_or(false),
            }
        } else {
            // projected (the service account's kube-api-access), downwardAPI
            // and the like: a small read-only tmpfs.
            let mut files = Vec::new();
            let (plugin, sources) = if let Some(p) = v.get("projected").filter(|c| c.is_object()) {
                let sources = p["sources"].as_array().cloned().unwrap_or_default();
                ("kubernetes.io~projected", sources)
            } else if let Some(d) = v.get("downwardAPI").filter(|c| c.is_object()) {
                (
                    "kubernetes.io~downward-api",
                    vec![json!({"downwardAPI": d})],
                )
            } else {
                ("kubernetes.io~empty-dir", Vec::new())
            };
            for src in &sources {
                if let Some(t) = src.get("serviceAccountToken").filter(|c| c.is_object()) {
                    let path = t["path"].as_str().unwrap_or("token");
                    files.push((path.to_string(), service_account_token(prt).into_bytes()));
                }
                for (key, secret) in [("configMap", false), ("secret", true)] {
                    let Some(r) = src.get(key).filter(|c| c.is_object()) else {
                        continue;
                    };
                    let name = r["name"].as_str().unwrap_or("");
                    let optional = r["optional"].as_bool().unwrap_or(false);
                    let what = if secret { "secret" } else { "configmap" };
                    let data = match node.store.get(
                        if secret {
                            &resources::SECRETS
                        } else {
                            &resources::CONFIG_MAPS
                        },
                        ns,
                        name,
                    ) {
                        Some(o) => data_of(&o, secret),
                        None if optional => Vec::new(),
                        None => return Err(fail(format!("{what} \"{name}\" not found"))),
                    };
                    let picked = projected_files(&data, &r["items"]).map_err(|k| {
                        fail(format!("{what} references non-existent config key: {k}"))
                    })?;
                    files.extend(picked);
                }
                if let Some(items) = src["downwardAPI"]["items"].as_array() {
                    for it in items {
                        let path = it["path"].as_str().unwrap_or("");
                        if let Some(fp) = it["fieldRef"]["fieldPath"].as_str() {
                            files.push((path.to_string(), field_value(prt, fp).into_bytes()));
                        }
                    }
                }
            }
            let dir = volume_dir(node, prt, plugin, vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: vname.to_string(),
                capacity: None,
                read_only: true,
            }
        };
        Ok(vol)
    }
}

/// Where a persistent volume's data lives.
pub fn pv_dir(node: &Node, pv: &Value) -> Result<PathBuf, String> {
    let name = name_of(pv);
    if pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"].is_string() {
        return node.root.volume(name).map_err(|e| e.to_string());
    }
    if let Some(path) = pv["spec"]["hostPath"]["path"].as_str() {
        return host_path(
            node,
            path,
            pv["spec"]["hostPath"]["type"].as_str().unwrap_or(""),
        );
    }
    if let Some(path) = pv["spec"]["local"]["path"].as_str() {
        return node.root.host_path(path).map_err(|e| e.to_string());
    }
    node.root.volume(name).map_err(|e| e.to_string())
}

/// A hostPath (of a pod or a PV) in the sandbox, after the kubelet's type
/// check for `ty` (`DirectoryOrCreate` and `FileOrCreate` create what is
/// missing). With no type, a missing path becomes a directory, as the
/// container runtime's bind mount makes it.
pub fn host_path(node: &Node, path: &str, ty: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt as _;
    let entry = node.root.host_path_entry(path).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(&entry).ok();
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(entry.clone())
        } else {
            Err(format!("hostPath type check failed: {path} is not {what}"))
        }
    };
    let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
    let is_file = meta.as_ref().is_some_and(|m| m.is_file());
    let kind = |f: fn(&std::fs::FileType) -> bool| meta.as_ref().is_some_and(|m| f(&m.file_type()));
    match ty {
        "" => node.root.host_path(path).map_err(|e| e.to_string()),
        "DirectoryOrCreate" if meta.is_none() => {
            node.root.host_path(path).map_err(|e| e.to_string())
        }
        "DirectoryOrCreate" | "Directory" => check(is_dir, "a directory"),
        "FileOrCreate" if meta.is_none() => {
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&entry)
            {
                Ok(_) => Ok(entry),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(format!("open {path}: no such file or directory"))
                }
                Err(e) => Err(format!("open {path}: {e}")),
            }
        }
        "FileOrCreate" | "File" => check(is_file, "a file"),
        "Socket" => check(kind(|t| t.is_socket()), "a socket file"),
        "CharDevice" => check(kind(|t| t.is_char_device()), "a character device"),
        "BlockDevice" => check(kind(|t| t.is_block_device()), "a block device"),
        other => Err(format!("{other} is an invalid volume type")),
    }
}
