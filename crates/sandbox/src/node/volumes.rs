//! The kubelet's volume plugins: what backs each volume of a pod
//! (configMap, secret, projected, downwardAPI, emptyDir, hostPath and
//! persistent volumes), the files it writes into them (through the atomic
//! writer, and again on each sync so updates show), the modes and the
//! fsGroup, the hostPath type checks and a local PV's path, with the
//! FailedMount messages upstream gives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use std::os::unix::fs::PermissionsExt as _;

use crate::hostfs::owners;
use crate::hostfs::{MountKind, confined_join};
use crate::machinery::meta::{lock, name_of};
use crate::machinery::resources;
use crate::node::Node;
use crate::node::atomic::{self, FileProjection};
use crate::node::env::{field_file, resource_value, service_account_token};
use crate::node::kubelet::PodRt;
use crate::runtime::events::Kind;

/// A mounted pod volume.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub(crate) host: PathBuf,
    pub(crate) kind: MountKind,
    pub(crate) source: String,
    pub(crate) capacity: Option<u64>,
    pub(crate) read_only: bool,
    /// Written by the atomic writer (configMap, secret...): a subPath of
    /// it is a copy made at container start.
    pub(crate) atomic: bool,
}

fn volume_dir(node: &Node, prt: &PodRt, kind: &str, vol: &str) -> Result<PathBuf, String> {
    let base = node.root.pod_dir(&prt.uid).map_err(|e| e.to_string())?;
    let dir = confined_join(&base.join("volumes").join(kind), vol).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The volume's own directory is world-writable, as the kubelet's
    // wrapper emptyDir (its content is read-only for the container).
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    Ok(dir)
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

/// The node's allocatable memory: what a `medium: Memory` emptyDir may
/// hold when neither its `sizeLimit` nor the pod's limits say less.
const NODE_MEMORY: u64 = 8 << 30;
/// `defaultMode` when a volume does not set it (0644).
const DEFAULT_MODE: u32 = 0o644;

/// A configMap, secret, downwardAPI or projected volume's content now.
pub(crate) struct FileVolume {
    plugin: &'static str,
    kind: MountKind,
    source: String,
    pub(crate) files: Vec<FileProjection>,
}

fn mode_of(v: &Value, default: u32) -> u32 {
    v.as_u64()
        .and_then(|m| u32::try_from(m).ok())
        .map_or(default, |m| m & 0o7777)
}

/// The pod's fsGroup: read-only volumes get group read (`|0440`).
fn fs_group(prt: &PodRt) -> Option<u64> {
    prt.pod["spec"]["securityContext"]["fsGroup"].as_u64()
}

/// The payload of a file-backed volume (None for the other kinds), or
/// why it cannot be built (FailedMount's text after the prefix).
pub(crate) fn file_volume(
    node: &Node,
    prt: &PodRt,
    v: &Value,
) -> Option<Result<FileVolume, String>> {
    let (plugin, kind, default_mode, sources, source) =
        if let Some(cm) = v.get("configMap").filter(|c| c.is_object()) {
            (
                "kubernetes.io~configmap",
                MountKind::EmptyDir,
                &cm["defaultMode"],
                vec![json!({"configMap": cm})],
                cm["name"].as_str().unwrap_or("").to_string(),
            )
        } else if let Some(sec) = v.get("secret").filter(|c| c.is_object()) {
            let mut r = sec.clone();
            r["name"] = sec["secretName"].clone();
            (
                "kubernetes.io~secret",
                MountKind::Tmpfs,
                &sec["defaultMode"],
                vec![json!({"secret": r})],
                sec["secretName"].as_str().unwrap_or("").to_string(),
            )
        } else if let Some(d) = v.get("downwardAPI").filter(|c| c.is_object()) {
            (
                "kubernetes.io~downward-api",
                MountKind::EmptyDir,
                &d["defaultMode"],
                vec![json!({"downwardAPI": d})],
                v["name"].as_str().unwrap_or("").to_string(),
            )
        } else if let Some(p) = v.get("projected").filter(|c| c.is_object()) {
            (
                "kubernetes.io~projected",
                MountKind::Tmpfs,
                &p["defaultMode"],
                p["sources"].as_array().cloned().unwrap_or_default(),
                v["name"].as_str().unwrap_or("").to_string(),
            )
        } else {
            return None;
        };
    let mut default_mode = mode_of(default_mode, DEFAULT_MODE);
    let group = fs_group(prt);
    if group.is_some() {
        default_mode |= 0o440;
    }
    let projected = plugin == "kubernetes.io~projected";
    let mut files = Vec::new();
    for src in &sources {
        match source_files(node, prt, src, default_mode, projected) {
            Ok(f) => files.extend(f),
            Err(e) => return Some(Err(e)),
        }
    }
    if group.is_some() {
        for f in &mut files {
            f.mode |= 0o440;
        }
    }
    Some(Ok(FileVolume {
        plugin,
        kind,
        source,
        files,
    }))
}

/// The files one source of a volume contributes.
fn source_files(
    node: &Node,
    prt: &PodRt,
    src: &Value,
    default_mode: u32,
    projected: bool,
) -> Result<Vec<FileProjection>, String> {
    let ns = &prt.ns;
    let mut out = Vec::new();
    if let Some(t) = src.get("serviceAccountToken").filter(|c| c.is_object()) {
        out.push(FileProjection {
            path: t["path"].as_str().unwrap_or("token").to_string(),
            data: service_account_token(prt).into_bytes(),
            mode: default_mode,
        });
    }
    for (key, secret) in [("configMap", false), ("secret", true)] {
        let Some(r) = src.get(key).filter(|c| c.is_object()) else {
            continue;
        };
        let name = r["name"].as_str().unwrap_or("");
        let optional = r["optional"].as_bool().unwrap_or(false);
        let what = if secret { "secret" } else { "configmap" };
        let res = if secret {
            &resources::SECRETS
        } else {
            &resources::CONFIG_MAPS
        };
        let data = match node.store.get(res, ns, name) {
            Some(o) => data_of(&o, secret),
            None if optional => Vec::new(),
            None => return Err(format!("{what} \"{name}\" not found")),
        };
        let picked = projected_files(&data, &r["items"]).map_err(|k| {
            if secret && !projected {
                format!("references non-existent secret key: {k}")
            } else {
                format!("{what} references non-existent config key: {k}")
            }
        })?;
        let items = r["items"].as_array().cloned().unwrap_or_default();
        for (path, bytes) in picked {
            let mode = items
                .iter()
                .find(|it| it["path"].as_str() == Some(path.as_str()))
                .map_or(default_mode, |it| mode_of(&it["mode"], default_mode));
            out.push(FileProjection {
                path,
                data: bytes,
                mode,
            });
        }
    }
    if let Some(items) = src["downwardAPI"]["items"].as_array() {
        for it in items {
            let path = it["path"].as_str().unwrap_or("").to_string();
            let mode = mode_of(&it["mode"], default_mode);
            let value = if let Some(fp) = it["fieldRef"]["fieldPath"].as_str() {
                field_file(prt, fp)
            } else if it["resourceFieldRef"].is_object() {
                resource_value(&prt.pod, &it["resourceFieldRef"], None)?
            } else {
                continue;
            };
            out.push(FileProjection {
                path,
                data: value.into_bytes(),
                mode,
            });
        }
    }
    Ok(out)
}

/// Sets up one volume, or the FailedMount message.
fn setup_volume(node: &Node, prt: &PodRt, v: &Value) -> Result<Volume, String> {
    let ns = &prt.ns;
    let vname = v["name"].as_str().unwrap_or("");
    let fail = |m: String| format!("MountVolume.SetUp failed for volume \"{vname}\" : {m}");
    if let Some(fv) = file_volume(node, prt, v) {
        let fv = fv.map_err(fail)?;
        let dir = volume_dir(node, prt, fv.plugin, vname)?;
        atomic::write(&dir, &fv.files).map_err(fail)?;
        apply_fs_group(prt, &dir, true);
        return Ok(Volume {
            host: dir,
            kind: fv.kind,
            source: fv.source,
            capacity: None,
            read_only: true,
            atomic: true,
        });
    }
    if let Some(ed) = v.get("emptyDir").filter(|c| c.is_object()) {
        let dir = node
            .root
            .empty_dir(&prt.uid, vname)
            .map_err(|e| fail(e.to_string()))?;
        // An emptyDir is world-writable (and the fsGroup's, setgid).
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
        apply_fs_group(prt, &dir, false);
        let limit = crate::machinery::meta::quantity(&ed["sizeLimit"]).map(|q| q.ceil() as u64);
        let memory = ed["medium"] == "Memory";
        return Ok(Volume {
            host: dir,
            // A disk emptyDir is the node's filesystem (`df` shows it, its
            // sizeLimit is enforced by eviction); a memory one is a tmpfs
            // of its limit.
            kind: if memory {
                MountKind::Tmpfs
            } else {
                MountKind::EmptyDir
            },
            source: vname.to_string(),
            capacity: memory.then(|| memory_tmpfs_size(prt, limit)),
            read_only: false,
            atomic: false,
        });
    }
    if let Some(hp) = v.get("hostPath").filter(|c| c.is_object()) {
        let path = hp["path"].as_str().unwrap_or("/");
        let dir = host_path(node, path, hp["type"].as_str().unwrap_or("")).map_err(fail)?;
        return Ok(Volume {
            host: dir,
            kind: MountKind::HostPath,
            source: path.to_string(),
            capacity: None,
            read_only: hp["readOnly"].as_bool().unwrap_or(false),
            atomic: false,
        });
    }
    if let Some(pvc) = v.get("persistentVolumeClaim").filter(|c| c.is_object()) {
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
        // A local volume's path must exist on the node (nothing creates it).
        if let Some(path) = pv["spec"]["local"]["path"].as_str()
            && !node.root.host_path_entry(path).is_ok_and(|p| p.exists())
        {
            return Err(format!(
                "MountVolume.NewMounter initialization failed for volume \"{pv_name}\" : path \"{path}\" does not exist"
            ));
        }
        let dir = pv_dir(node, &pv).map_err(fail)?;
        let read_only = pvc["readOnly"].as_bool().unwrap_or(false);
        // The hostPath plugin (local-path's volumes, as on kind) leaves
        // ownership alone; a local PV's plugin applies the fsGroup unless
        // the volume is read-only.
        if pv["spec"]["hostPath"].is_null() && !read_only {
            apply_fs_group(prt, &dir, false);
        }
        return Ok(Volume {
            host: dir,
            kind: MountKind::Volume,
            source: pv_name.to_string(),
            // local-path does not enforce the request: `df` shows the
            // node's disk, and writes may go past it.
            capacity: None,
            read_only: pvc["readOnly"].as_bool().unwrap_or(false),
            atomic: false,
        });
    }
    // Other volume types (ephemeral, csi, nfs...) the sandbox does not
    // have: an empty directory, so the pod still starts.
    let dir = node
        .root
        .empty_dir(&prt.uid, vname)
        .map_err(|e| fail(e.to_string()))?;
    Ok(Volume {
        host: dir,
        kind: MountKind::EmptyDir,
        source: vname.to_string(),
        capacity: None,
        read_only: false,
        atomic: false,
    })
}

/// A memory-backed emptyDir's size: its sizeLimit, capped by what the pod
/// may use (the sum of its containers' memory limits when each has one,
/// else the node's allocatable memory).
fn memory_tmpfs_size(prt: &PodRt, limit: Option<u64>) -> u64 {
    let containers = prt.pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let limits: Vec<Option<u64>> = containers
        .iter()
        .map(|c| {
            crate::machinery::meta::quantity(&c["resources"]["limits"]["memory"])
                .map(|q| q.ceil() as u64)
        })
        .collect();
    let pod = if !limits.is_empty() && limits.iter().all(Option::is_some) {
        limits.iter().flatten().sum()
    } else {
        NODE_MEMORY
    };
    limit.map_or(pod, |l| l.min(pod))
}

/// The pod's fsGroup on a volume, as the kubelet's SetVolumeOwnership:
/// every file's group becomes it (group read, and write unless
/// `read_only`), directories setgid so what the pod creates stays in the
/// group. `fsGroupChangePolicy: OnRootMismatch` skips a volume whose root
/// already matches.
fn apply_fs_group(prt: &PodRt, dir: &std::path::Path, read_only: bool) {
    let Some(gid) = fs_group(prt).and_then(|g| u32::try_from(g).ok()) else {
        return;
    };
    let policy = &prt.pod["spec"]["securityContext"]["fsGroupChangePolicy"];
    if policy == "OnRootMismatch" && owners::volume_group_matches(dir, gid, read_only) {
        return;
    }
    owners::set_volume_group(dir, gid, read_only);
}

/// The kubelet's watch over a running pod's volumes: file-backed volumes
/// resynced every `volume_sync` (updates show), and disk emptyDirs
/// measured every `eviction_period` against their `sizeLimit` (past it,
/// the pod is evicted).
pub(crate) async fn manage(node: Arc<Node>, prt: Arc<PodRt>) {
    let sync = node.config.volume_sync.max(Duration::from_millis(100));
    let check = node.config.eviction_period.max(Duration::from_millis(100));
    let mut next_sync = tokio::time::Instant::now() + sync;
    let mut next_check = tokio::time::Instant::now() + check;
    loop {
        let wake = next_sync.min(next_check);
        tokio::select! {
            () = prt.cancel.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = tokio::time::Instant::now();
        if now >= next_sync {
            next_sync = now + sync;
            let (n, p) = (node.clone(), prt.clone());
            let _ = tokio::task::spawn_blocking(move || refresh_volumes(&n, &p)).await;
        }
        if now >= next_check {
            next_check = now + check;
            let p = prt.clone();
            let over = tokio::task::spawn_blocking(move || empty_dir_over_limit(&p))
                .await
                .ok()
                .flatten();
            if let Some(message) = over {
                evict(&node, &prt, message);
                return;
            }
        }
    }
}

/// The message of the first disk emptyDir whose usage is past its
/// `sizeLimit`, as the eviction manager words it.
fn empty_dir_over_limit(prt: &PodRt) -> Option<String> {
    let vols = lock(&prt.volumes).clone()?;
    for v in prt.pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let ed = &v["emptyDir"];
        if !ed.is_object() || ed["medium"] == "Memory" {
            continue;
        }
        let Some(text) = ed["sizeLimit"].as_str() else {
            continue;
        };
        let Some(limit) = crate::hostfs::parse_quantity(text) else {
            continue;
        };
        let name = v["name"].as_str().unwrap_or("");
        let Some(vol) = vols.get(name) else { continue };
        if disk_usage(&vol.host, limit) > limit {
            return Some(format!(
                "Usage of EmptyDir volume \"{name}\" exceeds the limit \"{text}\". "
            ));
        }
    }
    None
}

/// What `du` counts under `dir` (allocated blocks), stopping once past
/// `stop_above` or after a bounded number of entries.
fn disk_usage(dir: &std::path::Path, stop_above: u64) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            seen += 1;
            if seen > 200_000 || total > stop_above {
                return total;
            }
            let Ok(m) = e.metadata() else { continue };
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// Evicts the pod: the event, then its containers killed at once; its
/// status becomes Failed/Evicted with `message`.
fn evict(node: &Node, prt: &PodRt, message: String) {
    node.events.record(
        &prt.pod,
        None,
        Kind::Warning,
        "Evicted",
        message.clone(),
        "kubelet",
    );
    *lock(&prt.evicted) = Some(message);
    prt.terminate(std::time::Instant::now());
    node.wake();
}

/// Rewrites the file-backed volumes of a running pod from their sources
/// (the kubelet's periodic sync): a changed ConfigMap or Secret shows in
/// the pod, swapped atomically. A source that is gone leaves the files as
/// they are, as upstream does.
pub(crate) fn refresh_volumes(node: &Node, prt: &PodRt) {
    let vols = prt.pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &vols {
        let vname = v["name"].as_str().unwrap_or("");
        let Some(Ok(fv)) = file_volume(node, prt, v) else {
            continue;
        };
        // Immutable ConfigMaps and Secrets are not watched.
        if let Ok(dir) = volume_dir(node, prt, fv.plugin, vname)
            && atomic::write(&dir, &fv.files).is_ok()
        {
            apply_fs_group(prt, &dir, true);
        }
    }
}

/// Where a persistent volume's data lives.
pub fn pv_dir(node: &Node, pv: &Value) -> Result<PathBuf, String> {
    let name = name_of(pv);
    if pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"].is_string() {
        // Provisioned volumes live where their hostPath says, on the node
        // (`/var/local-path-provisioner/...`); older sandboxes kept them
        // in `volumes/<pv>`, which is used while it exists.
        if let Ok(legacy) = node.root.legacy_volume(name)
            && legacy.is_dir()
        {
            return Ok(legacy);
        }
        if let Some(path) = pv["spec"]["hostPath"]["path"].as_str() {
            return node.root.host_path(path).map_err(|e| e.to_string());
        }
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
