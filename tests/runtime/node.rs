//! The node with real kubectl: port-forward (WebSocket tunnel and SPDY,
//! with every kubectl at hand), nginx serving a PVC through it, the
//! kubelet's volume semantics (updates, downwardAPI, emptyDir, eviction,
//! local-path refusals, local PVs), Service variables, image changes, and
//! `kubectl debug` (ephemeral containers, node debugging).
//!
//! Extra kubectl clients for port-forward: `KUBETUTOR_KUBECTL_EXTRA`
//! (paths separated by `:`), e.g. v1.32 and v1.35 beside the v1.34 of
//! `KUBETUTOR_KUBECTL`; /usr/bin/kubectl is tried too.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

use crate::runtime_env::{self, Env};

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80, name: http}]
        volumeMounts: [{name: html, mountPath: /usr/share/nginx/html}]
      volumes: [{name: html, persistentVolumeClaim: {claimName: site}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: site}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: http}]
"#;

/// Every kubectl to try: the main one, the extra ones, /usr/bin/kubectl.
fn clients(env: &Env) -> Vec<PathBuf> {
    let mut out = vec![env.kubectl.clone()];
    if let Some(extra) = std::env::var_os("KUBETUTOR_KUBECTL_EXTRA") {
        out.extend(std::env::split_paths(&extra).filter(|p| p.is_file()));
    }
    let system = PathBuf::from("/usr/bin/kubectl");
    if system.is_file() {
        out.push(system);
    }
    out.dedup();
    out
}

/// A running `kubectl port-forward`, killed on drop.
struct Forward {
    child: tokio::process::Child,
    port: u16,
}

/// Starts `kubectl port-forward TARGET :REMOTE` and waits for its
/// "Forwarding from 127.0.0.1:PORT" line.
async fn forward(
    env: &Env,
    kubectl: &PathBuf,
    target: &str,
    remote: &str,
    websockets: bool,
) -> Forward {
    let mut child = tokio::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(env.sandbox.kubeconfig_path())
        .args([
            "-n",
            "kubetutor",
            "port-forward",
            target,
            &format!(":{remote}"),
        ])
        .env(
            "KUBECTL_PORT_FORWARD_WEBSOCKETS",
            if websockets { "true" } else { "false" },
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u16>()
                    .unwrap();
            }
        }
        panic!("kubectl port-forward ended without forwarding");
    })
    .await
    .expect("kubectl port-forward did not start");
    // The rest of its output ("Handling connection for ...") is drained.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Forward { child, port }
}

/// One HTTP/1.1 GET through a local port: (status, body).
async fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("no answer through the port-forward")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, buf[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_a_pvc_through_port_forward_with_each_kubectl() {
    let Some(env) = runtime_env::start().await else {
        return;
    };
    env.apply(WEB).await;
    env.k(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    env.k(&[
        "exec",
        "deploy/web",
        "--",
        "sh",
        "-c",
        "echo '<h1>kept on the claim</h1>' > /usr/share/nginx/html/index.html",
    ])
    .await;
    for kubectl in clients(&env) {
        for websockets in [true, false] {
            let what = format!("{} websockets={websockets}", kubectl.display());
            // A Service port, mapped to the pod's named container port.
            let f = forward(&env, &kubectl, "svc/web", "8080", websockets).await;
            let (code, body) = http_get(f.port, "/").await;
            assert_eq!(code, 200, "{what}");
            assert_eq!(body, b"<h1>kept on the claim</h1>\n", "{what}");
            let (code, body) = http_get(f.port, "/nope").await;
            assert_eq!(code, 404, "{what}");
            assert!(String::from_utf8_lossy(&body).contains("<center>nginx/1.27.5</center>"));
            drop(f);
        }
    }
    let logs = env.k(&["logs", "deploy/web"]).await;
    assert!(
        logs.contains("127.0.0.1 - - [")
            && logs.contains("\"GET / HTTP/1.1\" 200 27 \"-\" \"curl/8.5.0\" \"-\""),
        "{logs}"
    );
    assert!(logs.contains("/docker-entrypoint.sh: Configuration complete; ready for start up"));
    assert!(
        logs.contains(
            "open() \"/usr/share/nginx/html/nope\" failed (2: No such file or directory)"
        )
    );

    // Nothing listens on 81: the kubelet's error, then kubectl gives up.
    let pod = env
        .k(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .await;
    let mut f = forward(&env, &env.kubectl, &format!("pod/{pod}"), "81", true).await;
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", f.port))
        .await
        .unwrap();
    let mut b = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut b)).await;
    let status = tokio::time::timeout(Duration::from_secs(20), f.child.wait())
        .await
        .expect("kubectl keeps running after the error")
        .unwrap();
    assert!(!status.success());
    let mut err = String::new();
    f.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert!(
        err.contains("an error occurred forwarding")
            && err.contains("-> 81: error forwarding port 81 to pod "),
        "{err}"
    );
    assert!(
        err.contains("failed to connect to localhost:81 inside namespace"),
        "{err}"
    );
    assert!(
        err.contains("IPv4: dial tcp4 127.0.0.1:81: connect: connection refused"),
        "{err}"
    );
    assert!(err.contains("error: lost connection to pod"), "{err}");
    env.sandbox.shutdown().await;
}

const VOLUMES: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {color: blue}
---
apiVersion: v1
kind: Service
metadata: {name: api-backend}
spec:
  selector: {app: nothing}
  ports: [{port: 8080, name: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: vol
  labels: {app: vol, tier: back}
  annotations: {note: 'say "hi"'}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    env: [{name: BACKEND, value: "$(API_BACKEND_SERVICE_HOST):$(API_BACKEND_SERVICE_PORT)"}]
    resources: {limits: {memory: 64Mi, cpu: 250m}}
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: cfg, mountPath: /etc/color, subPath: color}
    - {name: info, mountPath: /etc/info}
    - {name: cache, mountPath: /cache}
  volumes:
  - {name: cfg, configMap: {name: cfg}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: cpu, resourceFieldRef: {containerName: c, resource: limits.cpu, divisor: 1m}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
  - {name: cache, emptyDir: {sizeLimit: 1Mi}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_semantics_as_the_kubelet_has_them() {
    let Some(env) = runtime_env::start_with(|c| {
        c.volume_sync = Duration::from_millis(500);
        c.eviction_period = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    env.apply(VOLUMES).await;
    env.k(&["wait", "--for=condition=Ready", "pod/vol", "--timeout=60s"])
        .await;
    let cat = |path: &'static str| {
        let env = &env;
        async move { env.k(&["exec", "vol", "--", "cat", path]).await }
    };
    assert_eq!(cat("/etc/info/labels").await, "app=\"vol\"\ntier=\"back\"");
    let annotations = cat("/etc/info/annotations").await;
    assert!(
        annotations.contains("note=\"say \\\"hi\\\"\""),
        "{annotations}"
    );
    assert!(
        annotations.contains("kubernetes.io/config.source=\"api\""),
        "{annotations}"
    );
    assert_eq!(cat("/etc/info/cpu").await, "250");
    assert_eq!(cat("/etc/info/mem").await, "64");

    // The Service variables, also in $(VAR).
    let envs = env.k(&["exec", "vol", "--", "env"]).await;
    for want in [
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
        "API_BACKEND_SERVICE_PORT_HTTP=8080",
        "API_BACKEND_PORT_8080_TCP_PROTO=tcp",
    ] {
        assert!(
            envs.lines().any(|l| l == want),
            "{want} missing from:\n{envs}"
        );
    }
    let ip = env
        .k(&[
            "get",
            "svc",
            "api-backend",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .await;
    assert!(
        envs.lines().any(|l| l == format!("BACKEND={ip}:8080")),
        "{envs}"
    );

    // On the node: the atomic writer's layout, the emptyDir's mode.
    let uid = env
        .k(&["get", "pod", "vol", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let pod_dir = env.data().join("pods").join(&uid).join("volumes");
    let cfg_dir = pod_dir.join("kubernetes.io~configmap/cfg");
    let data = std::fs::read_link(cfg_dir.join("..data")).unwrap();
    assert!(data.to_string_lossy().starts_with(".."), "{data:?}");
    assert_eq!(
        std::fs::read_link(cfg_dir.join("color")).unwrap(),
        PathBuf::from("..data/color")
    );
    use std::os::unix::fs::PermissionsExt as _;
    let cache = pod_dir.join("kubernetes.io~empty-dir/cache");
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o7777,
        0o777
    );

    // A ConfigMap update shows within the sync period; a subPath does not.
    env.k(&[
        "patch",
        "configmap",
        "cfg",
        "-p",
        r#"{"data":{"color":"red"}}"#,
    ])
    .await;
    env.k_until(&["exec", "vol", "--", "cat", "/etc/cfg/color"], |o| {
        o == "red"
    })
    .await;
    assert_eq!(cat("/etc/color").await, "blue");

    // Past its sizeLimit, the emptyDir gets the pod evicted.
    std::fs::write(cache.join("big"), vec![7u8; 2 << 20]).unwrap();
    env.k_until(
        &["get", "pod", "vol", "-o", "jsonpath={.status.reason}"],
        |o| o == "Evicted",
    )
    .await;
    let message = env
        .k(&["get", "pod", "vol", "-o", "jsonpath={.status.message}"])
        .await;
    assert_eq!(
        message,
        "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
    );
    env.k_until(
        &["get", "pod", "vol", "-o", "jsonpath={.status.phase}"],
        |o| o == "Failed",
    )
    .await;
    let events = env
        .k(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=vol,reason=Evicted",
            "-o",
            "jsonpath={.items[*].type}",
        ])
        .await;
    assert_eq!(events, "Warning");
    env.sandbox.shutdown().await;
}

const CLAIMS: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: raw}
spec:
  accessModes: [ReadWriteOnce]
  volumeMode: Block
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: uses-shared}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: shared}}]
---
apiVersion: v1
kind: Pod
metadata: {name: uses-raw}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"], volumeDevices: [{name: d, devicePath: /dev/xvda}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: raw}}]
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-pv}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  local: {path: /mnt/disks/nowhere}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [kubetutor-node]}]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: local}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: uses-local}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: local}}]
---
apiVersion: v1
kind: Pod
metadata: {name: cache}
spec:
  containers: [{name: redis, image: redis:7}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_local_path_refuses_and_images_that_change_or_are_not_emulated() {
    let Some(env) = runtime_env::start().await else {
        return;
    };
    env.apply(CLAIMS).await;
    let event = |name: &'static str, reason: &'static str| {
        let env = &env;
        async move {
            env.k_until(
                &[
                    "get",
                    "events",
                    "--field-selector",
                    &format!("involvedObject.name={name},reason={reason}"),
                    "-o",
                    "jsonpath={.items[*].message}",
                ],
                |o| !o.is_empty(),
            )
            .await
        }
    };
    assert_eq!(
        event("shared", "ProvisioningFailed").await,
        "failed to provision volume with StorageClass \"standard\": NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes"
    );
    assert_eq!(
        event("raw", "ProvisioningFailed").await,
        "kubetutor.dev/local-path does not support block volume provisioning"
    );
    assert_eq!(
        env.k(&["get", "pvc", "shared", "-o", "jsonpath={.status.phase}"])
            .await,
        "Pending"
    );
    // A local PV whose path the node lacks.
    let failed = event("uses-local", "FailedMount").await;
    assert!(
        failed.starts_with("MountVolume.NewMounter initialization failed for volume \"local-pv\" : path \"/mnt/disks/nowhere\" does not exist"),
        "{failed}"
    );
    // It mounts once the directory exists on the node.
    std::fs::create_dir_all(env.data().join("hostpath/mnt/disks/nowhere")).unwrap();
    env.k(&[
        "wait",
        "--for=condition=Ready",
        "pod/uses-local",
        "--timeout=60s",
    ])
    .await;

    // An image the sandbox does not emulate: a Warning event, and its log.
    let msg = event("cache", "NotEmulated").await;
    assert!(msg.contains("image \"redis:7\" is not emulated"), "{msg}");

    // A new image restarts the container.
    let before = env
        .k(&[
            "get",
            "pod",
            "uses-local",
            "-o",
            "jsonpath={.status.containerStatuses[0].containerID}",
        ])
        .await;
    env.k(&["set", "image", "pod/uses-local", "c=busybox:1.36"])
        .await;
    env.k_until(
        &[
            "get",
            "pod",
            "uses-local",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ],
        |o| o == "1",
    )
    .await;
    let after = env
        .k(&[
            "get",
            "pod",
            "uses-local",
            "-o",
            "jsonpath={.status.containerStatuses[0].containerID}",
        ])
        .await;
    assert_ne!(before, after);
    assert_eq!(
        event("uses-local", "Killing").await,
        "Container c definition changed, will be restarted"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_debug_adds_ephemeral_containers_and_debugs_the_node() {
    let Some(env) = runtime_env::start().await else {
        return;
    };
    env.apply(WEB).await;
    env.k(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    let pod = env
        .k(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .await;
    // Not attached (stdin is /dev/null): its shell reads EOF and exits 0.
    let (code, out, err) = env
        .kubectl(&[
            "-n",
            "kubetutor",
            "debug",
            &pod,
            "--image=busybox",
            "-c",
            "dbg",
            "--",
            "sh",
            "-c",
            "echo from-debug",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let state = env
        .k_until(
            &[
                "get",
                "pod",
                &pod,
                "-o",
                "jsonpath={.status.ephemeralContainerStatuses[0].state.terminated.reason}",
            ],
            |o| o == "Completed",
        )
        .await;
    assert_eq!(state, "Completed");
    assert_eq!(
        env.k(&["logs", &pod, "-c", "dbg"]).await.trim(),
        "from-debug"
    );
    // With --target, the debug container joins the target's process
    // namespace: its `ps` shows nginx, which runs on when it ends.
    let (code, out, err) = env
        .kubectl(&[
            "-n",
            "kubetutor",
            "debug",
            &pod,
            "--image=busybox",
            "-c",
            "dbg2",
            "--target=nginx",
            "--",
            "sh",
            "-c",
            "ps -o pid,args",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    env.k_until(
        &[
            "get",
            "pod",
            &pod,
            "-o",
            "jsonpath={.status.ephemeralContainerStatuses[1].state.terminated.reason}",
        ],
        |o| o == "Completed",
    )
    .await;
    let ps = env.k(&["logs", &pod, "-c", "dbg2"]).await;
    assert!(
        ps.lines()
            .any(|l| l.trim() == "1 nginx: master process nginx -g daemon off;"),
        "{ps}"
    );
    assert_eq!(
        env.k(&["get", "pod", &pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].ready}"])
            .await,
        "0/true"
    );
    // The node's files under /host: the claim's directory is there.
    let (code, out, err) = env
        .kubectl(&[
            "-n",
            "kubetutor",
            "debug",
            "node/kubetutor-node",
            "--image=busybox",
            "--",
            "sleep",
            "3600",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let debugger = out
        .split_whitespace()
        .find(|w| w.starts_with("node-debugger-kubetutor-node-"))
        .expect("the debugging pod's name")
        .to_string();
    env.k(&[
        "wait",
        "--for=condition=Ready",
        &format!("pod/{debugger}"),
        "--timeout=60s",
    ])
    .await;
    let listing = env
        .k(&[
            "exec",
            &debugger,
            "--",
            "ls",
            "/host/var/local-path-provisioner",
        ])
        .await;
    let pvc = env
        .k(&["get", "pvc", "site", "-o", "jsonpath={.spec.volumeName}"])
        .await;
    assert!(
        listing.contains(&format!("{pvc}_kubetutor_site")),
        "{listing}"
    );
    let pods = env
        .k(&["exec", &debugger, "--", "ls", "/host/var/lib/kubelet/pods"])
        .await;
    let uid = env
        .k(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"])
        .await;
    assert!(pods.contains(&uid), "{pods}");
    env.sandbox.shutdown().await;
}

/// kube-rs forwards with the older channel protocol (`v4.channel.k8s.io`,
/// ports in the query): each port a data and an error channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_port_forward_uses_the_channel_protocol() {
    use kube::api::Api;
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let Some(env) = runtime_env::start().await else {
        return;
    };
    env.apply(WEB).await;
    env.k(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    let pod = env
        .k(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .await;
    let kc = Kubeconfig::read_from(env.sandbox.kubeconfig_path()).unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, "kubetutor");
    let mut pf = pods.portforward(&pod, &[80]).await.unwrap();
    let mut stream = pf.take_stream(80).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .expect("no answer through kube-rs's port-forward")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 404 Not Found\r\n") || text.starts_with("HTTP/1.1 403"),
        "{text:?}"
    );
    assert!(text.contains("Server: nginx/1.27.5"), "{text}");
    drop(stream);
    let _ = tokio::time::timeout(Duration::from_secs(10), pf.join()).await;
    env.sandbox.shutdown().await;
}

/// kubectl with `input` on its stdin (then closed): (exit code, stdout,
/// stderr).
async fn kubectl_with_stdin(env: &Env, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(&env.kubectl)
        .arg("--kubeconfig")
        .arg(env.sandbox.kubeconfig_path())
        .arg("-n")
        .arg("kubetutor")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} hung"))
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl run -i` and `kubectl attach -i`: the shell that is PID 1
/// reads what the client sends; its stdin closes when the first attach
/// ends (`stdinOnce`), and the exit code is the shell's. A busybox pod
/// with `stdin: true` waits for its attach; without, it ends at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_attach_reach_the_shell_of_pid_1() {
    let Some(env) = runtime_env::start().await else {
        return;
    };
    let (code, out, err) = kubectl_with_stdin(
        &env,
        &[
            "run",
            "once",
            "-i",
            "--restart=Never",
            "--image=busybox",
            "--",
            "sh",
        ],
        "echo piped $((1+1))\nhostname\nexit 5\n",
    )
    .await;
    assert!(out.contains("piped 2\nonce\n"), "{code} {out} {err}");
    let exit = env
        .k_until(
            &[
                "get",
                "pod",
                "once",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
            ],
            |o| !o.is_empty(),
        )
        .await;
    assert_eq!(exit, "5");

    env.k(&[
        "run",
        "waits",
        "--restart=Never",
        "--image=busybox",
        "--stdin",
        "--attach=false",
    ])
    .await;
    env.k(&["run", "ends", "--restart=Never", "--image=busybox"])
        .await;
    env.k(&[
        "wait",
        "--for=condition=Ready",
        "pod/waits",
        "--timeout=60s",
    ])
    .await;
    let ended = env
        .k_until(
            &[
                "get",
                "pod",
                "ends",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.terminated.reason}",
            ],
            |o| !o.is_empty(),
        )
        .await;
    assert_eq!(ended, "Completed", "busybox's sh ends on EOF");
    let (code, out, err) = kubectl_with_stdin(
        &env,
        &["attach", "-i", "waits"],
        "echo from-attach; exit 4\n",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "from-attach\n"), "{err}");
    let exit = env
        .k_until(
            &[
                "get",
                "pod",
                "waits",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
            ],
            |o| !o.is_empty(),
        )
        .await;
    assert_eq!(exit, "4");
    env.sandbox.shutdown().await;
}
