//! Finds the real clients the conformance tests drive: kubectl v1.32,
//! v1.34 and v1.35, helm 3 and 4, and the official Python client.
//!
//! Each comes from its `KUBETUTOR_*` variable (what `.ci/run` exports
//! from `scripts/get-clients.sh`), else from where that script puts it
//! (`.tools/`, `target/python-kubernetes`). In CI (`CI` set) a missing
//! client fails the test; elsewhere the test prints a notice and skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A missing client: a failure in CI, a notice elsewhere.
fn missing(what: &str, var: &str) -> Option<PathBuf> {
    let how = format!("run scripts/get-clients.sh or set {var}");
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI: {how}");
    }
    eprintln!("notice: {what} not found ({how}); skipping what needs it");
    None
}

fn find(what: &str, var: &str, default: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Some(p)
        } else {
            missing(what, var)
        };
    }
    let p = root().join(default);
    if p.exists() {
        Some(p)
    } else {
        missing(what, var)
    }
}

/// One kubectl release.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// `v1.35`.
    pub version: &'static str,
    pub path: PathBuf,
}

/// Every kubectl release the tests drive (those found).
pub fn kubectls() -> Vec<Kubectl> {
    [
        ("v1.32", "KUBETUTOR_KUBECTL_V132", ".tools/v1.32/kubectl"),
        ("v1.34", "KUBETUTOR_KUBECTL_V134", ".tools/kubectl"),
        ("v1.35", "KUBETUTOR_KUBECTL_V135", ".tools/v1.35/kubectl"),
    ]
    .into_iter()
    .filter_map(|(version, var, default)| {
        find(&format!("kubectl {version}"), var, default).map(|path| Kubectl { version, path })
    })
    .collect()
}

/// helm 4 (its default is server-side apply).
pub fn helm4() -> Option<PathBuf> {
    find("helm 4", "KUBETUTOR_HELM", ".tools/v1.35/helm")
}

/// helm 3.
pub fn helm3() -> Option<PathBuf> {
    find("helm 3", "KUBETUTOR_HELM3", ".tools/v1.32/helm")
}

/// A Python interpreter with the official client (`pip install
/// kubernetes`), in a venv under target/ that this makes when missing.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBETUTOR_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = root().join("target/python-kubernetes");
    let py = venv.join("bin/python");
    let has_client = |py: &Path| {
        Command::new(py)
            .args(["-c", "import kubernetes"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_client(&py) {
        return Some(py);
    }
    // Several test binaries may get here at once: one makes the venv.
    let lock = root().join("target/python-kubernetes.lock");
    let _ = std::fs::create_dir_all(root().join("target"));
    for _ in 0..600 {
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .is_ok()
        {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(venv.join("bin/pip"))
                    .args([
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "kubernetes",
                    ])
                    .status()
                    .is_ok_and(|s| s.success());
            let _ = std::fs::remove_file(&lock);
            if made && has_client(&py) {
                return Some(py);
            }
            return missing("the Python kubernetes client", "KUBETUTOR_PYTHON");
        }
        if has_client(&py) {
            return Some(py);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    missing("the Python kubernetes client", "KUBETUTOR_PYTHON")
}
