//! The sandbox's files on disk, and each container's view of them.
//!
//! Everything a container writes lands in real directories under the data
//! dir, so a learner can see for themselves where the data went (and that
//! it is gone after `kubectl delete pod`):
//!
//! ```text
//! <root>/pods/<uid>/containers/<name>/rootfs    container writable layer
//! <root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>   emptyDirs
//! <root>/pods/<uid>/volumes/kubernetes.io~configmap/<name>   (and secret...)
//! <root>/hostpath/<path>                        the node's own files: hostPath
//!                                               volumes (/tmp/x → hostpath/tmp/x)
//!                                               and provisioned volumes
//!                                               (/var/local-path-provisioner/...)
//! <root>/volumes/<pv-name>                      other persistent volumes
//! <root>/run/<n>                                pods' private sockets (mode 0700 dir)
//! ```
//!
//! Paths coming from manifests and `kubectl exec` are untrusted: every join
//! goes through [`confined_join`], which can never leave its base directory
//! (`..` is clamped at the base like `/..` is `/`, and symlinks that point
//! out of the base are refused).

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

pub mod owners;

/// Why a sandbox path could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("invalid name {0:?}: expected a single path component without '/'")]
    InvalidName(String),
    #[error("{path}: symbolic link points outside the sandbox")]
    Escape { path: String },
    #[error("{path}: Symbolic link loop")]
    SymlinkLoop { path: String },
    #[error("{path}: {message}")]
    Io {
        path: String,
        kind: io::ErrorKind,
        message: String,
    },
}

impl FsError {
    fn io(path: &Path, err: &io::Error) -> Self {
        FsError::Io {
            path: path.display().to_string(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// How many symlinks one resolution may follow before giving up (Linux's ELOOP).
const MAX_SYMLINKS: usize = 40;

/// The sandbox data dir and its layout.
#[derive(Debug, Clone)]
pub struct SandboxRoot {
    root: PathBuf,
}

impl SandboxRoot {
    /// A fresh, empty writable layer for a container that is (re)starting:
    /// Kubernetes gives every container start a new layer, so files written
    /// outside volumes are lost when a container restarts, while emptyDirs
    /// (and the pod's other volumes) survive. The kubelet emulation calls this
    /// before each start, then [`container_fs`] (which recreates the mount
    /// points); `kubectl exec` uses [`SandboxRoot::container_rootfs`].
    #[cfg(test)]
    pub fn reset_container_rootfs(
        &self,
        pod_uid: &str,
        container: &str,
    ) -> Result<PathBuf, FsError> {
        let dir = self.container_rootfs(pod_uid, container)?;
        remove_dir(&dir)?;
        create(&dir)
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens (creating if needed) the data dir at `root`, private to the
    /// user (see [`private_dir`]).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, FsError> {
        let root = root.into();
        private_dir(&root).map_err(|e| FsError::io(&root, &e))?;
        Ok(Self { root })
    }

    /// Node paths whose files the sandbox keeps elsewhere than under
    /// `hostpath/`: the kubelet's pod directories.
    pub fn node_mounts(&self) -> Vec<(&'static str, PathBuf)> {
        vec![("/var/lib/kubelet/pods", self.root.join("pods"))]
    }

    /// Where node path `path` lives when a node mount holds it.
    fn in_node_mount(&self, path: &str) -> Option<Result<PathBuf, FsError>> {
        let abs = absolute("/", path);
        self.node_mounts().into_iter().find_map(|(at, dir)| {
            let rest = if abs == at {
                ""
            } else {
                abs.strip_prefix(&format!("{at}/"))?
            };
            Some(create(&dir).and_then(|d| confined_join(&d, rest)))
        })
    }

    /// The node's own directories and a few of its files, as a kind node
    /// has them (what `kubectl debug node/...` shows under `/host`).
    pub fn prepare_node(&self, node_name: &str) -> Result<(), FsError> {
        let base = create(&self.root.join("hostpath"))?;
        for d in [
            "bin",
            "boot",
            "dev",
            "etc",
            "home",
            "kind",
            "lib",
            "media",
            "proc",
            "sbin",
            "sys",
            "usr/bin",
            "usr/lib",
            "usr/sbin",
            "opt",
            "mnt",
            "root",
            "run",
            "srv",
            "tmp",
            "usr/local/bin",
            "var/lib/kubelet/pods",
            "var/local-path-provisioner",
            "var/log/pods",
            "var/log/containers",
        ] {
            create(&base.join(d))?;
        }
        for (file, text) in [
            ("etc/hostname", format!("{node_name}\n")),
            (
                "etc/os-release",
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n".to_string(),
            ),
        ] {
            let f = base.join(file);
            if !f.exists() {
                std::fs::write(&f, text).map_err(|e| FsError::io(&f, &e))?;
            }
        }
        Ok(())
    }

    /// `pods/<uid>`: everything that dies with the pod.
    pub fn pod_dir(&self, pod_uid: &str) -> Result<PathBuf, FsError> {
        Ok(self.root.join("pods").join(name(pod_uid)?))
    }

    /// A container's writable layer, created if missing.
    pub fn container_rootfs(&self, pod_uid: &str, container: &str) -> Result<PathBuf, FsError> {
        let dir = self
            .pod_dir(pod_uid)?
            .join("containers")
            .join(name(container)?)
            .join("rootfs");
        create(&dir)
    }

    /// An emptyDir volume of a pod, created if missing, where the kubelet
    /// keeps it (`volumes/kubernetes.io~empty-dir/<name>`; a pod of an
    /// older sandbox keeps its `volumes/empty-dir/<name>`).
    pub fn empty_dir(&self, pod_uid: &str, volume: &str) -> Result<PathBuf, FsError> {
        let volumes = self.pod_dir(pod_uid)?.join("volumes");
        let legacy = volumes.join("empty-dir").join(name(volume)?);
        if legacy.is_dir() {
            return Ok(legacy);
        }
        create(&volumes.join("kubernetes.io~empty-dir").join(name(volume)?))
    }

    /// The directory standing for node path `path` of a hostPath volume,
    /// created if missing: `/tmp/pg-disk` → `<root>/hostpath/tmp/pg-disk`.
    pub fn host_path(&self, path: &str) -> Result<PathBuf, FsError> {
        let dir = self.host_path_entry(path)?;
        create(&dir)
    }

    /// Where a node path (hostPath) lives in the sandbox, not created:
    /// for the hostPath type checks and the hostPath deleter.
    pub fn host_path_entry(&self, path: &str) -> Result<PathBuf, FsError> {
        if let Some(p) = self.in_node_mount(path) {
            return p;
        }
        let base = create(&self.root.join("hostpath"))?;
        confined_join(&base, path)
    }

    /// A persistent volume's directory under `volumes/`, created if
    /// missing (volumes with no node path of their own).
    pub fn volume(&self, pv_name: &str) -> Result<PathBuf, FsError> {
        create(&self.root.join("volumes").join(name(pv_name)?))
    }

    /// `run/`: the pods' private sockets (not created here: the network
    /// namespaces create it with mode 0700).
    pub fn sockets_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// Where sandboxes before the node layout kept a provisioned volume
    /// (`volumes/<pv>`), not created.
    pub fn legacy_volume(&self, pv_name: &str) -> Result<PathBuf, FsError> {
        Ok(self.root.join("volumes").join(name(pv_name)?))
    }

    /// Deletes everything of a pod (writable layers and emptyDirs).
    pub fn remove_pod(&self, pod_uid: &str) -> Result<(), FsError> {
        remove_dir(&self.pod_dir(pod_uid)?)
    }

    /// Deletes a provisioned volume's data (reclaim policy `Delete`).
    pub fn remove_volume(&self, pv_name: &str) -> Result<(), FsError> {
        remove_dir(&self.root.join("volumes").join(name(pv_name)?))
    }
}

/// Creates `dir` (and missing parents) readable by its owner only, mode
/// 0700 from the start, and tightens it to 0700 if it already existed: the
/// data dir holds the database, the token and every volume's files (Secret
/// data among them), and nothing under a 0700 directory is reachable by
/// another local user, whatever the modes inside (which the container
/// views show as a real node would, so they stay as they are).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        builder.mode(0o700);
        builder.create(dir)?;
        let meta = std::fs::metadata(dir)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

fn create(dir: &Path) -> Result<PathBuf, FsError> {
    std::fs::create_dir_all(dir).map_err(|e| FsError::io(dir, &e))?;
    Ok(dir.to_path_buf())
}

fn remove_dir(dir: &Path) -> Result<(), FsError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(FsError::io(dir, &e)),
        _ => Ok(()),
    }
}

/// Checks that `s` is usable as one directory name.
fn name(s: &str) -> Result<&str, FsError> {
    if s.is_empty() || s == "." || s == ".." || s.contains(['/', '\\', '\0']) {
        return Err(FsError::InvalidName(s.to_string()));
    }
    Ok(s)
}

/// The components of `path` after lexical normalisation, treating it as
/// absolute: `.` dropped, `..` removes the previous component and is clamped
/// at the top (`/../etc` is `/etc`).
pub fn normalize(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_string()),
        }
    }
    parts
}

/// `path` (absolute, or relative to `cwd`) normalised to an absolute path.
pub fn absolute(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    format!("/{}", normalize(&joined).join("/"))
}

/// Joins the untrusted `path` under `base` so the result stays inside it.
///
/// Each existing component is checked with `symlink_metadata`; a symlink is
/// followed only while its target stays inside `base` (relative targets, or
/// absolute ones that already point inside), otherwise [`FsError::Escape`].
pub fn confined_join(base: &Path, path: &str) -> Result<PathBuf, FsError> {
    let mut pending: Vec<String> = normalize(path).into_iter().rev().collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut followed = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved
            .iter()
            .chain(std::iter::once(&part))
            .fold(base.to_path_buf(), |p, c| p.join(c));
        let Ok(meta) = std::fs::symlink_metadata(&candidate) else {
            // Missing components cannot be links: the rest joins lexically.
            resolved.push(part);
            continue;
        };
        if !meta.file_type().is_symlink() {
            resolved.push(part);
            continue;
        }
        followed += 1;
        if followed > MAX_SYMLINKS {
            return Err(FsError::SymlinkLoop {
                path: path.to_string(),
            });
        }
        let target = std::fs::read_link(&candidate).map_err(|e| FsError::io(&candidate, &e))?;
        let escape = || FsError::Escape {
            path: path.to_string(),
        };
        let target_parts: Vec<String> = if target.is_absolute() {
            // Only an absolute link already inside the base is acceptable.
            let inside = target.strip_prefix(base).map_err(|_| escape())?;
            resolved.clear();
            components(inside).ok_or_else(escape)?
        } else {
            components(&target).ok_or_else(escape)?
        };
        // A relative target is read from the link's directory; climbing
        // above the base with `..` is an escape, not a clamp.
        let mut depth = resolved.len() as isize;
        for t in &target_parts {
            depth += if t == ".." { -1 } else { 1 };
            if depth < 0 {
                return Err(escape());
            }
        }
        pending.extend(target_parts.into_iter().rev());
    }
    Ok(resolved.iter().fold(base.to_path_buf(), |p, c| p.join(c)))
}

/// A relative path's components as strings (`..` kept), or `None` if it has
/// a root or prefix.
fn components(path: &Path) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => out.push("..".to_string()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// What backs a mount, for `mount` and `df` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    EmptyDir,
    HostPath,
    /// A persistent volume (claim name or PV name in `source`).
    Volume,
    /// ConfigMap, Secret, projected: read-only tmpfs in real clusters.
    Tmpfs,
}

/// One entry of a container's mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute, normalised path inside the container (never `/`).
    pub container_path: String,
    /// Where the data really lives.
    pub host_dir: PathBuf,
    pub read_only: bool,
    pub kind: MountKind,
    /// A human label for the source (volume name, PV name, node path).
    pub source: String,
    /// The size `df` reports (a PV's capacity, an emptyDir's sizeLimit);
    /// `None` for the node's disk.
    pub capacity: Option<u64>,
}

/// A container's filesystem: its writable layer plus its mounts.
#[derive(Debug, Clone)]
pub struct ContainerFs {
    rootfs: PathBuf,
    mounts: Vec<Mount>,
    /// The container's `workingDir`, where its processes start.
    working_dir: String,
    /// `readOnlyRootFilesystem`: the layer refuses writes (volumes and the
    /// kubelet's own files stay writable).
    read_only_root: bool,
    /// Who the container's processes are (`runAsUser`...).
    identity: Identity,
}

/// The user a container's processes run as, from its securityContext (and
/// the pod's): what `id` shows, who owns what they create, and whose
/// rights the shell checks (see [`owners`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the pod's fsGroup and supplementalGroups).
    pub groups: Vec<u32>,
    /// The pod's fsGroup: the group of writable volumes (their
    /// directories are setgid).
    pub fs_group: Option<u32>,
}

/// Files a runtime bind-mounts into every container: writable even over a
/// read-only root filesystem.
const RUNTIME_FILES: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev/termination-log",
];

/// Where a container path really is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: PathBuf,
    pub read_only: bool,
    /// Index into [`ContainerFs::mounts`], `None` for the writable layer.
    pub mount: Option<usize>,
    /// The normalised absolute container path.
    pub container_path: String,
}

impl ContainerFs {
    pub fn new(rootfs: impl Into<PathBuf>) -> Self {
        Self {
            rootfs: rootfs.into(),
            mounts: Vec::new(),
            working_dir: "/".to_string(),
            read_only_root: false,
            identity: Identity::default(),
        }
    }

    /// `readOnlyRootFilesystem: true`.
    pub fn set_read_only_root(&mut self, read_only: bool) {
        self.read_only_root = read_only;
    }

    /// Who the container's processes run as (the shell's `id`, `whoami`
    /// and `ps`).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = identity;
    }

    /// The container's working directory (absolute; `/` unless set).
    pub fn working_dir(&self) -> &str {
        &self.working_dir
    }

    /// Sets the container's `workingDir` (an empty value means `/`).
    pub fn set_working_dir(&mut self, dir: &str) {
        self.working_dir = absolute("/", dir);
    }

    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Adds a mount at `container_path`, replacing one already there, and
    /// creates the mount point in the writable layer (as a runtime does) so
    /// `ls /` shows it.
    pub fn mount(
        &mut self,
        container_path: &str,
        host_dir: impl Into<PathBuf>,
        read_only: bool,
        kind: MountKind,
        source: impl Into<String>,
    ) -> Result<(), FsError> {
        let container_path = absolute("/", container_path);
        if container_path == "/" {
            return Err(FsError::InvalidName(container_path));
        }
        if let Ok(point) = confined_join(&self.rootfs, &container_path) {
            // Best effort: a file in the way only hides the mount from `ls`.
            let _ = std::fs::create_dir_all(point);
        }
        self.mounts.retain(|m| m.container_path != container_path);
        self.mounts.push(Mount {
            container_path,
            host_dir: host_dir.into(),
            read_only,
            kind,
            source: source.into(),
            capacity: None,
        });
        Ok(())
    }

    /// Sets the size `df` shows for the mount at `container_path`; false if
    /// there is no such mount.
    pub fn set_capacity(&mut self, container_path: &str, bytes: u64) -> bool {
        let container_path = absolute("/", container_path);
        match self
            .mounts
            .iter_mut()
            .find(|m| m.container_path == container_path)
        {
            Some(m) => {
                m.capacity = Some(bytes);
                true
            }
            None => false,
        }
    }

    /// The mount serving `container_path` (longest prefix), if any.
    fn mount_for(&self, container_path: &str) -> Option<(usize, &Mount)> {
        self.mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                container_path == m.container_path
                    || container_path.starts_with(&format!("{}/", m.container_path))
            })
            .max_by_key(|(_, m)| m.container_path.len())
    }

    /// Resolves `path` (absolute, or relative to `cwd`) to the real file.
    pub fn resolve(&self, cwd: &str, path: &str) -> Result<Resolved, FsError> {
        let container_path = absolute(cwd, path);
        match self.mount_for(&container_path) {
            Some((index, m)) => {
                let rest = &container_path[m.container_path.len()..];
                Ok(Resolved {
                    host: confined_join(&m.host_dir, rest)?,
                    read_only: m.read_only,
                    mount: Some(index),
                    container_path,
                })
            }
            None => Ok(Resolved {
                host: confined_join(&self.rootfs, &container_path)?,
                read_only: self.read_only_root && !RUNTIME_FILES.contains(&container_path.as_str()),
                mount: None,
                container_path,
            }),
        }
    }

    /// The mounts directly under the container directory `dir` (their names),
    /// so listings show mount points even when the layer lacks the directory.
    pub fn mount_points_in(&self, dir: &str) -> Vec<String> {
        let dir = absolute("/", dir);
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        self.mounts
            .iter()
            .filter_map(|m| m.container_path.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

/// What backs a pod volume, as the caller (the kubelet emulation) resolved it
/// from the API objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeBacking {
    /// A bound persistent volume (its data lives in `volumes/<pv_name>`).
    PersistentVolume {
        pv_name: String,
        capacity: Option<u64>,
    },
    /// ConfigMap, Secret, projected or downwardAPI content: file name → bytes.
    Files(BTreeMap<String, Vec<u8>>),
    /// Not usable (yet): the claim is unbound, the ConfigMap is missing...;
    /// the message says why, as the kubelet's event would.
    Unavailable(String),
}

/// Why a container's filesystem could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("{0}")]
    Fs(#[from] FsError),
    /// The pod spec is not what the API would have accepted.
    #[error("{0}")]
    Invalid(String),
    /// A volume's source is not ready; the container cannot start yet.
    #[error("{0}")]
    Unavailable(String),
}

/// Builds a container's filesystem from its pod (`metadata.uid`,
/// `spec.volumes`, the container's `volumeMounts`): emptyDirs and hostPaths
/// are laid out here; claims and file-backed volumes (ConfigMap, Secret,
/// projected, downwardAPI) are resolved by `backing(volume_name, volume)`.
/// File-backed volumes are written afresh under
/// `pods/<uid>/volumes/<kind>/<name>` and mounted read-only, as tmpfs.
pub fn container_fs(
    root: &SandboxRoot,
    pod: &Value,
    container: &str,
    mut backing: impl FnMut(&str, &Value) -> VolumeBacking,
) -> Result<ContainerFs, MountError> {
    let uid = pod["metadata"]["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| MountError::Invalid("metadata.uid: Required value".to_string()))?;
    let spec = &pod["spec"];
    let (list, index, c) = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .find_map(|list| {
            spec[*list].as_array().and_then(|items| {
                items
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c["name"].as_str() == Some(container))
                    .map(|(i, c)| (*list, i, c))
            })
        })
        .ok_or_else(|| {
            MountError::Invalid(format!("container {container} is not valid for pod"))
        })?;
    let mut fs = ContainerFs::new(root.container_rootfs(uid, container)?);
    fs.set_working_dir(c["workingDir"].as_str().unwrap_or("/"));
    let empty = Vec::new();
    let volumes = spec["volumes"].as_array().unwrap_or(&empty);
    for (m, mount) in c["volumeMounts"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let field = format!("spec.{list}[{index}].volumeMounts[{m}]");
        let name = mount["name"].as_str().unwrap_or("");
        let mount_path = mount["mountPath"].as_str().unwrap_or("");
        if mount_path.is_empty() {
            return Err(MountError::Invalid(format!(
                "{field}.mountPath: Required value"
            )));
        }
        let Some(volume) = volumes.iter().find(|v| v["name"].as_str() == Some(name)) else {
            return Err(MountError::Invalid(format!(
                "{field}.name: Not found: \"{name}\""
            )));
        };
        let mut read_only = mount["readOnly"].as_bool().unwrap_or(false);
        let (dir, kind, source, capacity) = if volume.get("emptyDir").is_some() {
            let limit = volume["emptyDir"]["sizeLimit"]
                .as_str()
                .and_then(parse_quantity);
            (
                root.empty_dir(uid, name)?,
                MountKind::EmptyDir,
                name.to_string(),
                limit,
            )
        } else if let Some(path) = volume["hostPath"]["path"].as_str() {
            (
                root.host_path(path)?,
                MountKind::HostPath,
                path.to_string(),
                None,
            )
        } else {
            let file_kind = ["configMap", "secret", "projected", "downwardAPI"]
                .into_iter()
                .find(|k| volume.get(*k).is_some());
            match backing(name, volume) {
                VolumeBacking::PersistentVolume { pv_name, capacity } => {
                    read_only |= volume["persistentVolumeClaim"]["readOnly"]
                        .as_bool()
                        .unwrap_or(false);
                    (root.volume(&pv_name)?, MountKind::Volume, pv_name, capacity)
                }
                VolumeBacking::Files(files) => {
                    let kind_dir = root
                        .pod_dir(uid)?
                        .join("volumes")
                        .join(file_kind.unwrap_or("files").to_ascii_lowercase());
                    // Secret data: private even if the data dir were not
                    // (the mounted directory below keeps its usual mode).
                    if file_kind == Some("secret") {
                        private_dir(&kind_dir).map_err(|e| FsError::io(&kind_dir, &e))?;
                    }
                    let dir = kind_dir.join(self::name(name)?);
                    write_files(&dir, &files)?;
                    read_only = true;
                    (dir, MountKind::Tmpfs, name.to_string(), None)
                }
                VolumeBacking::Unavailable(why) => return Err(MountError::Unavailable(why)),
            }
        };
        let dir = match mount["subPath"].as_str().filter(|p| !p.is_empty()) {
            Some(sub) => {
                let sub_dir = confined_join(&dir, sub)?;
                if !read_only {
                    create(&sub_dir)?;
                }
                sub_dir
            }
            None => dir,
        };
        fs.mount(mount_path, dir, read_only, kind, source)?;
        if let Some(bytes) = capacity {
            fs.set_capacity(mount_path, bytes);
        }
    }
    Ok(fs)
}

/// Replaces `dir`'s content with `files` (keys may hold `/` for items with
/// paths; each is confined to `dir`).
fn write_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), FsError> {
    remove_dir(dir)?;
    create(dir)?;
    for (file, bytes) in files {
        let path = confined_join(dir, file)?;
        if let Some(parent) = path.parent() {
            create(parent)?;
        }
        std::fs::write(&path, bytes).map_err(|e| FsError::io(&path, &e))?;
    }
    Ok(())
}

/// A Kubernetes quantity (`1Gi`, `500Mi`, `10G`, `1.5Gi`, `2e3`) in bytes,
/// rounded up; `None` if it does not parse or is negative.
pub fn parse_quantity(q: &str) -> Option<u64> {
    kubeprint::Quantity::parse(q.trim()).ok()?.ceil_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn layout() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path().join("data")).unwrap();
        let r = root.path().to_path_buf();
        assert_eq!(
            root.container_rootfs("u1", "app").unwrap(),
            r.join("pods/u1/containers/app/rootfs")
        );
        assert_eq!(
            root.empty_dir("u1", "cache").unwrap(),
            r.join("pods/u1/volumes/kubernetes.io~empty-dir/cache")
        );
        assert_eq!(
            root.host_path("/tmp/pg-disk").unwrap(),
            r.join("hostpath/tmp/pg-disk")
        );
        assert_eq!(
            root.host_path("/../../etc").unwrap(),
            r.join("hostpath/etc")
        );
        assert_eq!(root.volume("pv-1").unwrap(), r.join("volumes/pv-1"));
        assert!(
            r.join("pods/u1/volumes/kubernetes.io~empty-dir/cache")
                .is_dir()
        );

        for bad in ["", ".", "..", "a/b", "../x"] {
            assert_eq!(root.volume(bad), Err(FsError::InvalidName(bad.to_string())));
            assert!(root.container_rootfs("u1", bad).is_err());
            assert!(root.pod_dir(bad).is_err());
        }

        let layer = root.container_rootfs("u1", "app").unwrap();
        std::fs::write(layer.join("f"), "x").unwrap();
        std::fs::write(
            r.join("pods/u1/volumes/kubernetes.io~empty-dir/cache/f"),
            "x",
        )
        .unwrap();
        assert_eq!(root.reset_container_rootfs("u1", "app").unwrap(), layer);
        assert!(!layer.join("f").exists() && layer.is_dir());
        assert!(
            r.join("pods/u1/volumes/kubernetes.io~empty-dir/cache/f")
                .exists(),
            "emptyDir survives"
        );

        root.remove_pod("u1").unwrap();
        assert!(!r.join("pods/u1").exists());
        root.remove_pod("u1").unwrap(); // idempotent
        root.remove_volume("pv-1").unwrap();
        assert!(!r.join("volumes/pv-1").exists());
    }

    #[test]
    fn dot_dot_is_clamped_at_the_base() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        assert_eq!(
            confined_join(base, "../../etc/passwd").unwrap(),
            base.join("etc/passwd")
        );
        assert_eq!(
            confined_join(base, "/etc/../../passwd").unwrap(),
            base.join("passwd")
        );
        assert_eq!(confined_join(base, "a/./b/../c").unwrap(), base.join("a/c"));
        assert_eq!(confined_join(base, "").unwrap(), base.to_path_buf());
        assert_eq!(absolute("/data", "../etc/./x"), "/etc/x");
        assert_eq!(absolute("/", "/.."), "/");
    }

    #[test]
    fn symlinks_inside_are_followed_and_escapes_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("root");
        std::fs::create_dir_all(base.join("real/sub")).unwrap();
        symlink("real", base.join("inside")).unwrap();
        symlink(base.join("real/sub"), base.join("abs-inside")).unwrap();
        symlink("../..", base.join("real/up")).unwrap();
        symlink("/etc", base.join("etc-link")).unwrap();
        symlink("../../..", base.join("real/sub/up3")).unwrap();
        symlink("loop", base.join("loop")).unwrap();

        assert_eq!(
            confined_join(&base, "inside/sub/f").unwrap(),
            base.join("real/sub/f")
        );
        assert_eq!(
            confined_join(&base, "abs-inside/f").unwrap(),
            base.join("real/sub/f")
        );
        // real/up → ../.. from real/ climbs above the base.
        assert!(matches!(
            confined_join(&base, "real/up/x"),
            Err(FsError::Escape { .. })
        ));
        assert!(matches!(
            confined_join(&base, "etc-link/passwd"),
            Err(FsError::Escape { .. })
        ));
        assert!(matches!(
            confined_join(&base, "real/sub/up3"),
            Err(FsError::Escape { .. })
        ));
        assert!(matches!(
            confined_join(&base, "loop/x"),
            Err(FsError::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn container_view_by_longest_mount_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let rootfs = root.container_rootfs("p", "c").unwrap();
        let data = root.volume("pv-data").unwrap();
        let cache = root.empty_dir("p", "cache").unwrap();
        let mut fs = ContainerFs::new(&rootfs);
        fs.mount("/data", &data, false, MountKind::Volume, "pv-data")
            .unwrap();
        fs.mount("/data/cache/", &cache, true, MountKind::EmptyDir, "cache")
            .unwrap();
        assert!(rootfs.join("data").is_dir(), "mount point created");
        assert!(fs.mount("/", &data, false, MountKind::Volume, "x").is_err());

        let r = fs.resolve("/", "/data/messages.json").unwrap();
        assert_eq!(r.host, data.join("messages.json"));
        assert_eq!(r.mount, Some(0));
        assert!(!r.read_only);

        let r = fs.resolve("/data", "cache/x").unwrap();
        assert_eq!(r.host, cache.join("x"));
        assert!(r.read_only);
        assert_eq!(r.container_path, "/data/cache/x");

        let r = fs.resolve("/", "/database").unwrap();
        assert_eq!(r.host, rootfs.join("database"));
        assert_eq!(r.mount, None);

        let r = fs.resolve("/data", "../../../etc/passwd").unwrap();
        assert_eq!(r.host, rootfs.join("etc/passwd"));
        let r = fs.resolve("/", "/data").unwrap();
        assert_eq!(r.host, data);

        assert_eq!(fs.mount_points_in("/"), vec!["data".to_string()]);
        assert_eq!(fs.mount_points_in("/data"), vec!["cache".to_string()]);
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("1Gi"), Some(1 << 30));
        assert_eq!(parse_quantity("500Mi"), Some(500 << 20));
        assert_eq!(parse_quantity("10G"), Some(10_000_000_000));
        assert_eq!(parse_quantity("1.5Gi"), Some(3 << 29));
        assert_eq!(parse_quantity("2e3"), Some(2000));
        assert_eq!(parse_quantity("100"), Some(100));
        assert_eq!(parse_quantity("1Xi"), None);
        assert_eq!(parse_quantity("-1Gi"), None);
        assert_eq!(parse_quantity(""), None);
        assert_eq!(parse_quantity("1e999"), None);
    }

    #[test]
    fn container_fs_from_a_pod_spec() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let pod = serde_json::json!({
            "metadata": {"uid": "u-1", "name": "api"},
            "spec": {
                "containers": [{
                    "name": "api",
                    "workingDir": "/app",
                    "volumeMounts": [
                        {"name": "cache", "mountPath": "/cache"},
                        {"name": "disk", "mountPath": "/var/lib/pg", "subPath": "pgdata"},
                        {"name": "db", "mountPath": "/persist"},
                        {"name": "code", "mountPath": "/opt/msg-api", "readOnly": true}
                    ]
                }],
                "volumes": [
                    {"name": "cache", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "disk", "hostPath": {"path": "/tmp/pg-disk"}},
                    {"name": "db", "persistentVolumeClaim": {"claimName": "db"}},
                    {"name": "code", "configMap": {"name": "msg-api-script"}}
                ]
            }
        });
        let fs = container_fs(&root, &pod, "api", |name, volume| match name {
            "db" => {
                assert_eq!(volume["persistentVolumeClaim"]["claimName"], "db");
                VolumeBacking::PersistentVolume {
                    pv_name: "pvc-123".into(),
                    capacity: Some(1 << 30),
                }
            }
            _ => VolumeBacking::Files(BTreeMap::from([(
                "msg_api.py".to_string(),
                b"print()".to_vec(),
            )])),
        })
        .unwrap();
        let r = root.path();
        let at = |p: &str| fs.resolve("/", p).unwrap();
        assert_eq!(
            at("/cache/x").host,
            r.join("pods/u-1/volumes/kubernetes.io~empty-dir/cache/x")
        );
        assert_eq!(
            at("/var/lib/pg/f").host,
            r.join("hostpath/tmp/pg-disk/pgdata/f")
        );
        assert!(r.join("hostpath/tmp/pg-disk/pgdata").is_dir());
        assert_eq!(
            at("/persist/db.json").host,
            r.join("volumes/pvc-123/db.json")
        );
        let code = at("/opt/msg-api/msg_api.py");
        assert!(code.read_only);
        assert_eq!(std::fs::read(&code.host).unwrap(), b"print()");
        assert_eq!(
            at("/etc/hosts").host,
            r.join("pods/u-1/containers/api/rootfs/etc/hosts")
        );
        assert_eq!(fs.working_dir(), "/app");
        let caps: Vec<_> = fs.mounts().iter().map(|m| m.capacity).collect();
        assert_eq!(caps, [Some(64 << 20), None, Some(1 << 30), None]);
    }

    #[test]
    fn container_fs_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let pod = |mounts: Value| {
            serde_json::json!({
                "metadata": {"uid": "u"},
                "spec": {"containers": [{"name": "c", "volumeMounts": mounts}],
                         "volumes": [{"name": "db", "persistentVolumeClaim": {"claimName": "db"}}]}
            })
        };
        let unbound = |_: &str, _: &Value| {
            VolumeBacking::Unavailable("unbound immediate PersistentVolumeClaims".into())
        };
        assert_eq!(
            container_fs(
                &root,
                &pod(serde_json::json!([{"name": "x", "mountPath": "/x"}])),
                "c",
                unbound
            )
            .unwrap_err()
            .to_string(),
            "spec.containers[0].volumeMounts[0].name: Not found: \"x\""
        );
        assert!(matches!(
            container_fs(
                &root,
                &pod(serde_json::json!([{"name": "db", "mountPath": "/d"}])),
                "c",
                unbound
            ),
            Err(MountError::Unavailable(_))
        ));
        assert!(container_fs(&root, &pod(serde_json::json!([])), "nope", unbound).is_err());
        let escape = serde_json::json!([{"name": "db", "mountPath": "/d", "subPath": "../../x"}]);
        let pv = |_: &str, _: &Value| VolumeBacking::PersistentVolume {
            pv_name: "pv".into(),
            capacity: None,
        };
        let fs = container_fs(&root, &pod(escape), "c", pv).unwrap();
        assert_eq!(
            fs.resolve("/", "/d").unwrap().host,
            root.path().join("volumes/pv/x")
        );
    }

    #[test]
    fn a_symlink_in_a_volume_cannot_reach_other_data() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let rootfs = root.container_rootfs("p", "c").unwrap();
        let vol = root.empty_dir("p", "v").unwrap();
        symlink("../../../../../../..", vol.join("up")).unwrap();
        let mut fs = ContainerFs::new(&rootfs);
        fs.mount("/v", &vol, false, MountKind::EmptyDir, "v")
            .unwrap();
        assert!(matches!(
            fs.resolve("/", "/v/up/etc"),
            Err(FsError::Escape { .. })
        ));
    }
}
