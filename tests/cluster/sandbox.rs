//! Lesson 01 end to end against the embedded sandbox: a session watches the
//! namespace, the checker follows each step while the test does what a
//! learner would do with kubectl (through the same API).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, PostParams};
use kubetutor::check::engine::{CheckUpdate, spawn_checker};
use kubetutor::cluster::state::{ClusterState, ClusterUpdate};
use kubetutor::cluster::{ConnectOptions, ConnectionState, Session};
use kubetutor::course::Course;
use kubetutor::lesson::Lang;
use kubetutor::progress::StepState;
use sandbox::{Sandbox, SandboxConfig};
use std::time::Duration;
use tokio::sync::mpsc;

fn asset<T: serde::de::DeserializeOwned>(course: &Course, name: &str) -> T {
    let bytes = course
        .asset(&format!("assets/01-ephemeral/{name}"))
        .unwrap_or_else(|| panic!("asset {name}"));
    serde_saphyr::from_str(std::str::from_utf8(bytes).unwrap()).unwrap()
}

/// Wait for a verdict on `step` whose reason mentions `text` (past "no such
/// object"), or for the step to be done.
async fn wait_for_reason(
    checks: &mut mpsc::UnboundedReceiver<CheckUpdate>,
    step: &str,
    text: &str,
) -> CheckUpdate {
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let u = checks.recv().await.expect("the checker is running");
            let progressed = u.state == StepState::Done
                || u.reason
                    .as_deref()
                    .is_some_and(|r| r.contains(text) && !r.starts_with("no "));
            if u.step == step && progressed {
                return u;
            }
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("no verdict on {step} mentioning {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson_01_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (tx, mut updates) = mpsc::unbounded_channel();
    let mut session = Session::start(&opts, tx).await.unwrap();
    assert_eq!(session.info.context, "kubetutor-sandbox");
    assert_eq!(session.info.namespace, "kubetutor");
    if !session.namespace_exists {
        session.create_namespace().await.unwrap();
    }
    let (check_tx, mut checks) = mpsc::unbounded_channel();
    let checker = spawn_checker(
        "kubetutor",
        kubetutor::check::engine::KubeIo::of(&session),
        check_tx,
    );
    // The app's job: every update to the pane's state and to the checker.
    let forward = checker.clone();
    tokio::spawn(async move {
        let mut state = ClusterState::new("kubetutor");
        while let Some(u) = updates.recv().await {
            forward.cluster(u.clone());
            state.apply(u);
        }
    });

    let course = Course::embedded().unwrap_or_else(|d| panic!("{d:?}"));
    let lesson = course
        .lessons(Lang::En)
        .iter()
        .find(|l| l.id() == "ephemeral-filesystem")
        .unwrap()
        .clone();
    let spec = |step: &str| {
        lesson
            .step(step)
            .unwrap()
            .check
            .as_ref()
            .unwrap()
            .spec()
            .unwrap()
    };
    let client = session.client.clone();
    let ns = "kubetutor";

    // Step 1: deploy.
    checker.activate(lesson.id(), "deploy", spec("deploy"));
    let pp = PostParams::default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    cms.create(&pp, &asset(&course, "configmap.yaml"))
        .await
        .unwrap();
    cms.create(&pp, &asset(&course, "script-configmap.yaml"))
        .await
        .unwrap();
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&pp, &asset(&course, "service.yaml"))
        .await
        .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&pp, &asset(&course, "deployment.yaml"))
        .await
        .unwrap();
    // The checker sees the objects arrive (and, once the sandbox runs its
    // controllers, the deployment become ready).
    let u = wait_for_reason(&mut checks, "deploy", "msg-api").await;
    eprintln!("{u:?}");

    drop(session);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_follow_the_sandbox_and_never_see_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (tx, mut updates) = mpsc::unbounded_channel();
    let mut session = Session::start(&opts, tx).await.unwrap();
    if !session.namespace_exists {
        session.create_namespace().await.unwrap();
    }
    let client = session.client.clone();
    let secret: k8s_openapi::api::core::v1::Secret = serde_saphyr::from_str(
        "metadata: {name: db, namespace: kubetutor}\nstringData: {password: hunter2-very-secret}\n",
    )
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "kubetutor")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kubetutor");
    let cm: ConfigMap =
        serde_saphyr::from_str("metadata: {name: settings}\ndata: {a: b}\n").unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let mut state = ClusterState::new("kubetutor");
    let mut seen_secret_json = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let u = updates.recv().await.expect("watching");
            if let ClusterUpdate::Watch(
                _,
                kube::runtime::watcher::Event::Apply(o)
                | kube::runtime::watcher::Event::InitApply(o),
            ) = &u
                && o.kind() == kubetutor::check::spec::Kind::Secret
            {
                seen_secret_json = o.to_json().to_string();
            }
            state.apply(u);
            if state.connection == ConnectionState::Connected
                && state
                    .get(kubetutor::check::spec::Kind::Secret, "kubetutor", "db")
                    .is_some()
                && state
                    .get(
                        kubetutor::check::spec::Kind::ConfigMap,
                        "kubetutor",
                        "settings",
                    )
                    .is_some()
            {
                break;
            }
        }
    })
    .await
    .expect("the secret and the configmap in the state");
    assert!(seen_secret_json.contains("\"db\""), "{seen_secret_json}");
    assert!(!seen_secret_json.contains("hunter2"), "{seen_secret_json}");
    assert!(!seen_secret_json.contains("aHVudGVy"), "{seen_secret_json}");

    // Deleting shows a tombstone, then the object is gone.
    cms.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while state
            .get(
                kubetutor::check::spec::Kind::ConfigMap,
                "kubetutor",
                "settings",
            )
            .is_some()
        {
            state.apply(updates.recv().await.expect("watching"));
        }
    })
    .await
    .expect("the deletion");
    assert_eq!(
        state
            .tombstones(
                kubetutor::check::spec::Kind::ConfigMap,
                std::time::Instant::now()
            )
            .len(),
        1
    );

    // The doctor on the sandbox.
    let findings = kubetutor::cluster::doctor::run_doctor(&opts, None).await;
    for f in &findings {
        eprintln!("{f:?}");
    }
    let cluster = findings.iter().find(|f| f.check == "cluster").unwrap();
    assert_eq!(
        cluster.status,
        kubetutor::cluster::doctor::Status::Ok,
        "{cluster:?}"
    );
    drop(session);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_the_sandbox_runs_passes_its_check_and_shows_running() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (tx, mut updates) = mpsc::unbounded_channel();
    let mut session = Session::start(&opts, tx).await.unwrap();
    if !session.namespace_exists {
        session.create_namespace().await.unwrap();
    }
    let (check_tx, mut checks) = mpsc::unbounded_channel();
    let checker = spawn_checker(
        "kubetutor",
        kubetutor::check::engine::KubeIo::of(&session),
        check_tx,
    );
    let forward = checker.clone();
    let (rows_tx, mut rows_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut state = ClusterState::new("kubetutor");
        while let Some(u) = updates.recv().await {
            forward.cluster(u.clone());
            state.apply(u);
            let _ = rows_tx.send(state.pod_rows(jiff::Timestamp::now()));
        }
    });
    let spec = kubetutor::check::spec::parse_check(
        "resource: {kind: Pod, name: web, ready: true, volume: {type: emptyDir, mount_path: /cache}}",
    )
    .unwrap();
    checker.activate("l", "s", spec);
    let pod: k8s_openapi::api::core::v1::Pod = serde_saphyr::from_str(
        "metadata: {name: web}\nspec: {containers: [{name: c, image: nginx, volumeMounts: [{name: cache, mountPath: /cache}]}], volumes: [{name: cache, emptyDir: {}}]}\n",
    )
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(session.client.clone(), "kubetutor")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let u = checks.recv().await.expect("the checker is running");
            if u.state == StepState::Done {
                return u;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the pod's check never passed");
    let rows = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let rows = rows_rx.recv().await.expect("watching");
            if rows.first().is_some_and(|r| r.status == "Running") {
                return rows;
            }
        }
    })
    .await
    .expect("the pod shows Running");
    assert_eq!(rows[0].ready, "1/1");
    assert_eq!(rows[0].volumes, vec!["cache:emptyDir".to_string()]);
    drop(session);
    sandbox.shutdown().await;
}
