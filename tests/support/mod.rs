//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The kubetutor binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubetutor"))
}

/// Runs kubetutor with a private data directory and a fixed environment.
pub fn run(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("KUBETUTOR_DATA_DIR", data_dir)
        .env_remove("KUBETUTOR_LANG")
        .env_remove("KUBETUTOR_COURSE_DIR")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .expect("run kubetutor")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Finds an external tool the test needs. In CI (`CI` set) a missing tool is
/// a failure; on a developer's machine the test is skipped with a notice.
pub fn require_tool(name: &str, env_override: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = env_override
        .and_then(std::env::var_os)
        .filter(|p| !p.is_empty())
    {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required in CI but was not found on PATH");
        }
        eprintln!("notice: {name} not found on PATH; skipping this test");
    }
    found
}
