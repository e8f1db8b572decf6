//! kube-rs against the embedded sandbox: typed CRUD for several kinds,
//! errors, a reflector (list + watch) and the 410 relist path.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
use kube::{Client, Config};
use sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

async fn start() -> (Sandbox, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (sb, client) = start_in(dir.path()).await;
    (sb, client, dir)
}

async fn start_in(dir: &std::path::Path) -> (Sandbox, Client) {
    let sb = Sandbox::start(SandboxConfig::new(dir)).await.unwrap();
    // Use the kubeconfig the sandbox wrote, as a learner's tools would.
    let kc = Kubeconfig::read_from(sb.kubeconfig_path()).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(cfg.default_namespace, "kubetutor");
    let client = Client::try_from(cfg).unwrap();
    (sb, client)
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"], "ports": [{"containerPort": 80}]}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_crud_for_several_kinds() {
    let (sb, client, _dir) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let created = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        spec.containers[0].ports.as_ref().unwrap()[0]
            .protocol
            .as_deref(),
        Some("TCP")
    );
    assert!(created.metadata.uid.is_some());

    // AlreadyExists and NotFound come back as upstream-shaped errors.
    let err = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
            assert_eq!(s.message, "pods \"a\" already exists");
        }
        other => panic!("unexpected {other:?}"),
    }
    match pods.get("nope").await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!(
            (s.code, s.message.as_str()),
            (404, "pods \"nope\" not found")
        ),
        other => panic!("unexpected {other:?}"),
    }

    // Optimistic concurrency: a stale resourceVersion is a 409 Conflict.
    // (A ConfigMap: nothing else writes it, unlike a pod the kubelet updates.)
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"k": "v"}})).unwrap();
    let mut stale = cms.create(&PostParams::default(), &cm).await.unwrap();
    stale
        .metadata
        .labels
        .get_or_insert_default()
        .insert("v".into(), "1".into());
    cms.replace("cfg", &PostParams::default(), &stale)
        .await
        .unwrap();
    match cms
        .replace("cfg", &PostParams::default(), &stale)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.reason, "Conflict");
            assert!(s.message.starts_with(
                "Operation cannot be fulfilled on configmaps \"cfg\": the object has been modified"
            ));
        }
        other => panic!("unexpected {other:?}"),
    }

    // Merge patch and label selection.
    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod("b"))
        .await
        .unwrap();
    let front = pods
        .list(&ListParams::default().labels("tier=front"))
        .await
        .unwrap();
    assert_eq!(front.items.len(), 1);
    let web = pods
        .list(&ListParams::default().labels("app in (web,db)"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 2);
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].metadata.name.as_deref(), Some("b"));

    // Pagination.
    let page = pods.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = pods
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items[0].metadata.name.as_deref(), Some("b"));

    // Other kinds: configmap, service, PVC, deployment with scale, namespace.
    assert_eq!(cms.get("cfg").await.unwrap().data.unwrap()["k"], "v");

    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    .unwrap();
    let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
    let sspec = svc.spec.unwrap();
    assert_eq!(sspec.type_.as_deref(), Some("ClusterIP"));
    assert!(sspec.cluster_ip.unwrap().starts_with("10.96."));

    let pvcs: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    .unwrap();
    let pvc = pvcs.create(&PostParams::default(), &pvc).await.unwrap();
    let pspec = pvc.spec.unwrap();
    assert_eq!(pspec.volume_mode.as_deref(), Some("Filesystem"));
    assert_eq!(pspec.storage_class_name.as_deref(), Some("standard"));
    assert_eq!(pvc.status.unwrap().phase.as_deref(), Some("Pending"));

    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "api"},
        "spec": {"selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}},
                              "spec": {"containers": [{"name": "api", "image": "kubetutor/msg-api"}]}}}})).unwrap();
    let d = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(d.spec.as_ref().unwrap().revision_history_limit, Some(10));
    deploys
        .patch_scale(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        deploys
            .get_scale("api")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );

    // Invalid objects: 422 with upstream's message.
    let bad: Deployment = serde_json::from_value(json!({"metadata": {"name": "bad"},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
                 "template": {"metadata": {"labels": {"app": "y"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
    .unwrap();
    match deploys
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message
                    .contains("`selector` does not match template `labels`"),
                "{}",
                s.message
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // Namespaces: cluster-scoped; deleting one makes it Terminating while
    // the namespace controller removes its content, then it goes.
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let scratch: Api<ConfigMap> = Api::namespaced(client.clone(), "scratch");
    scratch.create(&PostParams::default(), &cm).await.unwrap();
    nss.delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = nss.get("scratch").await.unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    for _ in 0..200 {
        if nss.get_opt("scratch").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(scratch.get_opt("cfg").await.unwrap().is_none());
    assert!(nss.get_opt("scratch").await.unwrap().is_none());

    // Delete with finalizers: deletionTimestamp, then gone once they clear.
    let mut f = pod("fin");
    f.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &f).await.unwrap();
    pods.delete("fin", &DeleteParams::default()).await.unwrap();
    let held = pods.get("fin").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    pods.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    // The kubelet finishes the graceful deletion (the idle container stops
    // on SIGTERM).
    for _ in 0..200 {
        if pods.get_opt("fin").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pods.get_opt("fin").await.unwrap().is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn reflector_follows_changes() {
    let (sb, client, _dir) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("first"))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(pods.clone(), watcher::Config::default()))
        .applied_objects()
        .boxed();
    let handle = tokio::spawn(async move {
        let _ = stream.try_for_each(|_| async { Ok(()) }).await;
    });
    reader.wait_until_ready().await.unwrap();
    pods.create(&PostParams::default(), &pod("second"))
        .await
        .unwrap();
    pods.delete("first", &DeleteParams::default())
        .await
        .unwrap();
    let mut names = Vec::new();
    for _ in 0..100 {
        names = reader
            .state()
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        if names == ["second"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(names, ["second"]);
    handle.abort();
    sb.shutdown().await;
}

#[tokio::test]
async fn watch_replays_and_answers_410_when_too_old() {
    let (sb, client, _dir) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    pods.create(&PostParams::default(), &pod("x"))
        .await
        .unwrap();
    // Replay from the list's version: the creation is seen.
    let mut events = pods
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(p) => assert_eq!(p.metadata.name.as_deref(), Some("x")),
        other => panic!("unexpected {other:?}"),
    }
    // After a restart, a version from before it is too old: 410 Gone.
    drop(events);
    sb.shutdown().await;
    let (sb, client) = start_in(_dir.path()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut old = pods
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match old.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        other => panic!("unexpected {other:?}"),
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn scheduler_and_kubelet_run_pods() {
    let (sb, client, _dir) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("run"))
        .await
        .unwrap();
    let mut phase = None;
    for _ in 0..200 {
        let p = pods.get("run").await.unwrap();
        phase = p.status.as_ref().and_then(|s| s.phase.clone());
        if phase.as_deref() == Some("Running") {
            let st = p.status.unwrap();
            assert!(st.pod_ip.unwrap().starts_with("10.244."));
            assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("kubetutor-node"));
            let cs = &st.container_statuses.unwrap()[0];
            assert!(cs.ready && cs.state.as_ref().unwrap().running.is_some());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(phase.as_deref(), Some("Running"));
    sb.shutdown().await;
}
