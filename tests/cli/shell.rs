//! `kubetutor shell` reading its commands from standard input (as `sh`
//! does), or with `-c`: the environment it exports (KUBECONFIG with the
//! course's context and namespace first, the lab directory, the marker),
//! the sandbox it starts for as long as the shell lives, and the shell's
//! exit status as its own.

use crate::support;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn shell(data: &Path, home: &Path, args: &[&str], stdin: &str, path: Option<&Path>) -> Output {
    let mut cmd = Command::new(support::bin());
    cmd.args(args)
        .env("KUBETUTOR_DATA_DIR", data)
        .env("HOME", home)
        .env("SHELL", "/bin/sh")
        .env_remove("ENV")
        .env_remove("KUBECONFIG")
        .env_remove("KUBETUTOR_LANG")
        .env_remove("KUBETUTOR_COURSE_DIR")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = path {
        cmd.env("PATH", format!("{}:/usr/bin:/bin", p.display()));
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in:\n{out}"))
}

#[test]
fn the_shell_exports_the_course_cluster_namespace_and_lab_and_stops_its_sandbox() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let kubectl = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL"));
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    if let Some(k) = &kubectl {
        std::os::unix::fs::symlink(k, bin.join("kubectl")).unwrap();
    }
    let script = r#"
echo "KC=$KUBECONFIG"
echo "PWD=$(pwd)"
echo "MARK=$KUBETUTOR_SHELL"
echo "LAYER=${KUBECONFIG%%:*}"
if command -v kubectl >/dev/null; then
  echo "NS=$(kubectl config view --minify -o 'jsonpath={..namespace}')"
  echo "CTX=$(kubectl config current-context)"
  echo "GET=$(kubectl get namespace kubetutor -o name)"
fi
echo "STATUS=$(kubetutor status | grep -c '^  kubetutor shell$')"
exit 3
"#;
    let out = shell(data.path(), home.path(), &["shell"], script, Some(&bin));
    let text = support::stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{text}\n{}",
        support::stderr(&out)
    );
    let files: Vec<PathBuf> = std::env::split_paths(value(&text, "KC")).collect();
    let layer = data
        .path()
        .join("shell/kubeconfig-kubetutor-sandbox-kubetutor");
    assert_eq!(
        files,
        vec![layer.clone(), data.path().join("sandbox/kubeconfig")]
    );
    assert_eq!(value(&text, "LAYER"), layer.to_str().unwrap());
    assert_eq!(
        Path::new(value(&text, "PWD")).canonicalize().unwrap(),
        data.path().join("lab").canonicalize().unwrap()
    );
    assert!(data.path().join("lab/assets").is_dir());
    assert_eq!(value(&text, "MARK"), "1");
    // `kubetutor status` in the shell names it (kubetutor is on its PATH).
    assert_eq!(value(&text, "STATUS"), "1");
    let l = std::fs::read_to_string(&layer).unwrap();
    assert!(l.contains(r#""namespace": "kubetutor""#), "{l}");
    assert!(
        l.contains(r#""current-context": "kubetutor-sandbox""#),
        "{l}"
    );
    if kubectl.is_some() {
        assert_eq!(value(&text, "NS"), "kubetutor");
        assert_eq!(value(&text, "CTX"), "kubetutor-sandbox");
        assert_eq!(value(&text, "GET"), "namespace/kubetutor");
    }
    // The sandbox it started lived as long as the shell.
    assert!(!data.path().join("sandbox.json").exists());
}

#[test]
fn a_chosen_context_gets_its_namespace_without_touching_the_learners_kubeconfig() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let kc = home.path().join("config");
    let original = "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {token: t0ken}\ncontexts:\n- name: kind-x\n  context: {cluster: c, user: u}\n- name: other\n  context: {cluster: c, user: u}\n";
    std::fs::write(&kc, original).unwrap();
    let out = shell(
        data.path(),
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--context",
            "kind-x",
            "-n",
            "storage",
            "shell",
            "-c",
            "echo \"KC=$KUBECONFIG\"",
        ],
        "",
        None,
    );
    let text = support::stdout(&out);
    assert!(out.status.success(), "{text}\n{}", support::stderr(&out));
    let files: Vec<PathBuf> = std::env::split_paths(value(&text, "KC")).collect();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1], kc);
    let layer = std::fs::read_to_string(&files[0]).unwrap();
    assert!(layer.contains(r#""namespace": "storage""#), "{layer}");
    assert!(layer.contains(r#""current-context": "kind-x""#), "{layer}");
    assert!(!layer.contains("t0ken"), "{layer}");
    assert_eq!(std::fs::read_to_string(&kc).unwrap(), original);
}
