//! The log file: `<data-dir>/kubetutor.log` (mode 0600), written by a
//! `tracing` subscriber, never to the terminal the tutorial draws on. The
//! level comes from `--log` (or `KUBETUTOR_LOG`), else `RUST_LOG`, else
//! `info` for kubetutor's own crates and `warn` for the rest. A log over
//! 5 MiB is moved to `kubetutor.log.1` at start, so it never grows without
//! bound.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The log file's name inside the data directory.
pub const LOG_FILE: &str = "kubetutor.log";
/// Above this size the old log is moved aside at start.
const ROTATE_BYTES: u64 = 5 * 1024 * 1024;
/// What is logged when nothing says otherwise.
const DEFAULT_FILTER: &str = "warn,kubetutor=info,sandbox=info,pgemu=info";

/// Starts logging into `data_dir`; returns the file's path, or `None` when
/// it cannot be opened (the tutorial works on without a log).
pub fn init(data_dir: &Path, level: Option<&str>) -> Option<PathBuf> {
    let path = data_dir.join(LOG_FILE);
    if std::fs::create_dir_all(data_dir).is_err() {
        return None;
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > ROTATE_BYTES) {
        let _ = std::fs::rename(&path, data_dir.join(format!("{LOG_FILE}.1")));
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .ok()?;
    let filter = level
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(true)
        .try_init()
        .is_ok();
    installed.then_some(path)
}
