//! The kubelet's atomic writer, for configMap, secret, downwardAPI and
//! projected volumes: a reader of the volume always sees one complete
//! version of its files, and an update swaps them all at once.
//!
//! ```text
//! ..2025_03_01_12_00_00.3587926314/   the files of one version (0755)
//! ..data -> ..2025_03_01_12_00_00.3587926314
//! color -> ..data/color               one link per top-level name
//! ```
//!
//! An update (only when the payload differs) writes a new timestamped
//! directory, adds the links of new names, points `..data_tmp` at the new
//! directory and renames it over `..data` (the atomic step), removes the
//! links of names gone, then the old directory.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::hostfs::confined_join;

/// One file of a volume's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// Relative path (`a` or `dir/b`).
    pub path: String,
    pub data: Vec<u8>,
    /// Permission bits (`defaultMode`, `items[].mode`).
    pub mode: u32,
}

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// Whether a payload path is usable: relative, no `..` element, not
/// starting with `..` (upstream's validation of item paths).
fn valid(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.starts_with("..")
        && path.split('/').all(|p| !p.is_empty() && p != "..")
}

fn io(e: &std::io::Error, what: &Path) -> String {
    format!("{}: {e}", what.display())
}

/// The current version's files, read back (None when there is none).
fn current(dir: &Path) -> Option<(String, Vec<FileProjection>)> {
    let target = std::fs::read_link(dir.join(DATA)).ok()?;
    let name = target.to_string_lossy().into_owned();
    let base = dir.join(&name);
    let mut files = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let here = if rel.is_empty() {
            base.clone()
        } else {
            base.join(&rel)
        };
        for e in std::fs::read_dir(&here).ok()?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let p = if rel.is_empty() {
                n
            } else {
                format!("{rel}/{n}")
            };
            let meta = e.metadata().ok()?;
            if meta.is_dir() {
                stack.push(p);
            } else {
                files.push(FileProjection {
                    data: std::fs::read(e.path()).ok()?,
                    mode: meta.permissions().mode() & 0o7777,
                    path: p,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Some((name, files))
}

/// Writes `payload` into the volume directory `dir` as the kubelet does;
/// Ok(true) when something changed.
pub fn write(dir: &Path, payload: &[FileProjection]) -> Result<bool, String> {
    // The sandbox's own user must keep reading what it wrote: owner read
    // is always on (a mode of 0040 shows as 0440).
    let mut wanted: Vec<FileProjection> = payload
        .iter()
        .filter(|f| valid(&f.path))
        .map(|f| FileProjection {
            mode: (f.mode & 0o7777) | 0o400,
            ..f.clone()
        })
        .collect();
    wanted.sort_by(|a, b| a.path.cmp(&b.path));
    wanted.dedup_by(|a, b| a.path == b.path);
    std::fs::create_dir_all(dir).map_err(|e| io(&e, dir))?;
    let old = current(dir);
    if old.as_ref().is_some_and(|(_, files)| *files == wanted) {
        return Ok(false);
    }
    // The new version's directory.
    let stamp = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("..%Y_%m_%d_%H_%M_%S.")
        .to_string();
    let mut ts_name = String::new();
    for _ in 0..16 {
        let candidate = format!("{stamp}{}", rand::random_range(0..4_294_967_295u64));
        if std::fs::create_dir(dir.join(&candidate)).is_ok() {
            ts_name = candidate;
            break;
        }
    }
    if ts_name.is_empty() {
        return Err(format!(
            "{}: cannot create a version directory",
            dir.display()
        ));
    }
    let ts_dir = dir.join(&ts_name);
    let _ = std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755));
    for f in &wanted {
        let path = confined_join(&ts_dir, &f.path).map_err(|e| e.to_string())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(&e, parent))?;
        }
        std::fs::write(&path, &f.data).map_err(|e| io(&e, &path))?;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode));
    }
    // The user-visible links: one per top-level name.
    let tops: BTreeSet<String> = wanted
        .iter()
        .filter_map(|f| f.path.split('/').next().map(str::to_string))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("{DATA}/{top}"), &link)
                .map_err(|e| io(&e, &link))?;
        }
    }
    // The switch.
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts_name, &tmp).map_err(|e| io(&e, &tmp))?;
    std::fs::rename(&tmp, dir.join(DATA)).map_err(|e| io(&e, &tmp))?;
    // Names gone, then the old version.
    if let Some((old_name, old_files)) = old {
        let old_tops: BTreeSet<String> = old_files
            .iter()
            .filter_map(|f| f.path.split('/').next().map(str::to_string))
            .collect();
        for gone in old_tops.difference(&tops) {
            let _ = std::fs::remove_file(dir.join(gone));
        }
        if old_name != ts_name && old_name.starts_with("..") && !old_name.contains('/') {
            let _ = std::fs::remove_dir_all(dir.join(old_name));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, data: &str) -> FileProjection {
        FileProjection {
            path: path.into(),
            data: data.as_bytes().to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn versions_swap_atomically_and_stale_names_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg");
        assert!(write(&dir, &[f("color", "blue"), f("conf/app.ini", "a=1")]).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("color")).unwrap(), "blue");
        assert_eq!(
            std::fs::read_to_string(dir.join("conf/app.ini")).unwrap(),
            "a=1"
        );
        assert_eq!(
            std::fs::read_link(dir.join("color"))
                .unwrap()
                .to_string_lossy(),
            "..data/color"
        );
        let first = std::fs::read_link(dir.join("..data")).unwrap();
        assert!(first.to_string_lossy().starts_with(".."));
        // Same payload: nothing changes.
        assert!(!write(&dir, &[f("color", "blue"), f("conf/app.ini", "a=1")]).unwrap());
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), first);
        // An update: new version, `conf` gone, old version removed.
        assert!(write(&dir, &[f("color", "red")]).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("color")).unwrap(), "red");
        assert!(std::fs::symlink_metadata(dir.join("conf")).is_err());
        assert!(!dir.join(&first).exists());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // Bad paths are skipped.
        assert!(write(&dir, &[f("../x", "no"), f("color", "green")]).unwrap());
        assert!(!tmp.path().join("x").exists());
    }

    #[test]
    fn modes_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let mut key = f("key", "k");
        key.mode = 0o400;
        write(&dir, &[key]).unwrap();
        let m = std::fs::metadata(dir.join("key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o400);
        let ts = std::fs::read_link(dir.join("..data")).unwrap();
        let m = std::fs::metadata(dir.join(ts))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o755);
    }
}
