//! kubectl v1.32, v1.34 and v1.35 against the sandbox, on the facts of
//! kubectl's own command tests (kubernetes/kubernetes `test/cmd/`:
//! storage.sh, delete.sh, diff.sh, apply.sh, wait.sh, get.sh, create.sh)
//! and of issue 11: what each command prints, its exit code, and what it
//! leaves in the cluster. Each release works in a namespace of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use std::time::Duration;

use support::clients::{self, Kubectl};
use support::kube::Env;

/// A kubectl release with the namespace it works in.
struct K<'a> {
    env: &'a Env,
    k: &'a Kubectl,
    ns: String,
}

impl K<'_> {
    fn args<'b>(&'b self, args: &[&'b str]) -> Vec<&'b str> {
        let mut a = vec!["-n", self.ns.as_str()];
        a.extend_from_slice(args);
        a
    }

    async fn ok(&self, args: &[&str]) -> String {
        self.env.ok(&self.k.path, &self.args(args), None).await
    }

    async fn ok_in(&self, args: &[&str], stdin: &str) -> String {
        self.env
            .ok(&self.k.path, &self.args(args), Some(stdin))
            .await
    }

    async fn run(&self, args: &[&str]) -> support::kube::Out {
        self.env.run(&self.k.path, &self.args(args), None).await
    }

    async fn run_in(&self, args: &[&str], stdin: &str) -> support::kube::Out {
        self.env
            .run(&self.k.path, &self.args(args), Some(stdin))
            .await
    }

    /// `kubectl get ... -o jsonpath=...`.
    async fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let p = format!("jsonpath={path}");
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend(["-o", p.as_str()]);
        self.ok(&args).await
    }

    fn v(&self) -> &str {
        self.k.version
    }
}

/// Runs `body` once per kubectl release found, each in a fresh namespace
/// of one sandbox.
macro_rules! each_kubectl {
    ($env:ident, $k:ident, $body:block) => {{
        let kubectls = clients::kubectls();
        let $env = Env::start().await;
        for kk in &kubectls {
            let ns = format!("k{}", kk.version.replace('.', "-").trim_start_matches('v'));
            $env.ok(&kk.path, &["create", "namespace", &ns], None).await;
            let $k = K {
                env: &$env,
                k: kk,
                ns,
            };
            $body
        }
        $env.stop().await;
    }};
}

const PVC: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
";

/// A pod that uses the claim `data`, so that it is bound (the default
/// class waits for a first consumer).
const CONSUMER: &str = "apiVersion: v1
kind: Pod
metadata: {name: consumer}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    volumeMounts: [{name: d, mountPath: /d}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
";

/// Waits until a pod is ready and its status stops changing.
async fn ready(k: &K<'_>, pod: &str) {
    let p = format!("pod/{pod}");
    k.ok(&["wait", "--for=condition=Ready", &p, "--timeout=60s"])
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn wait_bound(k: &K<'_>) {
    k.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/data",
        "--timeout=60s",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_objects_validation_and_admission() {
    each_kubectl!(env, k, {
        // storage.sh: cluster-scoped objects and `-n x --all`.
        let pv = format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: pv-{v}, labels: {{by: {v}}}}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  hostPath: {{path: /tmp/pv-{v}}}\n",
            v = k.ns
        );
        k.ok_in(&["create", "-f", "-"], &pv).await;
        let by = format!("by={}", k.ns);
        let out = k.run(&["delete", "pv", "-l", &by]).await;
        assert!(out.ok(), "{}: {out:?}", k.v());
        assert!(
            out.stderr
                .to_lowercase()
                .contains("warning: deleting cluster-scoped resources"),
            "{}: {out:?}",
            k.v()
        );
        assert!(
            out.stdout
                .contains(&format!("persistentvolume \"pv-{}\" deleted", k.ns)),
            "{}: {out:?}",
            k.v()
        );

        // A claim is resized only once bound, when its class allows it,
        // and never below what it has.
        k.ok_in(&["apply", "-f", "-"], PVC).await;
        let grow = r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#;
        let out = k.run(&["patch", "pvc", "data", "-p", grow]).await;
        assert!(out.stderr.contains("The PersistentVolumeClaim \"data\" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"), "{}: {out:?}", k.v());
        k.ok_in(&["apply", "-f", "-"], CONSUMER).await;
        wait_bound(&k).await;
        let out = k.run(&["patch", "pvc", "data", "-p", grow]).await;
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("Error from server (Forbidden): persistentvolumeclaims \"data\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"), "{}: {out:?}", k.v());
        let shrink = r#"{"spec":{"resources":{"requests":{"storage":"500Mi"}}}}"#;
        let out = k.run(&["patch", "pvc", "data", "-p", shrink]).await;
        assert!(out.stderr.contains("spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"), "{}: {out:?}", k.v());
        assert_eq!(
            k.jsonpath(&["pvc", "data"], "{.spec.resources.requests.storage}")
                .await,
            "1Gi"
        );

        // stringData is folded into data.
        k.ok_in(&["apply", "-f", "-"], "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {user: admin, password: s3cret}\n").await;
        let out = k.ok(&["get", "secret", "creds"]).await;
        assert!(
            out.lines()
                .nth(1)
                .is_some_and(|l| l.split_whitespace().nth(2) == Some("2")),
            "{}: {out}",
            k.v()
        );

        // Names and paths.
        let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers: [{name: c, image: busybox, volumeMounts: [{name: v, mountPath: /x, subPath: ../../etc}]}]\n  volumes: [{name: '..', emptyDir: {}}, {name: v, emptyDir: {}}]\n";
        let out = k.run_in(&["create", "-f", "-"], bad).await;
        assert!(out.stderr.contains("spec.volumes[0].name: Invalid value: \"..\": a lowercase RFC 1123 label must consist of"), "{}: {out:?}", k.v());
        assert!(out.stderr.contains("spec.containers[0].volumeMounts.subPath: Invalid value: \"../../etc\": must not contain '..'"), "{}: {out:?}", k.v());

        // A grpc probe gets its default service, and describe reads it.
        let grpc = "apiVersion: v1\nkind: Pod\nmetadata: {name: grpc}\nspec:\n  containers: [{name: c, image: busybox, command: [sleep, '3600'], livenessProbe: {grpc: {port: 2379}}}]\n";
        k.ok_in(&["create", "-f", "-"], grpc).await;
        let service = k
            .jsonpath(&["pod", "grpc"], "{.spec.containers[0].livenessProbe.grpc}")
            .await;
        assert!(service.contains("\"service\":\"\""), "{}: {service}", k.v());
        let out = k.ok(&["describe", "pod", "grpc"]).await;
        assert!(out.contains("Liveness:"), "{}: {out}", k.v());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_class_and_volume_fields_that_never_change() {
    let kubectls = clients::kubectls();
    let Some(k) = kubectls.last() else {
        return;
    };
    let env = Env::start().await;
    let kc = |args: &'static [&'static str]| env.run(&k.path, args, None);
    let sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: kubernetes.io/fake-provisioner-type\nparameters: {zone: us-east-1b, type: ssd}\n";
    env.ok(&k.path, &["create", "-f", "-"], Some(sc)).await;
    let out = kc(&[
        "patch",
        "sc",
        "fast",
        "-p",
        r#"{"reclaimPolicy":"Retain","parameters":{"type":"hdd"}}"#,
    ])
    .await;
    assert!(out.stderr.contains("The StorageClass \"fast\" is invalid: \n* parameters: Forbidden: updates to parameters are forbidden.\n* reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden."), "{out:?}");
    let out = kc(&[
        "patch",
        "sc",
        "fast",
        "-p",
        r#"{"volumeBindingMode":"WaitForFirstConsumer"}"#,
    ])
    .await;
    assert!(
        out.stderr.contains(
            "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable"
        ),
        "{out:?}"
    );
    let out = kc(&[
        "patch",
        "sc",
        "fast",
        "-p",
        r#"{"allowVolumeExpansion":true}"#,
    ])
    .await;
    assert!(out.ok(), "{out:?}");
    let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: manual}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/manual}\n";
    env.ok(&k.path, &["create", "-f", "-"], Some(pv)).await;
    let out = kc(&[
        "patch",
        "pv",
        "manual",
        "-p",
        r#"{"spec":{"hostPath":{"path":"/tmp/other"}}}"#,
    ])
    .await;
    assert!(out.stderr.contains("spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"), "{out:?}");
    let out = kc(&[
        "patch",
        "pv",
        "manual",
        "-p",
        r#"{"spec":{"capacity":{"storage":"2Gi"}}}"#,
    ])
    .await;
    assert!(out.ok(), "capacity is mutable: {out:?}");
    // Annotations: 256 KiB in all; bodies: 3 MiB.
    let big = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\",\"annotations\":{{\"a\":\"{}\"}}}}}}",
        "x".repeat(300_000)
    );
    let out = env.run(&k.path, &["create", "-f", "-"], Some(&big)).await;
    assert!(out.stderr.contains("The ConfigMap \"big\" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes"), "{}", out.stderr);
    let huge = big.replace(&"x".repeat(300_000), &"x".repeat(4_000_000));
    let out = env.run(&k.path, &["create", "-f", "-"], Some(&huge)).await;
    assert!(
        out.stderr
            .contains("Request entity too large: limit is 3145728"),
        "{}",
        out.stderr
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_runs_change_nothing() {
    each_kubectl!(env, k, {
        // delete.sh: a dry-run deletecollection across namespaces.
        k.ok(&["create", "configmap", "one"]).await;
        k.ok(&["label", "configmap", "one", "deletetest=true"])
            .await;
        k.env
            .ok(
                &k.k.path,
                &[
                    "delete",
                    "configmap",
                    "--dry-run=server",
                    "-l",
                    "deletetest=true",
                    "--all-namespaces",
                ],
                None,
            )
            .await;
        assert_eq!(
            k.jsonpath(
                &["configmap", "-l", "deletetest"],
                "{.items[*].metadata.name}"
            )
            .await,
            "one"
        );

        k.ok_in(&["apply", "-f", "-"], PVC).await;
        k.ok_in(&["apply", "-f", "-"], CONSUMER).await;
        wait_bound(&k).await;
        let rv = k
            .jsonpath(&["pvc", "data"], "{.metadata.resourceVersion}")
            .await;
        let changed = PVC.replace("name: data}", "name: data, labels: {tier: x}}");
        let out = k.ok(&["delete", "pvc", "data", "--dry-run=server"]).await;
        assert!(out.contains("(server dry run)"), "{}: {out}", k.v());
        k.ok_in(&["apply", "--dry-run=server", "-f", "-"], &changed)
            .await;
        let live = k.ok(&["get", "pvc", "data", "-o", "yaml"]).await;
        k.ok_in(
            &["replace", "--dry-run=server", "-f", "-"],
            &live.replace("  name: data\n", "  name: data\n  labels: {tier: dry}\n"),
        )
        .await;
        k.ok(&["label", "pvc", "data", "a=b", "--dry-run=server"])
            .await;
        k.ok(&["annotate", "pvc", "data", "a=b", "--dry-run=server"])
            .await;
        k.ok(&[
            "patch",
            "pvc",
            "data",
            "-p",
            r#"{"metadata":{"labels":{"p":"q"}}}"#,
            "--dry-run=server",
        ])
        .await;
        k.ok_in(
            &["create", "--dry-run=server", "-f", "-"],
            &PVC.replace("name: data", "name: other"),
        )
        .await;
        k.ok(&["delete", "pod", "consumer", "--dry-run=server"])
            .await;
        assert_eq!(
            k.jsonpath(&["pvc", "data"], "{.metadata.resourceVersion}")
                .await,
            rv,
            "{}",
            k.v()
        );
        assert_eq!(
            k.jsonpath(&["pvc", "data"], "{.status.phase}").await,
            "Bound"
        );
        assert_eq!(
            k.jsonpath(&["pvc", "data"], "{.metadata.deletionTimestamp}")
                .await,
            ""
        );
        assert!(!k.run(&["get", "pvc", "other"]).await.ok());
        assert_eq!(
            k.jsonpath(&["pod", "consumer"], "{.metadata.deletionTimestamp}")
                .await,
            ""
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_changes_and_persists_none() {
    each_kubectl!(env, k, {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: test-pod, labels: {name: test-pod-label}}\nspec:\n  containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]\n";
        let changed = pod.replace("pause:3.10", "pause:3.4");
        for server_side in [false, true] {
            let mut diff = vec!["diff", "-f", "-"];
            if server_side {
                diff.push("--server-side");
            }
            // diff.sh: a missing object diffs (exit 1) and is not created.
            let out = k.run_in(&diff, pod).await;
            assert_eq!(out.code, 1, "{} {diff:?}: {out:?}", k.v());
            assert!(out.stdout.contains("test-pod"));
            assert!(!k.run(&["get", "pod", "test-pod"]).await.ok());
            if server_side {
                k.ok_in(&["apply", "--server-side", "-f", "-"], pod).await;
            } else {
                k.ok_in(&["apply", "-f", "-"], pod).await;
            }
            ready(&k, "test-pod").await;
            let rv = k
                .jsonpath(&["pod", "test-pod"], "{.metadata.resourceVersion}")
                .await;
            let same = k.run_in(&diff, pod).await;
            assert_eq!(same.code, 0, "{} {diff:?}: {same:?}", k.v());
            let out = k.run_in(&diff, &changed).await;
            assert_eq!(out.code, 1, "{} {diff:?}: {out:?}", k.v());
            assert!(out.stdout.contains("registry.k8s.io/pause:3.4"), "{out:?}");
            assert_eq!(
                k.jsonpath(&["pod", "test-pod"], "{.metadata.resourceVersion}")
                    .await,
                rv
            );
            assert_eq!(
                k.jsonpath(&["pod", "test-pod"], "{.spec.containers[0].image}")
                    .await,
                "registry.k8s.io/pause:3.10"
            );
            k.ok(&["delete", "pod", "test-pod", "--grace-period=0", "--force"])
                .await;
        }
        // An invalid object: an error, not a difference.
        let out = k
            .run_in(
                &["diff", "-f", "-"],
                &pod.replace("name: test-pod,", "name: Test_Pod,"),
            )
            .await;
        assert!(out.code > 1, "{} {out:?}", k.v());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_owns_fields() {
    each_kubectl!(env, k, {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: test-pod, labels: {name: test-pod-label}}\nspec:\n  containers: [{name: kubernetes-pause, image: registry.k8s.io/pause:3.10}]\n";
        let applied = pod.replace("test-pod-label", "test-pod-applied");
        // apply.sh: create, the manager, a custom manager with force.
        k.ok_in(&["apply", "--server-side", "-f", "-"], pod).await;
        let managers = k
            .jsonpath(
                &["pod", "test-pod", "--show-managed-fields"],
                "{.metadata.managedFields[*].manager}",
            )
            .await;
        assert!(managers.contains("kubectl"), "{} {managers}", k.v());
        k.ok_in(
            &[
                "apply",
                "--server-side",
                "--field-manager=my-field-manager",
                "--force-conflicts",
                "-f",
                "-",
            ],
            &applied,
        )
        .await;
        let managers = k
            .jsonpath(&["pod", "test-pod"], "{.metadata.managedFields[*].manager}")
            .await;
        assert!(
            managers.contains("my-field-manager"),
            "{} {managers}",
            k.v()
        );
        // Without --force-conflicts, another manager's field is a conflict.
        let out = k.run_in(&["apply", "--server-side", "-f", "-"], pod).await;
        assert_eq!(out.code, 1, "{} {out:?}", k.v());
        assert!(out.stderr.contains("Apply failed with 1 conflict: conflict with \"my-field-manager\": .metadata.labels.name"), "{} {out:?}", k.v());
        k.ok(&["delete", "pod", "test-pod", "--grace-period=0", "--force"])
            .await;
        // --dry-run=server creates nothing and changes nothing.
        k.ok_in(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            pod,
        )
        .await;
        assert!(!k.run(&["get", "pod", "test-pod"]).await.ok());
        k.ok_in(&["apply", "--server-side", "-f", "-"], pod).await;
        ready(&k, "test-pod").await;
        let rv = k
            .jsonpath(&["pod", "test-pod"], "{.metadata.resourceVersion}")
            .await;
        k.ok_in(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            &applied,
        )
        .await;
        assert_eq!(
            k.jsonpath(&["pod", "test-pod"], "{.metadata.labels.name}")
                .await,
            "test-pod-label"
        );
        assert_eq!(
            k.jsonpath(&["pod", "test-pod"], "{.metadata.resourceVersion}")
                .await,
            rv
        );
        k.ok(&["delete", "pod", "test-pod", "--grace-period=0", "--force"])
            .await;
        // Client-side apply upgraded to server-side apply, and back.
        k.ok_in(&["apply", "-f", "-"], pod).await;
        assert!(
            !k.run_in(
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=not-kubectl",
                    "-f",
                    "-"
                ],
                &applied
            )
            .await
            .ok()
        );
        k.ok_in(&["apply", "--server-side", "-f", "-"], &applied)
            .await;
        let last = k
            .ok(&["apply", "view-last-applied", "pod/test-pod", "-o", "json"])
            .await;
        assert!(
            last.contains("\"name\": \"test-pod-applied\""),
            "{} {last}",
            k.v()
        );
        k.ok_in(&["apply", "--server-side", "-f", "-"], pod).await;
        let last = k
            .ok(&["apply", "view-last-applied", "pod/test-pod", "-o", "json"])
            .await;
        assert!(
            last.contains("\"name\": \"test-pod-label\""),
            "{} {last}",
            k.v()
        );
        k.ok_in(&["apply", "-f", "-"], &applied).await;
        k.ok(&["delete", "pod", "test-pod", "--grace-period=0", "--force"])
            .await;
        // A key client-side apply set goes once server-side apply drops it.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: test}\ndata: {key: value, legacy: unused}\n";
        k.ok_in(&["apply", "-f", "-"], cm).await;
        k.ok_in(&["apply", "--server-side", "-f", "-"], cm).await;
        assert!(
            k.ok(&["get", "configmap", "test", "-o", "yaml"])
                .await
                .contains("legacy: unused")
        );
        k.ok_in(
            &["apply", "--server-side", "-f", "-"],
            &cm.replace(", legacy: unused", ""),
        )
        .await;
        assert!(
            !k.ok(&["get", "configmap", "test", "-o", "yaml"])
                .await
                .contains("legacy"),
            "{}",
            k.v()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_delete_and_rollout_finish() {
    each_kubectl!(env, k, {
        // wait.sh: a jsonpath that never holds times out...
        k.ok(&["create", "deployment", "test-1", "--image=busybox"])
            .await;
        k.ok(&["create", "deployment", "test-2", "--image=busybox"])
            .await;
        let out = k
            .run(&[
                "wait",
                "--for=jsonpath=.status.readyReplicas=5",
                "deploy/test-1",
                "--timeout=2s",
            ])
            .await;
        assert!(out.stderr.contains("timed out"), "{} {out:?}", k.v());
        // ...a jsonpath without value once the field is there...
        let out = k
            .ok(&[
                "wait",
                "--for=jsonpath={.status.replicas}",
                "deploy/test-1",
                "--timeout=60s",
            ])
            .await;
        assert!(
            out.contains("deployment.apps/test-1 condition met"),
            "{} {out}",
            k.v()
        );
        // ...and --for=delete sees both go.
        let wait = k
            .env
            .command(
                &k.k.path,
                &k.args(&[
                    "wait",
                    "deployment",
                    "--for=delete",
                    "--all",
                    "--timeout=60s",
                ]),
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        k.ok(&["delete", "deployment", "--all"]).await;
        let out = tokio::time::timeout(Duration::from_secs(90), wait.wait_with_output())
            .await
            .expect("kubectl wait --for=delete hung")
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("test-1 condition met") && text.contains("test-2 condition met"),
            "{} {text}",
            k.v()
        );
        // A rollout finishes; a pod's delete returns once it is gone.
        k.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
        ])
        .await;
        let out = k
            .ok(&["rollout", "status", "deployment/web", "--timeout=90s"])
            .await;
        assert!(out.contains("successfully rolled out"), "{} {out}", k.v());
        k.ok(&["run", "solo", "--image=nginx:1.27"]).await;
        k.ok(&["wait", "--for=condition=Ready", "pod/solo", "--timeout=60s"])
            .await;
        let out = k.ok(&["delete", "pod", "solo"]).await;
        assert!(out.contains("pod \"solo\" deleted"), "{} {out}", k.v());
        assert!(!k.run(&["get", "pod", "solo"]).await.ok());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_read_without_crashing_kubectl() {
    each_kubectl!(env, k, {
        k.ok(&["run", "box", "--image=busybox", "--", "sleep", "3600"])
            .await;
        // kubectl debug adds an ephemeral container through the pods'
        // ephemeralcontainers subresource, recorded under its own manager
        // entry; a missing pod is a 404 whose details kubectl reads.
        let out = k
            .run(&["debug", "box", "--image=busybox", "--", "true"])
            .await;
        assert!(!out.all().contains("panic"), "{} {out:?}", k.v());
        assert!(out.ok(), "{} {out:?}", k.v());
        let pod = k
            .ok(&["get", "pod", "box", "-o", "json", "--show-managed-fields"])
            .await;
        let pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
        assert_eq!(
            pod["spec"]["ephemeralContainers"][0]["image"],
            "busybox",
            "{} {pod}",
            k.v()
        );
        assert!(
            pod["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["subresource"] == "ephemeralcontainers"),
            "{} {pod}",
            k.v()
        );
        let out = k
            .run(&["debug", "nope", "--image=busybox", "--", "true"])
            .await;
        assert!(!out.all().contains("panic"), "{} {out:?}", k.v());
        assert!(
            out.stderr.contains("pods \"nope\" not found"),
            "{} {out:?}",
            k.v()
        );
        let out = k.run(&["get", "pod", "nope"]).await;
        assert!(
            out.stderr
                .contains("Error from server (NotFound): pods \"nope\" not found"),
            "{} {out:?}",
            k.v()
        );
        let out = k.run(&["create", "configmap", "Bad_Name"]).await;
        assert!(out.stderr.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{} {out:?}", k.v());
        let out = k.run(&["create", "namespace", "default"]).await;
        assert!(
            out.stderr.contains(
                "Error from server (AlreadyExists): namespaces \"default\" already exists"
            ),
            "{} {out:?}",
            k.v()
        );
        let out = k
            .run(&["delete", "namespace", "kube-system", "--dry-run=server"])
            .await;
        assert!(
            out.stderr.contains(
                "namespaces \"kube-system\" is forbidden: this namespace may not be deleted"
            ),
            "{} {out:?}",
            k.v()
        );
    });
}
