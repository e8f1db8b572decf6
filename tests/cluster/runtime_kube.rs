//! The sandbox's runtime through kube-rs: a Deployment becomes ready,
//! its pod's logs and the service proxy answer, and `Api::<Pod>::exec`
//! runs a command in the container's filesystem.

use std::time::Duration;

use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use sandbox::RuntimeConfig;
use sandbox::{Sandbox, SandboxConfig};
use tokio::io::AsyncReadExt as _;

fn yaml<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = format!("{}/assets/01-ephemeral/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_logs_proxy_and_exec_through_kube_rs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = SandboxConfig::new(tmp.path());
    cfg.runtime = RuntimeConfig {
        backoff_base: Duration::from_millis(200),
        ..RuntimeConfig::default()
    };
    let sb = Sandbox::start(cfg).await.unwrap();
    let kc = Kubeconfig::read_from(sb.kubeconfig_path()).unwrap();
    let client = Client::try_from(
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let ns = "kubetutor";
    let pp = PostParams::default();
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    cms.create(&pp, &yaml("configmap.yaml")).await.unwrap();
    cms.create(&pp, &yaml("script-configmap.yaml"))
        .await
        .unwrap();
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
    svcs.create(&pp, &yaml("service.yaml")).await.unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deploys.create(&pp, &yaml("deployment.yaml")).await.unwrap();

    let mut ready = false;
    for _ in 0..300 {
        let d = deploys.get("msg-api").await.unwrap();
        if d.status.and_then(|s| s.available_replicas) == Some(1) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "msg-api never became available");

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels("app=msg-api"))
        .await
        .unwrap();
    let pod = list.items[0].metadata.name.clone().unwrap();
    let logs = pods.logs(&pod, &LogParams::default()).await.unwrap();
    assert!(logs.contains("listening on :8080"), "{logs}");

    // The service proxy, as a raw request through the client.
    let req = http::Request::get(format!(
        "/api/v1/namespaces/{ns}/services/msg-api:80/proxy/messages"
    ))
    .body(Vec::new())
    .unwrap();
    let body = client.request_text(req).await.unwrap();
    assert_eq!(body, r#"{"messages": []}"#);

    // exec over the WebSocket.
    let mut attached = pods
        .exec(
            &pod,
            ["ls", "/opt/msg-api"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut out = String::new();
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = attached.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"));
    assert!(out.contains("msg_api.py"), "{out}");

    // Follow the logs: the first line arrives at once.
    let stream = pods
        .log_stream(
            &pod,
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    let mut lines = stream.lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("API_DB_FILEPATH"), "{first}");
    sb.shutdown().await;
}
