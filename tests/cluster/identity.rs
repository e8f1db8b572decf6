//! A restarted sandbox is the same server (port, certificate, token), and a
//! session that lost it comes back by itself: on the same address, and, when
//! the old port was taken, by re-reading the kubeconfig.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kubetutor::cluster::state::{ClusterState, ClusterUpdate};
use kubetutor::cluster::{ConnectOptions, ConnectionState, Session};
use sandbox::{Sandbox, SandboxConfig};
use std::time::Duration;
use tokio::sync::mpsc;

/// Apply updates until the state satisfies `pred` (bounded: a shared
/// machine, not a timing assertion).
async fn until(
    rx: &mut mpsc::UnboundedReceiver<ClusterUpdate>,
    state: &mut ClusterState,
    what: &str,
    pred: impl Fn(&ClusterState) -> bool,
) {
    let r = tokio::time::timeout(Duration::from_secs(60), async {
        while !pred(state) {
            match rx.recv().await {
                Some(u) => {
                    state.apply(u);
                }
                None => panic!("the session ended"),
            }
        }
    })
    .await;
    if r.is_err() {
        panic!(
            "timed out waiting for {what}; connection: {:?}",
            state.connection
        );
    }
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "kubetutor"},
        "data": {"k": "v"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sandbox_keeps_its_identity_and_sessions_recover() {
    let dir = tempfile::tempdir().unwrap();
    let first = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    let (addr, token, ca) = (
        first.addr(),
        first.token().to_owned(),
        first.ca_pem().to_owned(),
    );
    let kubeconfig = first.kubeconfig_path().to_path_buf();
    let opts = ConnectOptions {
        kubeconfig: Some(kubeconfig.clone()),
        ..ConnectOptions::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut session = Session::start(&opts, tx).await.unwrap();
    if !session.namespace_exists {
        session.create_namespace().await.unwrap();
    }
    let mut state = ClusterState::new("kubetutor");
    until(&mut rx, &mut state, "connected", |s| {
        s.connection == ConnectionState::Connected
    })
    .await;

    // Same port, certificate and token after a restart: the session's
    // watchers resume on their own.
    first.shutdown().await;
    until(&mut rx, &mut state, "reconnecting", |s| {
        matches!(s.connection, ConnectionState::Reconnecting { .. })
    })
    .await;
    if let ConnectionState::Reconnecting { reason } = &state.connection {
        // Read for a learner, not the raw error chain (the exact cause
        // depends on when the watches noticed: refused, closed, 5xx...).
        assert!(!reason.is_empty(), "{reason}");
        assert!(!reason.contains("ServiceError"), "{reason}");
        if reason.contains("cannot reach") {
            assert!(reason.contains(&format!("at {addr}")), "{reason}");
        }
    }
    let second = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(second.addr(), addr);
    assert_eq!(second.token(), token);
    assert_eq!(second.ca_pem(), ca);
    until(&mut rx, &mut state, "connected again", |s| {
        s.connection == ConnectionState::Connected
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(session.current_client(), "kubetutor");
    api.create(&PostParams::default(), &configmap("after-restart"))
        .await
        .unwrap();
    until(&mut rx, &mut state, "the new object", |s| {
        s.get(
            kubetutor::check::spec::Kind::ConfigMap,
            "kubetutor",
            "after-restart",
        )
        .is_some()
    })
    .await;

    // The old port is taken now: the sandbox picks another and rewrites its
    // kubeconfig; the session re-reads it and moves there.
    second.shutdown().await;
    let squatter = std::net::TcpListener::bind(addr).unwrap();
    until(
        &mut rx,
        &mut state,
        "reconnecting after the second stop",
        |s| matches!(s.connection, ConnectionState::Reconnecting { .. }),
    )
    .await;
    let third = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    assert_ne!(third.addr(), addr);
    assert_eq!(third.token(), token);
    until(&mut rx, &mut state, "connected to the new port", |s| {
        s.connection == ConnectionState::Connected
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(session.current_client(), "kubetutor");
    api.create(&PostParams::default(), &configmap("after-move"))
        .await
        .unwrap();
    until(&mut rx, &mut state, "an object made on the new port", |s| {
        s.get(
            kubetutor::check::spec::Kind::ConfigMap,
            "kubetutor",
            "after-move",
        )
        .is_some()
    })
    .await;
    drop(squatter);
    session.stop();
    third.shutdown().await;

    // A damaged identity file is replaced, not fatal.
    std::fs::write(dir.path().join(sandbox::IDENTITY_FILE), "not json").unwrap();
    let fourth = Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .unwrap();
    assert_ne!(fourth.token(), token);
    fourth.shutdown().await;
}
