//! The sandbox's files on disk, and each container's view of them.
//!
//! Everything a container writes lands in real directories under the data
//! dir, so a learner can see for themselves where the data went (and that
//! it is gone after `kubectl delete pod`):
//!
//! ```text
//! <root>/pods/<uid>/containers/<name>/rootfs    container writable layer
//! <root>/pods/<uid>/volumes/empty-dir/<name>    emptyDir volumes
//! <root>/hostpath/<path>                        hostPath volumes (/tmp/x → hostpath/tmp/x)
//! <root>/volumes/<pv-name>                      provisioned persistent volumes
//! ```
//!
//! Paths coming from manifests and `kubectl exec` are untrusted: every join
//! goes through [`confined_join`], which can never leave its base directory
//! (`..` is clamped at the base like `/..` is `/`, and symlinks that point
//! out of the base are refused).

use std::io;
use std::path::{Component, Path, PathBuf};

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
    /// Opens (creating if needed) the data dir at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, FsError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| FsError::io(&root, &e))?;
        Ok(Self { root })
    }

    pub fn path(&self) -> &Path {
        &self.root
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

    /// An emptyDir volume of a pod, created if missing.
    pub fn empty_dir(&self, pod_uid: &str, volume: &str) -> Result<PathBuf, FsError> {
        let dir = self
            .pod_dir(pod_uid)?
            .join("volumes")
            .join("empty-dir")
            .join(name(volume)?);
        create(&dir)
    }

    /// The directory standing for node path `path` of a hostPath volume,
    /// created if missing: `/tmp/pg-disk` → `<root>/hostpath/tmp/pg-disk`.
    pub fn host_path(&self, path: &str) -> Result<PathBuf, FsError> {
        let base = create(&self.root.join("hostpath"))?;
        let dir = confined_join(&base, path)?;
        create(&dir)
    }

    /// A provisioned persistent volume's directory, created if missing.
    pub fn volume(&self, pv_name: &str) -> Result<PathBuf, FsError> {
        create(&self.root.join("volumes").join(name(pv_name)?))
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
}

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
        }
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
                read_only: false,
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
            r.join("pods/u1/volumes/empty-dir/cache")
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
        assert!(r.join("pods/u1/volumes/empty-dir/cache").is_dir());

        for bad in ["", ".", "..", "a/b", "../x"] {
            assert_eq!(root.volume(bad), Err(FsError::InvalidName(bad.to_string())));
            assert!(root.container_rootfs("u1", bad).is_err());
            assert!(root.pod_dir(bad).is_err());
        }

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
