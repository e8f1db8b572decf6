//! The sandbox's OpenAPI documents as kubectl uses them: `explain` (v3),
//! client-side validation of `kind: List` files (v2 protobuf) and the
//! server-side strict validation that single objects keep getting.
//!
//! Each test runs with every kubectl at hand: `$KUBETUTOR_KUBECTL` or
//! `.tools/kubectl` (v1.34, scripts/get-kubectl.sh), `$KUBETUTOR_KUBECTL_V135`
//! or `.tools/v1.35/kubectl`, `$KUBETUTOR_KUBECTL_V132` or
//! `.tools/v1.32/kubectl` (all from scripts/get-clients.sh) and
//! `/usr/bin/kubectl`. In CI (`CI` set) the first three are required; a
//! missing one elsewhere is skipped with a notice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sandbox::{Sandbox, SandboxConfig};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

fn tools(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools")
        .join(name)
}

/// Every kubectl to run the tests with.
fn clients() -> Vec<PathBuf> {
    let ci = std::env::var_os("CI").is_some();
    let mut out = Vec::new();
    let wanted = [
        ("KUBETUTOR_KUBECTL", tools("kubectl"), true),
        ("KUBETUTOR_KUBECTL_V135", tools("v1.35/kubectl"), true),
        ("KUBETUTOR_KUBECTL_V132", tools("v1.32/kubectl"), true),
        ("", PathBuf::from("/usr/bin/kubectl"), false),
    ];
    for (var, default, required) in wanted {
        let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
        if path.is_file() {
            if !out.contains(&path) {
                out.push(path);
            }
        } else if ci && required {
            panic!(
                "{} is required in CI: run scripts/get-clients.sh",
                path.display()
            );
        } else {
            eprintln!(
                "notice: no {}; the OpenAPI tests run without it",
                path.display()
            );
        }
    }
    out
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn kubectl(k: &Path, sb: &Sandbox, cache: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut c = Command::new(k);
    c.arg("--kubeconfig")
        .arg(sb.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .kill_on_drop(true)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl took more than a minute")
        .unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts that every line of `want` is a line of `text`.
fn has_lines(text: &str, want: &[&str], what: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for w in want {
        assert!(lines.contains(w), "{what}: no line {w:?} in:\n{text}");
    }
}

async fn start() -> (Sandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(SandboxConfig::new(dir.path().join("data")))
        .await
        .unwrap();
    (sb, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_upstream_documentation() {
    let clients = clients();
    if clients.is_empty() {
        return;
    }
    let (sb, dir) = start().await;
    for (i, k) in clients.iter().enumerate() {
        let cache = dir.path().join(format!("cache-{i}"));
        let run = |args: &'static [&'static str]| {
            let (sb, cache) = (&sb, &cache);
            async move {
                let out = kubectl(k, sb, cache, args, None).await;
                assert!(out.ok, "{} {args:?}: {}", k.display(), out.stderr);
                out.stdout
            }
        };
        let what = format!("{} explain pvc.spec", k.display());
        has_lines(
            &run(&["explain", "pvc.spec"]).await,
            &[
                "KIND:       PersistentVolumeClaim",
                "VERSION:    v1",
                "FIELD: spec <PersistentVolumeClaimSpec>",
                "    spec defines the desired characteristics of a volume requested by a pod",
                "    PersistentVolumeClaimSpec describes the common attributes of storage devices",
                "  accessModes\t<[]string>",
                "    accessModes contains the desired access modes the volume should have. More",
                "  resources\t<VolumeResourceRequirements>",
                "  storageClassName\t<string>",
                "  volumeMode\t<string>",
            ],
            &what,
        );
        let what = format!("{} explain pods.spec.volumes --recursive", k.display());
        let text = run(&["explain", "pods.spec.volumes", "--recursive"]).await;
        has_lines(
            &text,
            &[
                "KIND:       Pod",
                "FIELD: volumes <[]Volume>",
                "    List of volumes that can be mounted by containers belonging to the pod. More",
                "  name\t<string> -required-",
                "  persistentVolumeClaim\t<PersistentVolumeClaimVolumeSource>",
                "    claimName\t<string> -required-",
                "    readOnly\t<boolean>",
                "  hostPath\t<HostPathVolumeSource>",
                "    path\t<string> -required-",
                "  emptyDir\t<EmptyDirVolumeSource>",
                "    sizeLimit\t<Quantity>",
                // A referenced object's name: defaulted, not required (as upstream).
                "  configMap\t<ConfigMapVolumeSource>",
                "    name\t<string>",
            ],
            &what,
        );
        let what = format!("{} explain deployment", k.display());
        has_lines(
            &run(&["explain", "deployment"]).await,
            &[
                "GROUP:      apps",
                "KIND:       Deployment",
                "    Deployment enables declarative updates for Pods and ReplicaSets.",
                "  metadata\t<ObjectMeta>",
                "  spec\t<DeploymentSpec>",
                "    Specification of the desired behavior of the Deployment.",
                "  status\t<DeploymentStatus>",
            ],
            &what,
        );
        let out = kubectl(k, &sb, &cache, &["explain", "pods.spec.nope"], None).await;
        assert!(!out.ok);
        assert!(
            out.stderr.contains("field \"nope\" does not exist"),
            "{}",
            out.stderr
        );
    }
    sb.shutdown().await;
}

const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: NAME-a
  data:
    k: v
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: NAME-d
  spec:
    replicas: 0
    selector: {matchLabels: {app: NAME}}
    template:
      metadata: {labels: {app: NAME}}
      spec:
        containers:
        - name: c
          image: busybox
";

const BAD_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: bad-a
  dataa:
    k: v
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: bad-d
  spec:
    replicas: \"x\"
    selector: {matchLabels: {app: bad}}
    template:
      metadata: {labels: {app: bad}}
      spec:
        containers:
        - name: c
          image: busybox
          imagee: busybox
";

const BAD_OBJECT: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
dataa:
  k: v
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_files_validate_and_objects_stay_strict() {
    let clients = clients();
    if clients.is_empty() {
        return;
    }
    let (sb, dir) = start().await;
    for (i, k) in clients.iter().enumerate() {
        let cache = dir.path().join(format!("cache-{i}"));
        let name = format!("l{i}");
        let list = LIST.replace("NAME", &name);
        let out = kubectl(k, &sb, &cache, &["create", "-f", "-"], Some(&list)).await;
        assert!(out.ok, "{}: {}", k.display(), out.stderr);
        has_lines(
            &out.stdout,
            &[
                &format!("configmap/{name}-a created"),
                &format!("deployment.apps/{name}-d created"),
            ],
            "create -f list",
        );

        // kubectl validates the items against /openapi/v2, as with upstream.
        let out = kubectl(k, &sb, &cache, &["create", "-f", "-"], Some(BAD_LIST)).await;
        assert!(!out.ok);
        assert_eq!(
            out.stderr.trim_end(),
            "error: error validating \"STDIN\": error validating data: [\
ValidationError(ConfigMap): unknown field \"dataa\" in io.k8s.api.core.v1.ConfigMap, \
ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: got \"string\", expected \"integer\", \
ValidationError(Deployment.spec.template.spec.containers[0]): unknown field \"imagee\" in io.k8s.api.core.v1.Container]; \
if you choose to ignore these errors, turn validation off with --validate=false",
            "{}",
            k.display()
        );

        // A single object is still validated by the server, strictly.
        let out = kubectl(k, &sb, &cache, &["apply", "-f", "-"], Some(BAD_OBJECT)).await;
        assert!(!out.ok);
        assert!(
            out.stderr.contains(
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"dataa\""
            ),
            "{}: {}",
            k.display(),
            out.stderr
        );
    }
    sb.shutdown().await;
}
