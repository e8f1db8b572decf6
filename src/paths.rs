//! Where kubetutor keeps its files.
//!
//! Everything lives under one data directory so that `reset` and the sandbox's
//! `--reset` know exactly what they own. `KUBETUTOR_DATA_DIR` overrides the
//! platform default (tests and classrooms use it).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "KUBETUTOR_DATA_DIR";

/// The data directory: `$KUBETUTOR_DATA_DIR`, else the platform's data dir
/// (`~/.local/share/kubetutor` on Linux, `~/Library/Application
/// Support/dev.kubetutor.kubetutor` on macOS).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "kubetutor", "kubetutor")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context(
            "cannot find a home directory for kubetutor's data; \
             set KUBETUTOR_DATA_DIR to a writable directory",
        )
}

/// The progress file inside a data directory.
pub fn progress_file(data_dir: &Path) -> PathBuf {
    data_dir.join("progress.json")
}

/// The embedded sandbox's own directory inside a data directory.
pub fn sandbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox")
}

/// Where the course writes the manifests a learner applies and edits.
pub fn lab_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("lab")
}

/// Creates the data directory (and missing parents) with mode 0700 from
/// the start, or tightens an existing one to 0700: it holds the sandbox
/// (its token, database and volume files, Secret data among them), the
/// learner's progress and lab. Nothing under it is then reachable by
/// another local user.
pub fn private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        builder.mode(0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || format!("cannot make the data directory {} private", dir.display()),
            )?;
        }
    }
    #[cfg(not(unix))]
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    Ok(())
}

/// Writes `bytes` to `path` so that a crash at any moment leaves either the old
/// file or the new one, never a torn mix: temp file in the same directory,
/// fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`] for files only their owner may read (join codes,
/// tokens): the temporary file is created with mode 0600 on Unix, so the
/// content is never readable by others, not even for a moment.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, Some(0o600))
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    // Directories it creates are private (the data directory among them).
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::OpenOptionsExt as _;
            // A temp file left by a crash keeps its old mode: start afresh.
            let _ = std::fs::remove_file(&tmp);
            options.mode(m);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // The rename is only durable once the directory entry is on disk.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A path as a learner reads and types it: `~/...` under the home
/// directory.
pub fn display_path(path: &std::path::Path) -> String {
    match std::env::var_os("HOME").map(std::path::PathBuf::from) {
        Some(home) if !home.as_os_str().is_empty() && path.starts_with(&home) => {
            let rest = path.strip_prefix(&home).unwrap_or(path);
            format!("~/{}", rest.display())
        }
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        write_private(&path, b"code").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("p.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("p.json")]);
    }
}
