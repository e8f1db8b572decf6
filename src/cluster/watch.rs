//! Watchers (list + watch, never polling) for every kind the course looks
//! at, merged into one stream of [`ClusterUpdate`]s.
//!
//! Each kind has its own kube-runtime watcher with the default back-off.
//! Errors (server gone, 410 Gone, 403 Forbidden...) never end a watcher:
//! they become `ClusterUpdate::Connection(Reconnecting { reason })`, the
//! watcher retries, relists when the server is back, and the state repairs
//! itself from that relist.

use crate::cluster::connection::{ConnectionState, learner_error};
use crate::cluster::kinds::Kind;
use crate::cluster::state::{ClusterUpdate, Object};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a watcher task tells the merger. `source` names the stream (two
/// streams may carry the same kind).
enum Msg {
    /// An event to forward, or `None`: the stream is healthy, nothing to say.
    Event(&'static str, Kind, Option<Event<Object>>),
    /// Why, and whether the cause is the connection rather than this kind.
    Error(&'static str, String, bool),
}

/// Where a watcher task reports, and the server it watches (for reasons).
#[derive(Clone)]
struct Sink {
    tx: mpsc::UnboundedSender<Msg>,
    server: Arc<str>,
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
    spawn_watchers_at(client, namespace, "", out)
}

/// [`spawn_watchers`] for a client of the API server at `server` (its URL,
/// named in the reasons a learner reads: "cannot reach the API server at
/// 127.0.0.1:6443 (connection refused)").
pub fn spawn_watchers_at(
    client: Client,
    namespace: &str,
    server: &str,
    out: mpsc::UnboundedSender<ClusterUpdate>,
) -> Watchers {
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let tx = Sink {
        tx,
        server: Arc::from(server),
    };
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
            Kind::StatefulSet,
            watcher(Api::<StatefulSet>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::StatefulSet(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::CronJob,
            watcher(Api::<CronJob>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::CronJob(Box::new(o)),
            tx.clone(),
        ),
        spawn_stream(
            Kind::Event,
            watcher(Api::<CoreEvent>::namespaced(client.clone(), &ns), cfg()),
            |o| Object::Event(Box::new(o)),
            tx.clone(),
        ),
        // Nodes: metadata only, for the node count lessons adapt to.
        spawn_stream(
            Kind::Node,
            watcher(Api::<PartialObjectMeta<Node>>::all(client.clone()), cfg()),
            |o| Object::Node(Box::new(o)),
            tx.clone(),
        ),
    ];
    // Events about cluster-scoped objects (a PV failing to provision or
    // recycle) are recorded in `default`. A second stream of the same kind
    // must not relist over the first, so it only ever adds and deletes.
    if ns != "default" {
        let pv_events = watcher(
            Api::<CoreEvent>::namespaced(client.clone(), "default"),
            cfg().fields("involvedObject.kind=PersistentVolume"),
        );
        tasks.push(spawn_stream_with(
            "events about volumes",
            Kind::Event,
            pv_events,
            |o| Object::Event(Box::new(o)),
            true,
            tx.clone(),
        ));
    }
    drop(tx);
    tasks.push(tokio::spawn(merge(rx, out, Some(client))));
    Watchers { tasks }
}

/// Run one watcher stream with back-off and forward what it yields.
fn spawn_stream<K, S>(kind: Kind, stream: S, wrap: fn(K) -> Object, tx: Sink) -> JoinHandle<()>
where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    spawn_stream_with(kind.plural(), kind, stream, wrap, false, tx)
}

/// `additive`: the stream shares its kind with another one, so its relists
/// must not replace the store: they become plain applies.
fn spawn_stream_with<K, S>(
    source: &'static str,
    kind: Kind,
    stream: S,
    wrap: fn(K) -> Object,
    additive: bool,
    sink: Sink,
) -> JoinHandle<()>
where
    K: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(item) = stream.next().await {
            let msg = match item {
                Ok(ev) => {
                    let ev = map_event(ev, wrap);
                    let ev = if additive {
                        match ev {
                            Event::InitApply(o) => Some(Event::Apply(o)),
                            // `Init` precedes the list: it proves nothing.
                            Event::Init => continue,
                            Event::InitDone => None,
                            other => Some(other),
                        }
                    } else {
                        Some(ev)
                    };
                    Msg::Event(source, kind, ev)
                }
                Err(e) => Msg::Error(
                    source,
                    describe_error_at(kind, &e, &sink.server),
                    is_transient(&e),
                ),
            };
            if sink.tx.send(msg).is_err() {
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

/// Whether an error is about the connection (or a passing server state)
/// rather than about this kind: transport errors, 410 Gone, 429, 5xx.
fn is_transient(e: &watcher::Error) -> bool {
    let code = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code,
        watcher::Error::WatchError(s) => s.code,
        watcher::Error::NoResourceVersion => return false,
        _ => return true,
    };
    code == 410 || code == 429 || code >= 500
}

/// One line saying what went wrong and, when the learner can act, what to do.
pub fn describe_error(kind: Kind, e: &watcher::Error) -> String {
    describe_error_at(kind, e, "")
}

/// [`describe_error`] naming the API server at `server` (a URL, or "").
pub fn describe_error_at(kind: Kind, e: &watcher::Error, server: &str) -> String {
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
        Some((401, _)) => {
            "the API server no longer accepts our credentials (401): restart kubetutor, or refresh the kubeconfig".to_string()
        }
        Some((410, _)) => format!("{what}: the watch expired (410 Gone), listing again"),
        Some((code, msg)) => format!("watching {what}: {msg} ({code})"),
        None => match e {
            watcher::Error::InitialListFailed(k)
            | watcher::Error::WatchStartFailed(k)
            | watcher::Error::WatchFailed(k) => learner_error(k, server),
            other => format!("watching {what}: {other}"),
        },
    }
}

/// How often the merger checks whether a lost server is back.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// One failing stream: why, and whether the cause is the connection (it
/// heals when the server answers again) or this kind (403...: it heals when
/// this stream yields again).
struct Failure {
    reason: String,
    transient: bool,
}

/// Forward events, and turn per-stream errors into one connection state:
/// `Reconnecting` while any watcher is failing, `Connected` once all that
/// failed are back.
///
/// A watch that fails mid-stream resumes from its resource version without
/// a relist, so a quiet kind may never yield again: while a connection
/// failure is pending, the merger asks the server for `/version` every
/// couple of seconds and clears connection failures when it answers.
async fn merge(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    out: mpsc::UnboundedSender<ClusterUpdate>,
    client: Option<Client>,
) {
    let mut failing: BTreeMap<&'static str, Failure> = BTreeMap::new();
    let mut shown = ConnectionState::Connecting;
    let mut proven = false;
    if out.send(ClusterUpdate::Connection(shown.clone())).is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let must_ping = client.is_some() && failing.values().any(|f| f.transient);
        let update = tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                match msg {
                    Msg::Event(source, kind, ev) => {
                        // `Init` comes before the list request: it proves nothing.
                        if !matches!(ev, Some(Event::Init)) {
                            failing.remove(source);
                            proven = true;
                        }
                        ev.map(|ev| ClusterUpdate::Watch(kind, ev))
                    }
                    Msg::Error(source, reason, transient) => {
                        failing.insert(source, Failure { reason, transient });
                        None
                    }
                }
            }
            _ = ping.tick(), if must_ping => {
                if let Some(c) = &client
                    && tokio::time::timeout(PING_EVERY, c.apiserver_version()).await.is_ok_and(|r| r.is_ok())
                {
                    failing.retain(|_, f| !f.transient);
                }
                None
            }
        };
        let state = health(&failing, &shown);
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

fn health(failing: &BTreeMap<&'static str, Failure>, shown: &ConnectionState) -> ConnectionState {
    // The same cause usually hits every watcher: keep saying the reason
    // already shown while it still holds, rather than flapping between them.
    if let ConnectionState::Reconnecting { reason } = shown
        && failing.values().any(|f| &f.reason == reason)
    {
        return shown.clone();
    }
    match failing.values().next() {
        None => ConnectionState::Connected,
        Some(f) => ConnectionState::Reconnecting {
            reason: f.reason.clone(),
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
        let task = tokio::spawn(merge(rx, out, None));
        let send = |m| tx.send(m).map_err(|_| ()).unwrap();
        send(Msg::Event("pods", Kind::Pod, Some(Event::Init)));
        send(Msg::Event("pods", Kind::Pod, Some(Event::InitDone)));
        send(Msg::Error(
            "pods",
            "cannot reach the API server".into(),
            true,
        ));
        send(Msg::Error(
            "services",
            "cannot reach the API server".into(),
            true,
        ));
        send(Msg::Error(
            "events about volumes",
            "cannot reach the API server".into(),
            true,
        ));
        send(Msg::Event("pods", Kind::Pod, Some(Event::InitDone)));
        send(Msg::Event("services", Kind::Service, Some(Event::InitDone)));
        // A stream with nothing to forward still proves it is back.
        send(Msg::Event("events about volumes", Kind::Event, None));
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
                "Service".into(),
                "Connected".into(),
            ]
        );
    }
}
