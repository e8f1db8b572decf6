//! Every dry-run form upstream has (`dryRun=All` in the query, or in a
//! DeleteOptions body — JSON or protobuf): create, update, the four patch
//! types, delete, deletecollection, the status and scale subresources.
//! Each answers what would have been stored, and afterwards the store,
//! the watch streams and the controllers show that nothing happened.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::http::{Answer, Api};
use support::kube::Env;

const NS: &str = "/api/v1/namespaces/dry";
const APPS: &str = "/apis/apps/v1/namespaces/dry";

fn rv(a: &Answer) -> String {
    a.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

/// Polls until `f` holds (at most 30 s).
fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} never happened");
}

/// The protobuf DeleteOptions a typed client (helm, controllers) sends:
/// `k8s\0`, then runtime.Unknown{typeMeta{v1, DeleteOptions}, raw}.
fn protobuf_delete_options(dry_run: bool) -> Vec<u8> {
    fn field(num: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(num << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }
    let mut raw = field(4, b"Background");
    if dry_run {
        raw.extend(field(5, b"All"));
    }
    let mut type_meta = field(1, b"v1");
    type_meta.extend(field(2, b"DeleteOptions"));
    let mut out = b"k8s\0".to_vec();
    out.extend(field(1, &type_meta));
    out.extend(field(2, &raw));
    out
}

/// Every change a watch from `from` reports within its few seconds.
fn watch_events(api: Api, path: String, from: String) -> std::thread::JoinHandle<Vec<Value>> {
    std::thread::spawn(move || {
        let a = api.get(&format!(
            "{path}?watch=1&resourceVersion={from}&timeoutSeconds=4"
        ));
        a.body
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dry_run_leaves_store_watches_and_controllers_untouched() {
    let env = Env::start().await;
    let api = Api::of(env.sandbox());
    let api2 = api.clone();
    tokio::task::spawn_blocking(move || dry_runs(&api2))
        .await
        .unwrap();
    env.stop().await;
}

/// The objects the dry runs aim at, settled: their paths and versions.
fn setup(api: &Api) -> (Vec<String>, Vec<String>) {
    assert_eq!(
        api.json(
            "POST",
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "dry"}})
        )
        .code,
        201
    );
    let cm = json!({"metadata": {"name": "cm"}, "data": {"k": "v"}});
    assert_eq!(api.json("POST", &format!("{NS}/configmaps"), &cm).code, 201);
    let pvc = json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}}}});
    assert_eq!(
        api.json("POST", &format!("{NS}/persistentvolumeclaims"), &pvc)
            .code,
        201
    );
    assert_eq!(
        api.json(
            "POST",
            &format!("{APPS}/deployments"),
            &deployment("web", 1)
        )
        .code,
        201
    );
    // Let the controllers and the kubelet settle: one ready replica.
    eventually("the deployment's pod ready", || {
        api.get(&format!("{APPS}/deployments/web")).json()["status"]["readyReplicas"] == 1
    });
    std::thread::sleep(Duration::from_millis(1500));
    let pods = api.get(&format!("{NS}/pods")).json();
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let before = |path: &str| rv(&api.get(path));
    let paths = [
        format!("{NS}/configmaps/cm"),
        format!("{NS}/persistentvolumeclaims/data"),
        format!("{APPS}/deployments/web"),
        format!("{NS}/pods/{pod}"),
    ];
    let rvs: Vec<String> = paths.iter().map(|p| before(p)).collect();
    (paths.to_vec(), rvs)
}

fn dry_runs(api: &Api) {
    let (paths, rvs) = setup(api);
    let from = rv(&api.get(&format!("{NS}/configmaps")));
    let watches: Vec<_> = [
        format!("{NS}/configmaps"),
        format!("{NS}/persistentvolumeclaims"),
        format!("{APPS}/deployments"),
        format!("{APPS}/replicasets"),
        format!("{NS}/pods"),
    ]
    .into_iter()
    .map(|p| watch_events(api.clone(), p, from.clone()))
    .collect();
    std::thread::sleep(Duration::from_millis(300));

    creates_and_updates(api, &paths, &rvs);
    patches_and_subresources(api, &paths);
    deletes(api, &paths);
    // Nothing changed...
    for (p, before) in paths.iter().zip(&rvs) {
        let now = api.get(p);
        assert_eq!(now.code, 200, "{p} is gone: {}", now.body);
        assert_eq!(&rv(&now), before, "{p} changed");
        assert!(now.json()["metadata"]["deletionTimestamp"].is_null(), "{p}");
    }
    for p in [
        format!("{NS}/configmaps/new"),
        format!("{APPS}/deployments/dry-dep"),
        format!("{APPS}/deployments/applied"),
    ] {
        assert_eq!(api.get(&p).code, 404, "{p} exists");
    }
    // ...no watch heard of anything...
    for w in watches {
        let events: Vec<Value> = w
            .join()
            .unwrap()
            .into_iter()
            .filter(|e| e["type"] != "BOOKMARK")
            .collect();
        assert!(events.is_empty(), "{events:#?}");
    }
    // ...and no controller reacted: one ReplicaSet, one running pod.
    let rs = api.get(&format!("{APPS}/replicasets")).json();
    assert_eq!(rs["items"].as_array().unwrap().len(), 1, "{rs}");
    let pods = api.get(&format!("{NS}/pods")).json();
    assert_eq!(pods["items"].as_array().unwrap().len(), 1);
    assert_eq!(pods["items"][0]["status"]["phase"], "Running");
}

fn creates_and_updates(api: &Api, paths: &[String], rvs: &[String]) {
    let cm = json!({"metadata": {"name": "cm"}, "data": {"k": "v"}});
    // create
    let a = api.json(
        "POST",
        &format!("{NS}/configmaps?dryRun=All"),
        &json!({"metadata": {"name": "new"}, "data": {"a": "b"}}),
    );
    assert_eq!(a.code, 201, "{}", a.body);
    assert!(a.json()["metadata"]["uid"].is_string());
    assert!(
        a.json()["metadata"].get("resourceVersion").is_none(),
        "{}",
        a.body
    );
    assert!(a.json()["metadata"]["managedFields"].is_array());
    let a = api.json(
        "POST",
        &format!("{APPS}/deployments?dryRun=All"),
        &deployment("dry-dep", 2),
    );
    assert_eq!(a.code, 201, "{}", a.body);
    assert_eq!(a.json()["metadata"]["generation"], 1);
    // An invalid object is still refused.
    let a = api.json(
        "POST",
        &format!("{NS}/configmaps?dryRun=All"),
        &json!({"metadata": {"name": "Bad_Name"}}),
    );
    assert_eq!(a.code, 422);
    // A value other than All is refused as upstream does.
    let a = api.json("POST", &format!("{NS}/configmaps?dryRun=foo"), &cm);
    assert_eq!(a.code, 422);
    assert_eq!(
        a.json()["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"foo\"}: supported values: \"All\""
    );
    // update
    let mut changed = api.get(&paths[0]).json();
    changed["data"]["k"] = json!("changed");
    let a = api.json("PUT", &format!("{}?dryRun=All", paths[0]), &changed);
    assert_eq!(
        (a.code, a.json()["data"]["k"].clone()),
        (200, json!("changed"))
    );
    assert_eq!(rv(&a), rvs[0]);
}

fn patches_and_subresources(api: &Api, paths: &[String]) {
    // the four patch types
    for (ct, body) in [
        ("application/merge-patch+json", r#"{"spec":{"replicas":3}}"#),
        (
            "application/strategic-merge-patch+json",
            r#"{"spec":{"replicas":3}}"#,
        ),
        (
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
        ),
    ] {
        let a = api.patch(&format!("{}?dryRun=All", paths[2]), ct, body);
        assert_eq!(
            (a.code, a.json()["spec"]["replicas"].clone()),
            (200, json!(3)),
            "{ct}: {}",
            a.body
        );
    }
    let a = api.patch(
        &format!("{}?dryRun=All&fieldManager=tester&force=true", paths[2]),
        "application/apply-patch+yaml",
        &serde_json::to_string(&deployment("web", 4)).unwrap(),
    );
    assert_eq!(
        (a.code, a.json()["spec"]["replicas"].clone()),
        (200, json!(4)),
        "{}",
        a.body
    );
    let a = api.patch(
        &format!("{APPS}/deployments/applied?dryRun=All&fieldManager=tester"),
        "application/apply-patch+yaml",
        &serde_json::to_string(&deployment("applied", 1)).unwrap(),
    );
    assert_eq!(a.code, 201, "{}", a.body);
    // subresources: status and scale
    let mut status = api.get(&format!("{}/status", paths[2])).json();
    status["status"]["replicas"] = json!(7);
    assert_eq!(
        api.json("PUT", &format!("{}/status?dryRun=All", paths[2]), &status)
            .code,
        200
    );
    let a = api.patch(
        &format!("{}/scale?dryRun=All", paths[2]),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":5}}"#,
    );
    assert_eq!(
        (a.code, a.json()["spec"]["replicas"].clone()),
        (200, json!(5)),
        "{}",
        a.body
    );
}

fn deletes(api: &Api, paths: &[String]) {
    // delete: options in a JSON body, in the query, in a protobuf body
    let a = api.send(
        "DELETE",
        &paths[3],
        Some(("application/json", br#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Background"}"#)),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert!(
        a.json()["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        a.body
    );
    let a = api.send("DELETE", &format!("{}?dryRun=All", paths[1]), None);
    assert_eq!(a.code, 200, "{}", a.body);
    let a = api.send(
        "DELETE",
        &paths[2],
        Some((
            "application/vnd.kubernetes.protobuf",
            &protobuf_delete_options(true),
        )),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.json()["status"], "Success", "{}", a.body);
    // deletecollection
    let a = api.send("DELETE", &format!("{NS}/configmaps?dryRun=All"), None);
    assert_eq!(a.code, 200, "{}", a.body);
    assert!(a.json()["items"].as_array().is_some_and(|i| !i.is_empty()));
}
