//! `kubetutor cleanup` against the embedded sandbox: it finds what carries
//! the course label (in the namespace, and cluster-wide volumes), leaves
//! everything else and what controllers own, and deletes what it found.

use crate::support;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume};
use kube::api::{Api, PostParams};
use kubetutor::cleanup;
use kubetutor::cluster::ConnectOptions;
use kubetutor::cluster::connection;
use sandbox::{Sandbox, SandboxConfig};

fn cm(name: &str, labelled: bool) -> ConfigMap {
    let labels = if labelled {
        serde_json::json!({"app.kubernetes.io/part-of": "kubetutor"})
    } else {
        serde_json::json!({"app": "mine"})
    };
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"a": "b"}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_and_deletes_only_what_the_course_created() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (client, info) = connection::connect(&opts).await.unwrap();
    let _ = connection::create_namespace(&client, &info.namespace).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &info.namespace);
    let pp = PostParams::default();
    cms.create(&pp, &cm("course-settings", true)).await.unwrap();
    cms.create(&pp, &cm("learner-own", false)).await.unwrap();
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "course-pv", "labels": {"app.kubernetes.io/part-of": "kubetutor"}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/course-pv"},
            "persistentVolumeReclaimPolicy": "Retain"
        }
    }))
    .unwrap();
    Api::<PersistentVolume>::all(client.clone())
        .create(&pp, &pv)
        .await
        .unwrap();

    let found = cleanup::find(&client, &info.namespace).await.unwrap();
    let labels: Vec<String> = found.iter().map(|f| f.label()).collect();
    assert_eq!(
        labels,
        ["configmap/course-settings", "persistentvolume/course-pv"]
    );
    assert_eq!(found[1].namespace, None);

    let results = cleanup::delete(&client, &found).await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert!(cms.get_opt("course-settings").await.unwrap().is_none());
    assert!(cms.get_opt("learner-own").await.unwrap().is_some());
    // Deleting again (already gone) is not an error.
    let again = cleanup::delete(&client, &found).await;
    assert!(again.iter().all(|(_, r)| r.is_ok()), "{again:?}");
    // A PV may linger while finalizers run; it is no longer listed.
    let left = cleanup::find(&client, &info.namespace).await.unwrap();
    assert!(
        left.iter().all(|f| f.kind != "ConfigMap"),
        "{:?}",
        left.iter().map(|f| f.label()).collect::<Vec<_>>()
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_asks_first_and_refuses_without_a_terminal_unless_yes() {
    let data = tempfile::tempdir().unwrap();
    // Nothing was created yet: it says so.
    let out = support::run(data.path(), &["cleanup"]);
    let text = format!("{}{}", support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Nothing to clean up"), "{text}");

    // The course's sandbox with one labelled object in it, then stopped.
    let sandbox = Sandbox::start(SandboxConfig::new(data.path().join("sandbox")))
        .await
        .unwrap();
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (client, info) = connection::connect(&opts).await.unwrap();
    let _ = connection::create_namespace(&client, &info.namespace).await;
    Api::<ConfigMap>::namespaced(client.clone(), &info.namespace)
        .create(&PostParams::default(), &cm("course-settings", true))
        .await
        .unwrap();
    drop(client);
    sandbox.shutdown().await;

    // No terminal (stdin is not one here): it lists, then refuses.
    let out = support::run(data.path(), &["cleanup"]);
    let (o, e) = (support::stdout(&out), support::stderr(&out));
    assert!(!out.status.success(), "{o}{e}");
    assert!(o.contains("configmap/course-settings"), "{o}");
    assert!(e.contains("kubetutor cleanup --yes"), "{e}");

    let out = support::run(data.path(), &["cleanup", "--yes"]);
    let o = support::stdout(&out);
    assert!(out.status.success(), "{o}{}", support::stderr(&out));
    assert!(o.contains("deleted configmap/course-settings"), "{o}");
    let out = support::run(data.path(), &["cleanup"]);
    assert!(support::stdout(&out).contains("Nothing to clean up"));
}
