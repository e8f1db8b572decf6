//! Watchers against an API server that is not there: they report
//! "reconnecting" with the cause and keep retrying instead of ending.

use kubetutor::cluster::connection::ConnectionState;
use kubetutor::cluster::state::ClusterUpdate;
use kubetutor::cluster::watch::spawn_watchers;
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test]
async fn lost_server_means_reconnecting_not_the_end() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watchers = spawn_watchers(client, "kubetutor", tx);
    let first = rx.recv().await.unwrap();
    assert!(matches!(
        first,
        ClusterUpdate::Connection(ConnectionState::Connecting)
    ));
    // `Init` events come first (they precede the list request); then the
    // failure shows as a connection state.
    let reason = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rx.recv().await.expect("the watchers are still running") {
                ClusterUpdate::Connection(ConnectionState::Reconnecting { reason }) => {
                    break reason;
                }
                ClusterUpdate::Connection(other) => panic!("expected reconnecting, got {other:?}"),
                ClusterUpdate::Watch(..) => {}
            }
        }
    })
    .await
    .expect("a reconnecting state");
    assert!(reason.contains("cannot reach the API server"), "{reason}");
    // Still retrying: the channel stays open.
    let more = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(!matches!(more, Ok(None)), "the watchers ended");
    drop(watchers);
}

#[tokio::test]
async fn connect_to_a_stopped_cluster_says_what_to_do() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-kind\nclusters:\n- name: c\n  cluster: {{server: 'http://{addr}'}}\ncontexts:\n- name: kind-kind\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .unwrap();
    let opts = kubetutor::cluster::ConnectOptions {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    };
    let err = match kubetutor::cluster::connection::connect(&opts).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("cannot reach the API server of `kind-kind`"),
        "{err}"
    );
    assert!(err.contains("Is the cluster running?"), "{err}");
}
