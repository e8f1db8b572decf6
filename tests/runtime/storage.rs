//! Storage semantics of the embedded sandbox, asserted on what real
//! kubectl prints: WaitForFirstConsumer provisioning, data kept by a
//! PVC-backed pod across replacement, Retain → Released, pvc-protection,
//! and pods waiting for missing or unbound claims.

use crate::runtime_env;

use runtime_env::start;

const API_WITH_PVC: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: msg-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: msg-api
spec:
  replicas: 1
  selector:
    matchLabels: {app: msg-api}
  template:
    metadata:
      labels: {app: msg-api}
    spec:
      containers:
        - name: api
          image: kubetutor/msg-api
          env:
            - name: API_DB_FILEPATH
              value: /data/messages.json
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 1
          volumeMounts:
            - name: data
              mountPath: /data
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: msg-data
---
apiVersion: v1
kind: Service
metadata:
  name: msg-api
spec:
  selector: {app: msg-api}
  ports:
    - name: http
      port: 80
      targetPort: http
"#;

const PVC_ONLY: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: msg-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_first_consumer_then_data_survives_the_pod() {
    let Some(env) = start().await else { return };
    env.apply(PVC_ONLY).await;
    let out = env.k(&["get", "pvc", "msg-data"]).await;
    assert!(out.contains("msg-data   Pending"), "{out}");
    let out = env
        .k_until(&["describe", "pvc", "msg-data"], |o| {
            o.contains("WaitForFirstConsumer")
        })
        .await;
    assert!(
        out.contains("waiting for first consumer to be created before binding"),
        "{out}"
    );
    env.apply(API_WITH_PVC).await;
    let out = env
        .k(&["rollout", "status", "deploy/msg-api", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let pvc = env.k(&["get", "pvc", "msg-data"]).await;
    assert!(pvc.contains("Bound    pvc-"), "{pvc}");
    assert!(pvc.contains("1Gi        RWO            standard"), "{pvc}");
    let pv = env.ok(&["get", "pv"]).await;
    assert!(
        pv.contains(
            "1Gi        RWO            Delete           Bound    kubetutor/msg-data   standard"
        ),
        "{pv}"
    );
    let events = env.k(&["get", "events"]).await;
    assert!(events.contains("ProvisioningSucceeded"), "{events}");

    let proxy = "/api/v1/namespaces/kubetutor/services/msg-api:80/proxy/messages";
    let msg = env.dir.join("msg.json");
    std::fs::write(&msg, r#"{"author":"ada","text":"kept"}"#).unwrap();
    env.ok(&["create", "--raw", proxy, "-f", msg.to_str().unwrap()])
        .await;

    // Replace the pod: the new one reads the message back from the volume.
    let old = env.k(&["get", "pods", "-o", "name"]).await;
    env.k(&["delete", old.trim()]).await;
    env.k_until(&["get", "pods", "-o", "name"], |o| {
        o.trim().lines().count() == 1 && o.trim() != old.trim()
    })
    .await;
    env.k(&["rollout", "status", "deploy/msg-api", "--timeout=60s"])
        .await;
    let out = env
        .until(&["get", "--raw", proxy], |o| o.contains("messages"))
        .await;
    assert!(out.contains("kept"), "{out}");

    // Delete everything: reclaim Delete removes the PV and its data.
    let pv_name = env
        .k(&[
            "get",
            "pvc",
            "msg-data",
            "-o",
            "jsonpath={.spec.volumeName}",
        ])
        .await;
    // On the node, where local-path keeps it: <base>/<pv>_<ns>_<claim>.
    let ns = env
        .k(&[
            "get",
            "pvc",
            "msg-data",
            "-o",
            "jsonpath={.metadata.namespace}",
        ])
        .await;
    let dir = env.data().join(format!(
        "hostpath/var/local-path-provisioner/{pv_name}_{ns}_msg-data"
    ));
    assert!(dir.join("messages.json").is_file());
    env.k(&["delete", "deploy", "msg-api"]).await;
    env.k(&["delete", "pvc", "msg-data"]).await;
    env.until(&["get", "pv"], |o| !o.contains(&pv_name)).await;
    assert!(!dir.exists(), "{} still exists", dir.display());
    env.sandbox.shutdown().await;
}

const RETAIN: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: keep-pv
  labels: {disk: keep}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /tmp/keep}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: big-pv
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /tmp/big}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: claim
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_leaves_the_volume_released() {
    let Some(env) = start().await else { return };
    env.apply(RETAIN).await;
    // The smallest fitting volume is chosen.
    let out = env
        .k_until(&["get", "pvc", "claim"], |o| o.contains("Bound"))
        .await;
    assert!(
        out.contains("Bound    keep-pv   2Gi        RWO            manual"),
        "{out}"
    );
    let pv = env
        .until(&["get", "pv", "keep-pv"], |o| o.contains("Bound"))
        .await;
    assert!(
        pv.contains("Retain           Bound    kubetutor/claim"),
        "{pv}"
    );
    env.k(&["delete", "pvc", "claim"]).await;
    let pv = env
        .until(&["get", "pv", "keep-pv"], |o| o.contains("Released"))
        .await;
    assert!(
        pv.contains("Retain           Released   kubetutor/claim"),
        "{pv}"
    );
    // Not rebound while its claimRef stays.
    env.apply(&RETAIN[RETAIN.rfind("---").unwrap()..].replace("claim\n", "again\n"))
        .await;
    let out = env
        .k_until(&["get", "pvc", "again"], |o| o.contains("Bound"))
        .await;
    assert!(out.contains("big-pv"), "{out}");
    let pv = env.ok(&["get", "pv", "keep-pv"]).await;
    assert!(pv.contains("Released"), "{pv}");
    // Clearing the claimRef makes it Available again.
    env.ok(&[
        "patch",
        "pv",
        "keep-pv",
        "--type=merge",
        "-p",
        r#"{"spec":{"claimRef":null}}"#,
    ])
    .await;
    env.until(&["get", "pv", "keep-pv"], |o| o.contains("Available"))
        .await;
    env.sandbox.shutdown().await;
}

const POD_WITH_CLAIM: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: user
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "echo hi > /data/f; sleep 3600"]
      volumeMounts:
        - {name: d, mountPath: /data}
  volumes:
    - name: d
      persistentVolumeClaim: {claimName: fast}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: fast
spec:
  storageClassName: immediate
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 100Mi}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_in_use_are_protected() {
    let Some(env) = start().await else { return };
    env.apply(POD_WITH_CLAIM).await;
    env.k_until(&["get", "pod", "user"], |o| o.contains("Running"))
        .await;
    let (code, _, err) = env
        .kubectl(&["-n", "kubetutor", "delete", "pvc", "fast", "--wait=false"])
        .await;
    assert_eq!(code, 0, "{err}");
    let out = env.k(&["get", "pvc", "fast"]).await;
    assert!(out.contains("Terminating"), "{out}");
    let out = env.k(&["describe", "pvc", "fast"]).await;
    assert!(out.contains("kubernetes.io/pvc-protection"), "{out}");
    assert!(out.contains("Used By:       user"), "{out}");
    env.k(&["delete", "pod", "user"]).await;
    env.k_until(&["get", "pvc"], |o| !o.contains("fast")).await;
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_wait_for_missing_and_unbound_claims() {
    let Some(env) = start().await else { return };
    env.apply(&POD_WITH_CLAIM[..POD_WITH_CLAIM.find("---").unwrap()])
        .await;
    let out = env
        .k_until(&["describe", "pod", "user"], |o| {
            o.contains("FailedScheduling")
        })
        .await;
    assert!(
        out.contains("0/1 nodes are available: persistentvolumeclaim \"fast\" not found."),
        "{out}"
    );
    let pods = env.k(&["get", "pod", "user"]).await;
    assert!(pods.contains("Pending"), "{pods}");
    // A claim without class and no volume stays Pending: the pod too.
    env.apply(
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: fast
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 100Mi}
"#,
    )
    .await;
    let out = env
        .k_until(&["describe", "pod", "user"], |o| {
            o.contains("pod has unbound immediate PersistentVolumeClaims")
        })
        .await;
    assert!(
        out.contains("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
        "{out}"
    );
    // A matching static volume arrives: the pod runs.
    env.apply(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: static
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  hostPath: {path: /srv/static}
"#,
    )
    .await;
    env.k_until(&["get", "pod", "user"], |o| o.contains("Running"))
        .await;
    let f = env.data().join("hostpath/srv/static/f");
    env.until(&["get", "pv"], |_| f.is_file()).await;
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hi\n");
    env.sandbox.shutdown().await;
}

const STATIC_DELETE: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-rwx}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: /mnt/rwx}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-tmp}
spec:
  storageClassName: tmpc
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: /tmp/scratch}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c-rwx}
spec:
  storageClassName: manual
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c-tmp}
spec:
  storageClassName: tmpc
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_host_path_volumes_fail_to_delete_outside_tmp() {
    let Some(env) = start().await else { return };
    env.apply(STATIC_DELETE).await;
    env.k_until(&["get", "pvc"], |o| o.matches("Bound").count() == 2)
        .await;
    let scratch = env.data().join("hostpath/tmp/scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("f"), "x").unwrap();
    env.k(&["delete", "pvc", "c-rwx", "c-tmp"]).await;
    let out = env
        .k_until(&["get", "pv"], |o| {
            o.contains("Failed") && !o.contains("pv-tmp")
        })
        .await;
    assert!(out.contains("kubetutor/c-rwx"), "{out}");
    let out = env.k(&["describe", "pv", "pv-rwx"]).await;
    assert!(
        out.contains("Message:         host_path deleter only supports /tmp/.+ but received provided /mnt/rwx"),
        "{out}"
    );
    assert!(out.contains("VolumeFailedDelete  "), "{out}");
    // Under /tmp/ the deleter removes the directory, then the volume goes.
    assert!(!scratch.exists());
    env.sandbox.shutdown().await;
}

const PROTECTION: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c-done}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: p-done}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, "echo hi > /d/x"], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: c-done}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c-sel}
spec:
  storageClassName: manual
  selector: {matchLabels: {tier: silver}}
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: p-unsched}
spec:
  containers: [{name: main, image: busybox, volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: c-sel}}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pvc_protection_counts_scheduled_pods_of_any_phase() {
    let Some(env) = start().await else { return };
    env.apply(PROTECTION).await;
    env.k_until(&["get", "pod", "p-done"], |o| o.contains("Completed"))
        .await;
    env.k(&["delete", "pvc", "c-done", "c-sel", "--wait=false"])
        .await;
    // The Completed pod still holds its claim; the unscheduled one does not.
    let out = env.k_until(&["get", "pvc"], |o| !o.contains("c-sel")).await;
    assert!(out.contains("Terminating"), "{out}");
    env.k(&["delete", "pod", "p-done"]).await;
    env.k_until(&["get", "pvc"], |o| !o.contains("c-done"))
        .await;
    env.sandbox.shutdown().await;
}

const SCHEDULING: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: rwop}
spec:
  storageClassName: immediate
  accessModes: [ReadWriteOncePod]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: rwop-1}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, infinity], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: rwop}}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: c-local}
spec:
  storageClassName: local
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: plocal}
spec:
  containers: [{name: c, image: busybox, command: [sleep, infinity], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: c-local}}]
---
apiVersion: v1
kind: Pod
metadata: {name: hpt}
spec:
  containers: [{name: c, image: busybox, command: [sleep, infinity], volumeMounts: [{name: f, mountPath: /f}, {name: d, mountPath: /d}, {name: ok, mountPath: /ok}, {name: okf, mountPath: /okf}]}]
  volumes:
  - {name: f, hostPath: {path: /etc/nofile, type: File}}
  - {name: d, hostPath: {path: /nodir, type: Directory}}
  - {name: ok, hostPath: {path: /data/made, type: DirectoryOrCreate}}
  - {name: okf, hostPath: {path: /data/made/file.txt, type: FileOrCreate}}
"#;

const LOCAL_PV: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-1}
spec:
  storageClassName: local
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/local-1}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_enforces_read_write_once_pod_and_local_volumes() {
    let Some(env) = start().await else { return };
    env.apply(SCHEDULING).await;
    env.k_until(&["get", "pod", "rwop-1"], |o| o.contains("Running"))
        .await;
    env.apply(
        &SCHEDULING[..SCHEDULING.find("---\napiVersion: storage").unwrap()]
            .replace("rwop-1", "rwop-2"),
    )
    .await;
    let out = env
        .k_until(&["describe", "pod", "rwop-2"], |o| {
            o.contains("FailedScheduling")
        })
        .await;
    assert!(out.contains("0/1 nodes are available: 1 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."), "{out}");
    env.k(&["delete", "pod", "rwop-1"]).await;
    env.k_until(&["get", "pod", "rwop-2"], |o| o.contains("Running"))
        .await;

    // No provisioner and no volume: FailedScheduling, no selected node.
    let out = env
        .k_until(&["describe", "pod", "plocal"], |o| {
            o.contains("FailedScheduling")
        })
        .await;
    assert!(out.contains("0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."), "{out}");
    let ann = env
        .k(&[
            "get",
            "pvc",
            "c-local",
            "-o",
            "jsonpath={.metadata.annotations}",
        ])
        .await;
    assert!(!ann.contains("selected-node"), "{ann}");
    let out = env.k(&["describe", "pvc", "c-local"]).await;
    assert!(out.contains("WaitForFirstConsumer"), "{out}");
    assert!(!out.contains("ExternalProvisioning"), "{out}");
    // A matching volume appears: the pod's claim binds to it, the pod runs.
    env.apply(LOCAL_PV).await;
    env.k_until(&["get", "pod", "plocal"], |o| o.contains("Running"))
        .await;
    let out = env.k(&["get", "pvc", "c-local"]).await;
    assert!(out.contains("local-1"), "{out}");

    // hostPath types are checked by the kubelet.
    let out = env
        .k_until(&["describe", "pod", "hpt"], |o| {
            o.contains("is not a directory")
        })
        .await;
    assert!(out.contains(r#"MountVolume.SetUp failed for volume "f" : hostPath type check failed: /etc/nofile is not a file"#), "{out}");
    assert!(out.contains(r#"MountVolume.SetUp failed for volume "d" : hostPath type check failed: /nodir is not a directory"#), "{out}");
    let pods = env.k(&["get", "pod", "hpt"]).await;
    assert!(pods.contains("ContainerCreating"), "{pods}");
    assert!(env.data().join("hostpath/data/made/file.txt").is_file());
    env.sandbox.shutdown().await;
}
