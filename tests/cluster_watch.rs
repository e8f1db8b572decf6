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
