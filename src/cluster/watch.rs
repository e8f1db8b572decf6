//! Watchers (list + watch, never polling) for every kind the course looks
//! at, merged into one stream of [`ClusterUpdate`]s.
//!
//! Each kind has its own kube-runtime watcher with the default back-off.
//! Errors (server gone, 410 Gone, 403 Forbidden...) never end a watcher:
//! they become `ClusterUpdate::Connection(Reconnecting { reason })`, the
//! watcher retries, relists when the server is back, and the state repairs
//! itself from that relist.

use crate::check::spec::Kind;
use crate::cluster::connection::{ConnectionState, short_error};
use crate::cluster::state::{ClusterUpdate, Object};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};
use std::collections::BTreeMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a watcher task tells the merger.
enum Msg {
    Event(Kind, Event<Object>),
    Error(Kind, String),
}

/// The running watchers; dropping it stops them.
#[derive(Debug)]
pub struct Watchers {
    tasks: Vec<JoinHandle<()>>,
}

impl Watchers {
    /// Stop every watcher now.
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start watching the course namespace (and PVs, StorageClasses and the
/// events about PVs) and send every change to `out`, starting with
/// `Connection(Connecting)`. Needs a tokio runtime.
pub fn spawn_watchers(
    client: Client,
    namespace: &str,
    out: mpsc::UnboundedSender<ClusterUpdate>,
) -> Watchers {
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let ns = namespace.to_string();
    let cfg = watcher::Config::default;
    let mut tasks = vec![
        spawn_stream(
            Kind::Pod,
            watcher(Api::<Pod>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Pod(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::PersistentVolumeClaim,
            watcher(
                Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns),
                cfg(),
            ),
            |o| Object::PersistentVolumeClaim(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::PersistentVolume,
            watcher(Api::<PersistentVolume>::all(client.clone()), cfg()),
            |o| Object::PersistentVolume(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::StorageClass,
            watcher(Api::<StorageClass>::all(client.clone()), cfg()),
            |o| Object::StorageClass(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::Deployment,
            watcher(Api::<Deployment>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Deployment(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::ReplicaSet,
            watcher(Api::<ReplicaSet>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::ReplicaSet(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::ConfigMap,
            watcher(Api::<ConfigMap>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::ConfigMap(Box::new(o)),
            tx.clone(),
        ),
        // Metadata only (`PartialObjectMeta` makes metadata-only requests):
        // the values of secrets never reach this process.
        spawn_stream(
            Kind::Secret,
            watcher(
                Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), &ns),
                cfg(),
            ),
            |o| Object::Secret(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::Service,
            watcher(Api::<Service>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Service(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::Job,
            watcher(Api::<Job>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Job(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::Event,
            watcher(Api::<CoreEvent>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Event(Box::new(o)),
            tx.clone(),
        ),
    ];
    // Events about cluster-scoped objects (a PV failing to provision or
    // recycle) are recorded in `default`. A second stream of the same kind
    // must not relist over the first, so it only ever adds and deletes.
    if ns != "default" {
        let pv_events = watcher(
            Api::<CoreEvent>::namespaced(client, "default"),
            cfg().fields("involvedObject.kind=PersistentVolume"),
        )
        .filter_map(|r| async move {
            match r {
                Ok(Event::InitApply(e)) => Some(Ok(Event::Apply(e))),
                Ok(Event::Init | Event::InitDone) => None,
                other => Some(other),
            }
        });
        tasks.push(spawn_stream(
            Kind::Event,
            pv_events,
            |o| Object::Event(Box::new(o)),
            tx.clone(),
        ));
    }
    drop(tx);
    tasks.push(tokio::spawn(merge(rx, out, ns)));
    Watchers { tasks }
}

/// Run one watcher stream with back-off and forward what it yields.
fn spawn_stream<K, S>(
    kind: Kind,
    stream: S,
    wrap: fn(K) -> Object,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()>
where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(item) = stream.next().await {
            let msg = match item {
                Ok(ev) => Msg::Event(kind, map_event(ev, wrap)),
                Err(e) => Msg::Error(kind, describe_error(kind, &e)),
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    })
}

fn map_event<K>(ev: Event<K>, wrap: fn(K) -> Object) -> Event<Object> {
    match ev {
        Event::Apply(o) => Event::Apply(wrap(o)),
        Event::Delete(o) => Event::Delete(wrap(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(wrap(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// One line saying what went wrong and, when the learner can act, what to do.
pub fn describe_error(kind: Kind, e: &watcher::Error) -> String {
    let what = kind.plural();
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some((s.code, s.message.clone())),
        watcher::Error::WatchError(s) => Some((s.code, s.message.clone())),
        _ => None,
    };
    match status {
        Some((403, msg)) => format!(
            "not allowed to watch {what} ({msg}): grant this user list/watch on {what}, or use a local cluster"
        ),
        Some((401, _)) => format!(
            "the API server no longer accepts our credentials while watching {what}: refresh the kubeconfig"
        ),
        Some((410, _)) => format!("{what}: the watch expired (410 Gone), listing again"),
        Some((code, msg)) => format!("watching {what}: {msg} ({code})"),
        None => match e {
            watcher::Error::InitialListFailed(k)
            | watcher::Error::WatchStartFailed(k)
            | watcher::Error::WatchFailed(k) => {
                format!("cannot reach the API server ({})", short_error(k))
            }
            other => format!("watching {what}: {other}"),
        },
    }
}

/// Forward events, and turn per-kind errors into one connection state:
/// `Reconnecting` while any watcher is failing, `Connected` once all that
/// failed have yielded again.
async fn merge(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    out: mpsc::UnboundedSender<ClusterUpdate>,
    namespace: String,
) {
    let _ = namespace;
    let mut failing: BTreeMap<String, String> = BTreeMap::new();
    let mut shown = ConnectionState::Connecting;
    let mut proven = false;
    if out.send(ClusterUpdate::Connection(shown.clone())).is_err() {
        return;
    }
    while let Some(msg) = rx.recv().await {
        let update = match msg {
            Msg::Event(kind, ev) => {
                // `Init` comes before the list request: it proves nothing.
                if !matches!(ev, Event::Init) {
                    failing.remove(kind.plural());
                    proven = true;
                }
                Some(ClusterUpdate::Watch(kind, ev))
            }
            Msg::Error(kind, reason) => {
                failing.insert(kind.plural().to_string(), reason);
                None
            }
        };
        let state = health(&failing);
        // Connecting → Connected once the server has answered.
        let next = match (&shown, &state) {
            (ConnectionState::Connecting, ConnectionState::Connected) if !proven => shown.clone(),
            _ => state,
        };
        if next != shown {
            shown = next.clone();
            if out.send(ClusterUpdate::Connection(next)).is_err() {
                return;
            }
        }
        if let Some(u) = update
            && out.send(u).is_err()
        {
            return;
        }
    }
}

fn health(failing: &BTreeMap<String, String>) -> ConnectionState {
    // The same cause usually hits every watcher; say it once.
    match failing.values().next() {
        None => ConnectionState::Connected,
        Some(reason) => ConnectionState::Reconnecting {
            reason: reason.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let forbidden = watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure("pods is forbidden", "Forbidden").with_code(403),
        )));
        let msg = describe_error(Kind::Pod, &forbidden);
        assert!(msg.contains("not allowed to watch pods"), "{msg}");
        assert!(msg.contains("grant"), "{msg}");
        let gone = watcher::Error::WatchError(Box::new(
            kube::core::Status::failure("too old resource version", "Expired").with_code(410),
        ));
        assert!(describe_error(Kind::Secret, &gone).contains("listing again"));
    }

    #[tokio::test]
    async fn merge_reports_reconnecting_and_recovery() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (out, mut got) = mpsc::unbounded_channel();
        let task = tokio::spawn(merge(rx, out, "kubetutor".into()));
        let send = |m| tx.send(m).map_err(|_| ()).unwrap();
        send(Msg::Event(Kind::Pod, Event::Init));
        send(Msg::Event(Kind::Pod, Event::InitDone));
        send(Msg::Error(Kind::Pod, "cannot reach the API server".into()));
        send(Msg::Error(
            Kind::Service,
            "cannot reach the API server".into(),
        ));
        send(Msg::Event(Kind::Pod, Event::InitDone));
        send(Msg::Event(Kind::Service, Event::InitDone));
        drop(tx);
        task.await.unwrap();
        let mut seen = Vec::new();
        while let Ok(u) = got.try_recv() {
            seen.push(match u {
                ClusterUpdate::Connection(c) => format!("{c:?}"),
                ClusterUpdate::Watch(k, _) => format!("{k}"),
            });
        }
        assert_eq!(
            seen,
            vec![
                "Connecting".to_string(),
                "Pod".into(),
                "Connected".into(),
                "Pod".into(),
                "Reconnecting { reason: \"cannot reach the API server\" }".into(),
                "Pod".into(),
                "Connected".into(),
                "Service".into(),
            ]
        );
    }
}
