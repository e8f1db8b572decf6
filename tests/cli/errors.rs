//! What a learner sees when the cluster cannot be used: a bad kubeconfig,
//! an unknown context, a context that is not a local learning cluster
//! (without `--allow-remote`), an unreachable server. Each is one clear
//! `error:` line and exit status 1, before any terminal is needed.

use crate::support;

use support::{run, stderr};

const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://prod.example.com:6443"}
- name: kind
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: abc}
contexts:
- name: prod
  context: {cluster: prod, user: u}
- name: kind-kind
  context: {cluster: kind, user: u}
current-context: prod
"#;

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, KUBECONFIG).unwrap();
    let kc = kc.to_str().unwrap().to_owned();
    (dir, kc)
}

fn fails_with(args: &[&str], data: &std::path::Path, wanted: &[&str]) {
    let out = run(data, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{args:?}: expected {w:?} in {err}");
    }
}

#[test]
fn a_bad_kubeconfig_says_which_file_and_what_to_do() {
    let (dir, _) = setup();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "garbage: [").unwrap();
    fails_with(
        &["--kubeconfig", bad.to_str().unwrap()],
        dir.path(),
        &["cannot read the kubeconfig", "bad", "--kubeconfig"],
    );
}

#[test]
fn an_unknown_context_lists_the_known_ones() {
    let (dir, kc) = setup();
    fails_with(
        &["--kubeconfig", &kc, "--context", "nope"],
        dir.path(),
        &["context `nope` is not in the kubeconfig", "prod, kind-kind"],
    );
}

#[test]
fn a_remote_context_needs_allow_remote() {
    let (dir, kc) = setup();
    fails_with(
        &["--kubeconfig", &kc, "--context", "prod"],
        dir.path(),
        &[
            "does not look like a local learning cluster",
            "--allow-remote",
        ],
    );
    // The current context is `prod` too: no --context is no excuse.
    fails_with(&["--kubeconfig", &kc], dir.path(), &["--allow-remote"]);
}

#[test]
fn doctor_reports_an_unreachable_cluster_with_its_fix() {
    let (dir, kc) = setup();
    let out = run(
        dir.path(),
        &["--kubeconfig", &kc, "--context", "kind-kind", "doctor"],
    );
    let text = support::stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[FAIL] cluster"), "{text}");
    assert!(text.contains("fix: "), "{text}");
}
