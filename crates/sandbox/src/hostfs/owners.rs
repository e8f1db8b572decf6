//! Who owns a container's files.
//!
//! Every file on disk belongs to the user running the sandbox, so the
//! owners a container sees (`ls -l`, `stat`, the kernel's permission
//! checks) are kept beside the bytes: an extended attribute
//! `user.kubetutor.owner` holding `uid:gid`. A file without it is root's,
//! as an image's files and a runtime's directories are. The attribute
//! travels with the file when it is renamed, and is gone with it.
//!
//! Symlinks cannot carry `user.*` attributes on Linux: they always show
//! as root's (their own owner matters to nothing a learner does).
//! A filesystem without user attributes keeps no owners: every file shows
//! as root's there, and the sandbox logs it once.

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::XattrFlags;

const ATTR: &str = "user.kubetutor.owner";

/// A file's numeric owner and group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };

    fn parse(bytes: &[u8]) -> Option<Owner> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (u, g) = text.split_once(':')?;
        Some(Owner {
            uid: u.parse().ok()?,
            gid: g.parse().ok()?,
        })
    }
}

/// The owner of `path` (not following a final symlink): root when
/// nothing says otherwise.
pub fn get(path: &Path) -> Owner {
    let mut buf = [0u8; 32];
    match rustix::fs::lgetxattr(path, ATTR, &mut buf[..]) {
        Ok(n) => buf.get(..n).and_then(Owner::parse).unwrap_or(Owner::ROOT),
        Err(_) => Owner::ROOT,
    }
}

/// Gives `path` to `owner` (root's files carry no attribute). A symlink
/// keeps root; a filesystem without user attributes keeps nothing.
pub fn set(path: &Path, owner: Owner) -> io::Result<()> {
    let result = if owner == Owner::ROOT {
        match rustix::fs::lremovexattr(path, ATTR) {
            Err(rustix::io::Errno::NODATA) => Ok(()),
            other => other,
        }
    } else {
        let value = format!("{}:{}", owner.uid, owner.gid);
        rustix::fs::lsetxattr(path, ATTR, value.as_bytes(), XattrFlags::empty())
    };
    match result {
        Ok(()) => Ok(()),
        // Symlinks refuse user attributes (EPERM); a filesystem without
        // them says ENOTSUP: both keep the default owner.
        Err(rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP) => {
            if !is_symlink(path) {
                unsupported_once(path);
            }
            Ok(())
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn unsupported_once(path: &Path) {
    static SAID: OnceLock<()> = OnceLock::new();
    SAID.get_or_init(|| {
        tracing::warn!(
            path = %path.display(),
            "this filesystem keeps no user extended attributes: files in containers all show as root's"
        );
    });
}

/// `chown -R`-like walk of `dir` for the kubelet's fsGroup: every entry's
/// group becomes `gid` (owners kept), files gain group read (and write
/// unless `read_only`), directories also group search and setgid, so what
/// the pod creates there stays in the group. Symlinks are left alone.
pub fn set_volume_group(dir: &Path, gid: u32, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mask = if read_only { 0o440 } else { 0o660 };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let owner = get(&path);
        if owner.gid != gid {
            let _ = set(
                &path,
                Owner {
                    uid: owner.uid,
                    gid,
                },
            );
        }
        let old = meta.permissions().mode() & 0o7777;
        let mut mode = old | mask;
        if meta.is_dir() {
            mode |= 0o2110;
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        }
        // Resyncs of file volumes walk again: change only what differs.
        if mode != old {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
        }
    }
}

/// fsGroupChangePolicy `OnRootMismatch`: the walk is skipped when the
/// volume's root already has the group, setgid and the group's rights.
pub fn volume_group_matches(dir: &Path, gid: u32, read_only: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mask = if read_only { 0o440 } else { 0o660 } | 0o2110;
    get(dir).gid == gid
        && std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & mask == mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn owners_default_to_root_and_follow_renames() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(get(&f), Owner::ROOT);
        set(
            &f,
            Owner {
                uid: 1000,
                gid: 2000,
            },
        )
        .unwrap();
        let g = tmp.path().join("g");
        std::fs::rename(&f, &g).unwrap();
        assert_eq!(
            get(&g),
            Owner {
                uid: 1000,
                gid: 2000
            }
        );
        set(&g, Owner::ROOT).unwrap();
        assert_eq!(get(&g), Owner::ROOT);
        // Setting root twice is fine (nothing to remove).
        set(&g, Owner::ROOT).unwrap();
        // A symlink keeps root, without an error.
        let l = tmp.path().join("l");
        std::os::unix::fs::symlink("g", &l).unwrap();
        set(&l, Owner { uid: 5, gid: 5 }).unwrap();
        assert_eq!(get(&l), Owner::ROOT);
    }

    #[test]
    fn the_volume_group_walk_is_the_kubelets() {
        let tmp = tempfile::tempdir().unwrap();
        let v = tmp.path().join("v");
        std::fs::create_dir_all(v.join("sub")).unwrap();
        std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(v.join("sub/f"), "x").unwrap();
        std::fs::set_permissions(v.join("sub/f"), std::fs::Permissions::from_mode(0o600)).unwrap();
        set(&v.join("sub/f"), Owner { uid: 7, gid: 7 }).unwrap();
        assert!(!volume_group_matches(&v, 2000, false));
        set_volume_group(&v, 2000, false);
        assert_eq!(get(&v), Owner { uid: 0, gid: 2000 });
        assert_eq!(get(&v.join("sub/f")), Owner { uid: 7, gid: 2000 });
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&v), 0o2775);
        assert_eq!(mode(&v.join("sub/f")), 0o660);
        assert!(volume_group_matches(&v, 2000, false));
    }
}
