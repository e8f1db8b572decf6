//! Pods on the embedded sandbox with real kubectl: an emptyDir shared by
//! two containers (and gone with the pod), two containers binding one
//! port (crash loop with back-off), env from missing ConfigMaps,
//! `kubectl exec` and `logs --previous`, Jobs.

use crate::runtime_env;

use std::time::Duration;

use runtime_env::start;

const SHARED: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  # sleep as process 1 ignores SIGTERM: killed after 2 s.
  terminationGracePeriodSeconds: 2
  containers:
    - name: writer
      image: busybox
      command: [sh, -c, "echo from-writer > /cache/note; sleep 3600"]
      volumeMounts: [{name: cache, mountPath: /cache}]
    - name: reader
      image: busybox
      command: [sh, -c, "sleep 3600"]
      volumeMounts: [{name: cache, mountPath: /shared}]
  volumes:
    - name: cache
      emptyDir: {}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_dir_is_shared_and_dies_with_the_pod() {
    let Some(env) = start().await else { return };
    env.apply(SHARED).await;
    let out = env
        .k_until(&["get", "pod", "shared"], |o| o.contains("2/2     Running"))
        .await;
    assert!(out.contains("shared   2/2     Running   0"), "{out}");
    let out = env
        .k_until(
            &[
                "exec",
                "shared",
                "-c",
                "reader",
                "--",
                "cat",
                "/shared/note",
            ],
            |o| o.contains("from-writer"),
        )
        .await;
    assert_eq!(out, "from-writer\n");
    // A file in the reader's own layer is not seen by the writer.
    env.k(&[
        "exec",
        "shared",
        "-c",
        "reader",
        "--",
        "sh",
        "-c",
        "echo mine > /tmp/x",
    ])
    .await;
    let (code, _, err) = env
        .kubectl(&[
            "-n",
            "kubetutor",
            "exec",
            "shared",
            "-c",
            "writer",
            "--",
            "cat",
            "/tmp/x",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("No such file or directory"), "{err}");
    let uid = env
        .k(&["get", "pod", "shared", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let pod_dir = env.data().join("pods").join(&uid);
    assert!(
        pod_dir
            .join("volumes/kubernetes.io~empty-dir/cache/note")
            .is_file()
    );
    // Graceful deletion: Terminating while the shells (which ignore
    // SIGTERM) get their grace period, files still there; then killed,
    // and the pod goes with its emptyDir.
    let t = std::time::Instant::now();
    env.k(&["delete", "pod", "shared", "--wait=false"]).await;
    let out = env.k(&["get", "pod", "shared"]).await;
    assert!(out.contains("Terminating"), "{out}");
    assert!(
        pod_dir
            .join("volumes/kubernetes.io~empty-dir/cache/note")
            .is_file()
    );
    let out = env.k(&["describe", "pod", "shared"]).await;
    assert!(out.contains("Killing"), "{out}");
    assert!(out.contains("Stopping container writer"), "{out}");
    env.k(&["wait", "--for=delete", "pod/shared", "--timeout=30s"])
        .await;
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(!pod_dir.exists());
    env.sandbox.shutdown().await;
}

const COLLISION: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: clash
spec:
  containers:
    - name: api
      image: kubetutor/msg-api
    - name: api2
      image: kubetutor/msg-api
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_on_one_port_crash_loop() {
    let Some(env) = start().await else { return };
    env.apply(COLLISION).await;
    let out = env
        .k_until(&["get", "pod", "clash"], |o| o.contains("CrashLoopBackOff"))
        .await;
    assert!(out.contains("1/2     CrashLoopBackOff"), "{out}");
    let logs = env.k(&["logs", "clash", "-c", "api2"]).await;
    assert!(
        logs.contains("listen tcp :8080: bind: address already in use"),
        "{logs}"
    );
    env.k_until(
        &[
            "get",
            "pod",
            "clash",
            "-o",
            "jsonpath={.status.containerStatuses[1].restartCount}",
        ],
        |o| o.trim().parse::<i32>().is_ok_and(|n| n >= 2),
    )
    .await;
    let prev = env.k(&["logs", "clash", "-c", "api2", "--previous"]).await;
    assert!(prev.contains("address already in use"), "{prev}");
    // kubectl picks the first container itself and says so.
    let (code, out, err) = env.kubectl(&["-n", "kubetutor", "logs", "clash"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listening on :8080"), "{out}");
    assert!(
        err.contains("Defaulted container \"api\" out of: api, api2"),
        "{err}"
    );
    let events = env.k(&["get", "events"]).await;
    assert!(
        events.contains("Back-off restarting failed container api2 in pod clash_kubetutor("),
        "{events}"
    );
    env.sandbox.shutdown().await;
}

const MISSING_CONFIG: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: needs-config
spec:
  containers:
    - name: app
      image: kubetutor/msg-api
      envFrom:
        - configMapRef: {name: absent}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_is_a_create_container_config_error() {
    let Some(env) = start().await else { return };
    env.apply(MISSING_CONFIG).await;
    let out = env
        .k_until(&["get", "pod", "needs-config"], |o| {
            o.contains("CreateContainerConfigError")
        })
        .await;
    assert!(out.contains("0/1     CreateContainerConfigError"), "{out}");
    let out = env.k(&["describe", "pod", "needs-config"]).await;
    assert!(
        out.contains("Error: configmap \"absent\" not found"),
        "{out}"
    );
    // The ConfigMap appears but lacks the key a second container wants.
    env.apply(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: absent}
data: {A: "1"}
"#,
    )
    .await;
    env.k_until(&["get", "pod", "needs-config"], |o| o.contains("Running"))
        .await;
    env.apply(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: needs-key
spec:
  containers:
    - name: app
      image: busybox
      command: [sleep, "3600"]
      env:
        - name: B
          valueFrom:
            configMapKeyRef: {name: absent, key: B}
"#,
    )
    .await;
    let out = env
        .k_until(&["describe", "pod", "needs-key"], |o| {
            o.contains("couldn't find key")
        })
        .await;
    assert!(
        out.contains("couldn't find key B in ConfigMap kubetutor/absent"),
        "{out}"
    );
    env.sandbox.shutdown().await;
}

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: busybox
          command: [sh, -c, "echo job done"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete() {
    let Some(env) = start().await else { return };
    env.apply(JOB).await;
    let out = env
        .k(&[
            "wait",
            "--for=condition=complete",
            "job/once",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("job.batch/once condition met"), "{out}");
    let out = env.k(&["get", "job", "once"]).await;
    assert!(out.contains("Complete   1/1"), "{out}");
    let logs = env.k(&["logs", "job/once"]).await;
    assert_eq!(logs, "job done\n");
    let pods = env.k(&["get", "pods"]).await;
    assert!(pods.contains("0/1     Completed"), "{pods}");
    // Deleting the job deletes its pods (background propagation).
    env.k(&["delete", "job", "once"]).await;
    env.k_until(&["get", "pods", "-o", "name"], |o| o.trim().is_empty())
        .await;
    env.sandbox.shutdown().await;
}

const MANY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: many
spec:
  replicas: 112
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
        - name: c
          image: registry.k8s.io/pause:3.10
"#;

/// The node runs 110 pods, as a kind node: the rest stay Pending with the
/// scheduler's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_takes_110_pods() {
    let Some(env) = start().await else { return };
    env.apply(MANY).await;
    let status = |o: &str, s: &str| {
        o.lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(s))
            .count()
    };
    let out = env
        .k_until(&["get", "pods", "-l", "app=many", "--no-headers"], |o| {
            status(o, "Running") == 110
        })
        .await;
    assert_eq!(status(&out, "Pending"), 2, "{out}");
    let pending = out
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("Pending"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default();
    let out = env.k(&["describe", "pod", pending]).await;
    assert!(
        out.contains("0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
        "{out}"
    );
    env.sandbox.shutdown().await;
}
