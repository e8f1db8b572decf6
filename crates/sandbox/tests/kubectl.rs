//! A real kubectl against the embedded sandbox, asserting on what it prints.
//!
//! kubectl is `$KUBETUTOR_KUBECTL`, else `.tools/kubectl` (see
//! scripts/get-kubectl.sh), else `kubectl` on PATH. Without one the tests
//! fail in CI (`CI` set) and are skipped with a notice elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

mod harness;

use harness::{Env, header, row};

const APP: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  labels: {app: web}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-manual
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /tmp/pv-manual}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: kubetutor/msg-api}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  labels: {app: web}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_apply_get_describe_delete() {
    let Some(env) = Env::start().await else {
        return;
    };

    let out = env.ok(&["create", "-f", "-"], Some(APP)).await;
    assert!(out.contains("pod/web created"), "{out}");
    assert!(out.contains("deployment.apps/api created"), "{out}");

    // Re-apply after create: unchanged, then a change is "configured".
    let out = env.ok(&["apply", "-f", "-"], Some(APP)).await;
    assert!(
        out.contains("pod/web configured") || out.contains("pod/web unchanged"),
        "{out}"
    );
    let out = env.ok(&["apply", "-f", "-"], Some(APP)).await;
    assert!(out.contains("service/api unchanged"), "{out}");
    let changed = APP.replace("replicas: 2", "replicas: 3");
    let out = env.ok(&["apply", "-f", "-"], Some(&changed)).await;
    assert!(out.contains("deployment.apps/api configured"), "{out}");

    let pods = env.ok(&["get", "pods"], None).await;
    assert_eq!(
        header(&pods),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    // The kubelet may already have started it.
    let web = row(&pods, "web");
    let web: Vec<&str> = web.iter().map(String::as_str).collect();
    assert!(
        matches!(
            web[..3],
            ["web", "0/1", "Pending" | "ContainerCreating"] | ["web", "1/1", "Running"]
        ),
        "{pods}"
    );

    let wide = env.ok(&["get", "pods", "-o", "wide"], None).await;
    assert_eq!(
        header(&wide),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );

    let pv = env.ok(&["get", "pv"], None).await;
    assert_eq!(
        header(&pv),
        [
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    assert_eq!(row(&pv, "pv-manual")[1..4], ["2Gi", "RWO,ROX", "Retain"]);

    let pvc = env.ok(&["get", "pvc"], None).await;
    assert_eq!(
        header(&pvc),
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );
    // Pod web is its first consumer: it may already be provisioned.
    let data = row(&pvc, "data");
    assert!(
        data[..3] == ["data", "Pending", "standard"]
            || (data[1] == "Bound" && data[2].starts_with("pvc-")),
        "{pvc}"
    );

    let sc = env.ok(&["get", "storageclass"], None).await;
    assert!(sc.contains("standard (default)"), "{sc}");

    let deploy = env.ok(&["get", "deploy", "-o", "wide"], None).await;
    assert_eq!(
        header(&deploy),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert!(row(&deploy, "api")[1].ends_with("/3"), "{deploy}");

    let svc = env.ok(&["get", "svc", "api"], None).await;
    assert_eq!(
        header(&svc),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(row(&svc, "api")[4], "80/TCP");

    let labels = env.ok(&["get", "pods", "--show-labels"], None).await;
    assert!(labels.contains("app=web"), "{labels}");

    let yaml = env.ok(&["get", "pod", "web", "-o", "yaml"], None).await;
    for want in [
        "imagePullPolicy: IfNotPresent",
        "protocol: TCP",
        "restartPolicy: Always",
        "uid: ",
        "resourceVersion: ",
    ] {
        assert!(yaml.contains(want), "no {want} in:\n{yaml}");
    }

    let describe = env.ok(&["describe", "pod", "web"], None).await;
    assert!(
        describe
            .lines()
            .any(|l| l.trim_start().starts_with("Port:") && l.ends_with(" 80/TCP")),
        "{describe}"
    );
    assert!(
        describe
            .lines()
            .any(|l| l.trim_start().starts_with("ClaimName:") && l.ends_with(" data")),
        "{describe}"
    );
    // The service account admission plugin's volume, as on any cluster.
    assert!(
        describe.contains("/var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-"),
        "{describe}"
    );
    assert!(
        describe.contains("ConfigMapName:           kube-root-ca.crt"),
        "{describe}"
    );

    let all = env.ok(&["get", "all"], None).await;
    assert!(
        all.contains("pod/web")
            && all.contains("service/api")
            && all.contains("deployment.apps/api"),
        "{all}"
    );

    // Errors worded as upstream's.
    let missing = env.run(&["get", "pod", "nope"], None).await;
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains(r#"pods "nope" not found"#),
        "{}",
        missing.stderr
    );
    let strict = env
        .run(
            &["create", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nspec: {foo: 1}\n"),
        )
        .await;
    assert!(!strict.ok);
    assert!(
        strict
            .stderr
            .contains(r#"strict decoding error: unknown field "spec""#),
        "{}",
        strict.stderr
    );

    // Label, scale, multi-kind delete by label.
    env.ok(&["label", "pod", "web", "tier=front"], None).await;
    env.ok(&["scale", "deploy", "api", "--replicas=1"], None)
        .await;
    // The pod goes first: while it uses claim "data", pvc-protection
    // keeps the claim (and `kubectl delete` waiting), as upstream.
    let out = env.ok(&["delete", "pod", "web"], None).await;
    assert!(out.contains(r#"pod "web" deleted"#), "{out}");
    let out = env
        .ok(&["delete", "deploy,svc,pvc", "-l", "app=web"], None)
        .await;
    assert!(out.contains(r#"deployment.apps "api" deleted"#), "{out}");
    assert!(out.contains(r#"service "api" deleted"#), "{out}");
    // The garbage collector deletes the ReplicaSet, then its pods go
    // through their graceful deletion (Terminating) before they are gone.
    let mut none = env.run(&["get", "pods"], None).await;
    for _ in 0..100 {
        if none.stderr.contains("No resources found") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        none = env.run(&["get", "pods"], None).await;
    }
    assert!(
        none.stderr
            .contains("No resources found in kubetutor namespace."),
        "{}",
        none.stderr
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_new_rows() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.ok(
        &["create", "configmap", "--dry-run=client", "-o", "yaml", "x"],
        None,
    )
    .await;
    let mut watch = env.command(&["get", "pods", "-w"]);
    watch.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = watch.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Give the watch a moment to start, then create a pod.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: w1}\nspec: {containers: [{name: c, image: busybox, command: [sleep, infinity]}]}\n";
    env.ok(&["create", "-f", "-"], Some(pod)).await;
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if line.starts_with("w1 ") && line.contains("1/1") && line.contains("Running") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "the watch did not print the pod running: {seen:?}");
    assert_eq!(
        header(&seen[0]),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    child.kill().await.unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_creates_and_patches() {
    let Some(env) = Env::start().await else {
        return;
    };
    // kubectl sends these as application/vnd.kubernetes.protobuf.
    env.ok(
        &["create", "secret", "generic", "s1", "--from-literal=a=b"],
        None,
    )
    .await;
    env.ok(&["create", "configmap", "c1", "--from-literal=x=1"], None)
        .await;
    env.ok(&["create", "namespace", "other"], None).await;
    env.ok(
        &[
            "create",
            "deployment",
            "d1",
            "--image=nginx",
            "--replicas=2",
        ],
        None,
    )
    .await;
    let secrets = env.ok(&["get", "secret", "s1"], None).await;
    assert_eq!(header(&secrets), ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(row(&secrets, "s1")[1..3], ["Opaque", "1"]);
    let cms = env.ok(&["get", "configmap", "c1"], None).await;
    assert_eq!(row(&cms, "c1")[1], "1");
    assert!(
        env.ok(&["get", "ns", "other"], None)
            .await
            .contains("Active")
    );
    let d = env
        .ok(
            &[
                "get",
                "deploy",
                "d1",
                "-o",
                "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
            ],
            None,
        )
        .await;
    assert_eq!(d, "2 nginx");

    // Strategic merge patches: re-apply with a changed image, set env, JSON patch.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: busybox:1.36}\n  - {name: b, image: nginx:1.27}\n";
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    let out = env
        .ok(
            &["apply", "-f", "-"],
            Some(&pod.replace("nginx:1.27", "nginx:1.28")),
        )
        .await;
    assert!(out.contains("pod/p configured"), "{out}");
    let images = env
        .ok(
            &[
                "get",
                "pod",
                "p",
                "-o",
                "jsonpath={.spec.containers[*].image}",
            ],
            None,
        )
        .await;
    assert_eq!(images, "busybox:1.36 nginx:1.28");
    env.ok(&["set", "env", "deploy/d1", "FOO=bar"], None).await;
    let envs = env
        .ok(
            &[
                "get",
                "deploy",
                "d1",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].env[0].value}",
            ],
            None,
        )
        .await;
    assert_eq!(envs, "bar");
    env.ok(
        &[
            "patch",
            "deploy",
            "d1",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
        ],
        None,
    )
    .await;
    let deploy = env.ok(&["get", "deploy", "d1"], None).await;
    // READY counts the pods the kubelet has started so far.
    assert!(row(&deploy, "d1")[1].ends_with("/4"), "{deploy}");
    env.stop().await;
}

/// Waits until `kubectl get pod NAME` shows it Running.
async fn wait_running(env: &Env, name: &str) {
    for _ in 0..200 {
        let out = env
            .run(
                &["get", "pod", name, "-o", "jsonpath={.status.phase}"],
                None,
            )
            .await;
        if out.stdout == "Running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pod {name} never became Running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_writes_to_the_container_layer_which_dies_with_the_pod() {
    let Some(env) = Env::start().await else {
        return;
    };
    // busybox without a command would run `sh`, which ends at once on its
    // empty stdin (and crash-loops), as upstream: give it one that lasts.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: box}\nspec: {containers: [{name: c, image: busybox, command: [sleep, infinity]}]}\n";
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    wait_running(&env, "box").await;
    let out = env
        .ok(
            &[
                "exec",
                "box",
                "--",
                "sh",
                "-c",
                "echo hello > /tmp/note; cat /tmp/note",
            ],
            None,
        )
        .await;
    assert_eq!(out, "hello\n");
    let fail = env.run(&["exec", "box", "--", "cat", "/nope"], None).await;
    assert!(!fail.ok);
    assert!(
        fail.stderr
            .contains("cat: can't open '/nope': No such file or directory"),
        "{}",
        fail.stderr
    );
    assert!(
        fail.stderr.contains("command terminated with exit code 1"),
        "{}",
        fail.stderr
    );
    let piped = env
        .ok(
            &[
                "exec",
                "-i",
                "box",
                "--",
                "sh",
                "-c",
                "cat > /tmp/in; cat /tmp/in",
            ],
            Some("from stdin\n"),
        )
        .await;
    assert_eq!(piped, "from stdin\n");

    // The writable layer goes with the pod: a new pod starts empty.
    env.ok(&["delete", "pod", "box"], None).await;
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    wait_running(&env, "box").await;
    let gone = env
        .run(&["exec", "box", "--", "cat", "/tmp/note"], None)
        .await;
    assert!(!gone.ok);
    assert!(
        gone.stderr.contains("No such file or directory"),
        "{}",
        gone.stderr
    );
    env.stop().await;
}

/// Runs `kubectl get ... -w --output-watch-events` and collects its lines
/// until `done` says so (or 40 s pass).
async fn watch_until(env: &Env, args: &[&str], done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut watch = env.command(args);
    watch.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = watch.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(40), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
            if done(&seen) {
                return;
            }
        }
    })
    .await;
    child.kill().await.unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_deleted_gracefully() {
    let Some(env) = Env::start().await else {
        return;
    };
    // A shell as process 1 ignores SIGTERM: it is killed when the grace
    // period (the pod's terminationGracePeriodSeconds) is over.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: sh1}\nspec:\n  terminationGracePeriodSeconds: 3\n  containers: [{name: c, image: busybox, command: [sh, -c, 'echo hi; sleep 3600']}]\n";
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    wait_running(&env, "sh1").await;
    let t = std::time::Instant::now();
    let out = env
        .ok(&["delete", "pod", "sh1", "--wait=false"], None)
        .await;
    assert!(out.contains(r#"pod "sh1" deleted"#), "{out}");
    let out = env.ok(&["get", "pod", "sh1"], None).await;
    assert_eq!(row(&out, "sh1")[1..3], ["1/1", "Terminating"], "{out}");
    let meta = env
        .ok(
            &[
                "get",
                "pod",
                "sh1",
                "-o",
                "jsonpath={.metadata.deletionGracePeriodSeconds} {.metadata.deletionTimestamp}",
            ],
            None,
        )
        .await;
    assert!(meta.starts_with("3 20"), "{meta}");
    let seen = watch_until(
        &env,
        &["get", "pod", "sh1", "-w", "--output-watch-events"],
        |l| l.iter().any(|l| l.starts_with("DELETED")),
    )
    .await;
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "gone after {:?}",
        t.elapsed()
    );
    // Killed (137): Error, then gone.
    let deleted = seen.iter().find(|l| l.starts_with("DELETED")).unwrap();
    assert!(
        deleted.contains("0/1") && deleted.contains("Error"),
        "{seen:?}"
    );
    let events = env
        .ok(
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=sh1",
            ],
            None,
        )
        .await;
    assert!(events.contains("Stopping container c"), "{events}");

    // The default is 30 s; --force --grace-period=0 removes the pod at once.
    env.ok(
        &["apply", "-f", "-"],
        Some(
            &pod.replace("sh1", "sh2")
                .replace("  terminationGracePeriodSeconds: 3\n", ""),
        ),
    )
    .await;
    wait_running(&env, "sh2").await;
    env.ok(&["delete", "pod", "sh2", "--wait=false"], None)
        .await;
    let grace = env
        .ok(
            &[
                "get",
                "pod",
                "sh2",
                "-o",
                "jsonpath={.metadata.deletionGracePeriodSeconds}",
            ],
            None,
        )
        .await;
    assert_eq!(grace, "30");
    let forced = env
        .run(
            &["delete", "pod", "sh2", "--force", "--grace-period=0"],
            None,
        )
        .await;
    assert!(forced.ok, "{}", forced.stderr);
    assert!(
        forced
            .stderr
            .contains("Immediate deletion does not wait for confirmation"),
        "{}",
        forced.stderr
    );
    let gone = env.run(&["get", "pod", "sh2"], None).await;
    assert!(
        gone.stderr.contains(r#"pods "sh2" not found"#),
        "{}",
        gone.stderr
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_are_replaced_while_terminating_and_cascades_follow_upstream() {
    let Some(env) = Env::start().await else {
        return;
    };
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: fg}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: fg}}\n  template:\n    metadata: {labels: {app: fg}}\n    spec:\n      terminationGracePeriodSeconds: 3\n      containers: [{name: c, image: busybox, command: [sh, -c, 'sleep 3600']}]\n";
    env.ok(&["apply", "-f", "-"], Some(deploy)).await;
    let mut first = String::new();
    for _ in 0..100 {
        first = env
            .ok(&["get", "pods", "-l", "app=fg", "-o", "name"], None)
            .await;
        if !first.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.trim().trim_start_matches("pod/").to_string();
    wait_running(&env, &first).await;
    // A terminating pod no longer counts: the ReplicaSet replaces it at once.
    env.ok(&["delete", "pod", &first, "--wait=false"], None)
        .await;
    let mut pods = String::new();
    for _ in 0..100 {
        pods = env.ok(&["get", "pods", "-l", "app=fg"], None).await;
        if pods.lines().count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pods.lines().count(), 3, "{pods}");
    assert_eq!(row(&pods, &first)[2], "Terminating", "{pods}");

    // Foreground: the owner keeps the foregroundDeletion finalizer until
    // its dependents (the ReplicaSet, then its pods) are gone.
    env.ok(
        &[
            "delete",
            "deploy",
            "fg",
            "--cascade=foreground",
            "--wait=false",
        ],
        None,
    )
    .await;
    let fin = env
        .ok(
            &[
                "get",
                "deploy",
                "fg",
                "-o",
                "jsonpath={.metadata.finalizers}",
            ],
            None,
        )
        .await;
    assert_eq!(fin, r#"["foregroundDeletion"]"#);
    env.ok(
        &["wait", "--for=delete", "deploy/fg", "--timeout=30s"],
        None,
    )
    .await;
    let left = env.run(&["get", "rs,pods", "-l", "app=fg"], None).await;
    assert!(
        left.stderr.contains("No resources found"),
        "{}",
        left.stdout
    );

    // A namespace is Terminating while its content goes.
    env.ok(&["create", "ns", "lab1"], None).await;
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: lab1}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers: [{name: c, image: busybox, command: [sleep, '3600']}]\n";
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    for _ in 0..100 {
        let out = env
            .ok(
                &[
                    "get",
                    "pod",
                    "p",
                    "-n",
                    "lab1",
                    "-o",
                    "jsonpath={.status.phase}",
                ],
                None,
            )
            .await;
        if out == "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.ok(&["delete", "ns", "lab1", "--wait=false"], None)
        .await;
    let ns = env.ok(&["get", "ns", "lab1"], None).await;
    assert_eq!(row(&ns, "lab1")[1], "Terminating", "{ns}");
    let describe = env.ok(&["describe", "ns", "lab1"], None).await;
    assert!(describe.contains("Status:       Terminating"), "{describe}");
    let refused = env
        .run(&["create", "configmap", "late", "-n", "lab1"], None)
        .await;
    assert!(
        refused.stderr.contains("because it is being terminated"),
        "{}",
        refused.stderr
    );
    env.ok(&["wait", "--for=delete", "ns/lab1", "--timeout=30s"], None)
        .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_list_in_order_and_repeats_aggregate() {
    let Some(env) = Env::start().await else {
        return;
    };
    // Two missing volume sources: each gets FailedMount events, retried
    // with back-off and counted (x3 over 2s), then the pod starts.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: vols}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: main, image: busybox, imagePullPolicy: Always, volumeMounts: [{name: c, mountPath: /c}, {name: s, mountPath: /s}]}]\n  volumes: [{name: c, configMap: {name: nocm}}, {name: s, secret: {secretName: nosec}}]\n";
    env.ok(&["apply", "-f", "-"], Some(pod)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    env.ok(&["create", "configmap", "nocm"], None).await;
    env.ok(&["create", "secret", "generic", "nosec"], None)
        .await;
    wait_running(&env, "vols").await;
    let mut out = String::new();
    for _ in 0..50 {
        out = env.ok(&["describe", "pod", "vols"], None).await;
        if out.contains("Started container main") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = &out[out.find("Events:").unwrap()..];
    let reasons: Vec<&str> = events
        .lines()
        .skip(3)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        reasons,
        [
            "Scheduled",
            "FailedMount",
            "FailedMount",
            "Pulling",
            "Pulled",
            "Created",
            "Started"
        ],
        "{events}"
    );
    assert!(
        events.contains(r#"MountVolume.SetUp failed for volume "c" : configmap "nocm" not found"#),
        "{events}"
    );
    assert!(
        events.contains(r#"MountVolume.SetUp failed for volume "s" : secret "nosec" not found"#),
        "{events}"
    );
    assert!(events.contains("(x3 over"), "{events}");
    // kubectl get events: same order (names carry the time in nanoseconds).
    let listed = env
        .ok(
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=vols",
            ],
            None,
        )
        .await;
    let order: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(order.first(), Some(&"Scheduled"), "{listed}");
    assert_eq!(order.last(), Some(&"Started"), "{listed}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loops_show_error_between_restarts_and_jobs_back_off() {
    let Some(env) = Env::start().await else {
        return;
    };
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: crash}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: busybox, command: [sh, -c, 'echo starting; exit 3']}]\n";
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: jfail}\nspec:\n  backoffLimit: 1\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox, command: [sh, -c, 'exit 1']}]\n";
    let seen = {
        let watch = watch_until(&env, &["get", "pods", "-w"], |l| {
            l.iter()
                .any(|l| l.starts_with("crash ") && l.contains("CrashLoopBackOff"))
        });
        let create = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            env.ok(&["apply", "-f", "-"], Some(pod)).await;
            env.ok(&["apply", "-f", "-"], Some(job)).await;
        };
        let (seen, ()) = tokio::join!(watch, create);
        seen
    };
    let status: Vec<(String, String, String)> = seen
        .iter()
        .filter(|l| l.starts_with("crash "))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c[1].to_string(), c[2].to_string(), c[3].to_string())
        })
        .collect();
    let s = |r: &str, st: &str, n: &str| (r.to_string(), st.to_string(), n.to_string());
    // Never "1/1 Running": the process exits before the kubelet sees it run.
    assert!(
        status.iter().all(|(ready, _, _)| ready == "0/1"),
        "{seen:#?}"
    );
    assert!(
        status.contains(&s("0/1", "ContainerCreating", "0")),
        "{seen:#?}"
    );
    assert!(status.contains(&s("0/1", "Error", "0")), "{seen:#?}");
    assert!(status.contains(&s("0/1", "Error", "1")), "{seen:#?}");
    assert_eq!(
        status.last().map(|s| s.1.as_str()),
        Some("CrashLoopBackOff")
    );
    let reason = env
        .ok(
            &["get", "pod", "crash", "-o", "jsonpath={.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}"],
            None,
        )
        .await;
    assert_eq!(reason, "Error 3");

    // The Job replaces its failed pod only after 10 s.
    let pods = || async {
        env.ok(
            &[
                "get",
                "pods",
                "-l",
                "job-name=jfail",
                "-o",
                "jsonpath={range .items[*]}{.metadata.creationTimestamp}{\"\\n\"}{end}",
            ],
            None,
        )
        .await
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(pods().await.lines().count(), 1, "replaced too early");
    env.ok(
        &[
            "wait",
            "--for=condition=failed",
            "job/jfail",
            "--timeout=30s",
        ],
        None,
    )
    .await;
    let times: Vec<jiff::Timestamp> = pods().await.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 2);
    let gap = (times[0].as_second() - times[1].as_second()).abs();
    assert!((9..=13).contains(&gap), "{gap}s between the pods");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_objects_and_wording_match_upstream() {
    let Some(env) = Env::start().await else {
        return;
    };
    // describe node: real heartbeat times and the node's Lease.
    let node = env.ok(&["describe", "node"], None).await;
    assert!(!node.contains("0001"), "{node}");
    assert!(!node.contains("Failed to get lease"), "{node}");
    assert!(node.contains("  HolderIdentity:  kubetutor-node"), "{node}");
    assert!(node.contains("  AcquireTime:     <unset>"), "{node}");
    // describe ns: empty quota and limit range lists.
    env.ok(&["create", "ns", "lab1"], None).await;
    let ns = env.ok(&["describe", "ns", "lab1"], None).await;
    assert!(
        ns.ends_with("No resource quota.\n\nNo LimitRange resource.\n"),
        "{ns}"
    );
    // kube-root-ca.crt in every namespace; endpoints/kubernetes with the
    // v1 Endpoints deprecation warning.
    let mut cms = String::new();
    for _ in 0..50 {
        cms = env.ok(&["get", "cm", "-n", "lab1"], None).await;
        if cms.contains("kube-root-ca.crt") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cms.contains("kube-root-ca.crt   1"), "{cms}");
    let ep = env.run(&["get", "ep", "-n", "default"], None).await;
    assert!(
        ep.stdout.contains("kubernetes   127.0.0.1:6443"),
        "{}",
        ep.stdout
    );
    assert!(
        ep.stderr.contains(
            "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
        ),
        "{}",
        ep.stderr
    );
    // Templates carry no pod-only defaults; kinds without a generation have none.
    env.ok(
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--port=80",
        ],
        None,
    )
    .await;
    let deploy = env.ok(&["describe", "deploy", "web"], None).await;
    assert!(!deploy.contains("Service Account:"), "{deploy}");
    assert!(deploy.contains("  Tolerations:     <none>"), "{deploy}");
    let yaml = env.ok(&["get", "deploy", "web", "-o", "yaml"], None).await;
    assert!(!yaml.contains(": null"), "{yaml}");
    let cm = env
        .ok(&["get", "cm", "kube-root-ca.crt", "-o", "yaml"], None)
        .await;
    assert!(!cm.contains("generation:"), "{cm}");
    // Go's decoding errors.
    let bad = env
        .run(
            &["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad2\ndata:\n  a: 1\n"),
        )
        .await;
    assert!(
        bad.stderr.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"#),
        "{}",
        bad.stderr
    );
    // exec and logs on a pod no node took.
    let pending = "apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec:\n  containers: [{name: c, image: busybox, volumeMounts: [{name: d, mountPath: /d}]}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: nosuch}}]\n";
    env.ok(&["apply", "-f", "-"], Some(pending)).await;
    let exec = env.run(&["exec", "nowhere", "--", "ls"], None).await;
    assert!(
        exec.stderr
            .contains("Error from server (BadRequest): pod nowhere does not have a host assigned"),
        "{}",
        exec.stderr
    );
    let logs = env.run(&["logs", "nowhere"], None).await;
    assert!(logs.ok && logs.stdout.is_empty(), "{}", logs.stderr);
    env.stop().await;
}
