//! A class on a shared cluster, followed through ConfigMaps: no server.
//!
//! - The learner's kubetutor (started with the kubeconfig `classroom
//!   provision` made for them, recognised by its context extension) writes
//!   its report into ConfigMap `kubetutor-progress` of its namespace on
//!   every change (at most once a second) and once a minute as a
//!   heartbeat, and watches ConfigMap `kubetutor-classroom` there for the
//!   instructor's hold and message.
//! - `classroom serve --cluster` watches the classroom's progress
//!   ConfigMaps in every namespace (by label) into the same roster the
//!   server fills, and writes the hold and messages into each learner's
//!   `kubetutor-classroom`.
//!
//! A learner is shown connected while its ConfigMap was written within
//! the last 150 s (the heartbeat is every 60 s).

use super::learner::{ClassroomEvent, Latest};
use super::names::{self, CLASSROOM_LABEL, KUBECONFIG_EXTENSION, LEARNER_LABEL};
use super::protocol::{Message, ToLearner};
use super::server::Classroom;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The learner's progress.
pub const PROGRESS: &str = "kubetutor-progress";
/// The instructor's hold and message.
pub const INSTRUCTIONS: &str = "kubetutor-classroom";
const COMPONENT_LABEL: &str = "kubetutor.dev/component";
const REPORTED_AT: &str = "kubetutor.dev/reported-at";
const HEARTBEAT: Duration = Duration::from_secs(60);
const FRESH: i64 = 150;
/// Fewest seconds between two writes of a learner's progress.
const MIN_GAP: Duration = Duration::from_secs(1);

/// A learner's place in a shared-cluster classroom, from its kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSeat {
    pub classroom: String,
    pub learner: String,
    pub namespace: String,
}

impl SharedSeat {
    /// The classroom extension of the resolved context, if it has one.
    pub fn of(resolved: &crate::cluster::connection::Resolved) -> Option<SharedSeat> {
        let ctx = resolved
            .kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == resolved.info.context)?
            .context
            .as_ref()?;
        let ext = ctx
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.name == KUBECONFIG_EXTENSION)?;
        let s = |k: &str| ext.extension.get(k)?.as_str().map(str::to_owned);
        let seat = SharedSeat {
            classroom: names::check_classroom(&s("classroom")?).ok()?,
            learner: names::check_learner(&s("learner")?).ok()?,
            namespace: s("namespace")?,
        };
        Some(seat)
    }
}

fn progress_map(seat: &SharedSeat, report: &super::report::Report) -> Result<Value, String> {
    let mut labels = names::labels(&seat.classroom, Some(&seat.learner));
    labels.insert(COMPONENT_LABEL.to_owned(), "progress".to_owned());
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": PROGRESS,
            "namespace": seat.namespace,
            "labels": labels,
            "annotations": {REPORTED_AT: jiff::Timestamp::now().to_string()},
        },
        "data": {
            "learner": seat.learner,
            "report": serde_json::to_string(report).map_err(|e| e.to_string())?,
        }
    }))
}

/// Writes (creates or updates) the learner's progress ConfigMap.
async fn write_progress(
    api: &Api<ConfigMap>,
    seat: &SharedSeat,
    report: &super::report::Report,
) -> Result<(), String> {
    let cm: ConfigMap =
        serde_json::from_value(progress_map(seat, report)?).map_err(|e| e.to_string())?;
    match api
        .patch(PROGRESS, &PatchParams::default(), &Patch::Merge(&cm))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => api
            .create(&PostParams::default(), &cm)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The learner's side: progress out, hold and messages in, until the
/// front end goes away.
pub async fn run_learner(
    client: kube::Client,
    seat: SharedSeat,
    mut reports: watch::Receiver<Latest>,
    events: super::learner::Sink,
) {
    let send = |ev| {
        let events = events.clone();
        async move { events.send(ev).await }
    };
    if !send(ClassroomEvent::Joined {
        server: format!("namespace {}", seat.namespace),
        name: seat.learner.clone(),
    })
    .await
    {
        return;
    }
    let instructions = tokio::spawn(follow_instructions(
        client.clone(),
        seat.clone(),
        events.clone(),
    ));
    let api: Api<ConfigMap> = Api::namespaced(client, &seat.namespace);
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut failing: Option<String> = None;
    loop {
        tokio::select! {
            c = reports.changed() => if c.is_err() { break },
            _ = beat.tick() => {}
        }
        let report = super::learner::stamped(&reports.borrow_and_update());
        let Some(report) = report else { continue };
        match write_progress(&api, &seat, &report).await {
            Ok(()) => failing = None,
            Err(e) if failing.as_deref() != Some(e.as_str()) => {
                tracing::warn!("cannot write the classroom progress ConfigMap: {e}");
                let reason = format!("cannot write ConfigMap {PROGRESS}: {e}");
                if !send(ClassroomEvent::Away { reason }).await {
                    break;
                }
                failing = Some(e);
            }
            Err(_) => {}
        }
        tokio::time::sleep(MIN_GAP).await;
    }
    instructions.abort();
}

/// Watches the learner's `kubetutor-classroom` ConfigMap.
async fn follow_instructions(client: kube::Client, seat: SharedSeat, events: super::learner::Sink) {
    let api: Api<ConfigMap> = Api::namespaced(client, &seat.namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={INSTRUCTIONS}"));
    let mut stream = watcher::watcher(api, cfg).boxed();
    let mut seen = 0u64;
    let mut hold: Option<Option<String>> = None;
    while let Some(ev) = stream.next().await {
        let cm = match ev {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => cm,
            Ok(watcher::Event::Delete(_)) => ConfigMap::default(),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("watching {INSTRUCTIONS}: {e}");
                continue;
            }
        };
        let data = cm.data.unwrap_or_default();
        let lesson = data.get("hold").filter(|h| !h.is_empty()).cloned();
        let mut news = Vec::new();
        if hold.as_ref() != Some(&lesson) {
            hold = Some(lesson.clone());
            news.push(ClassroomEvent::Hold { lesson });
        }
        if let Some(m) = data
            .get("message")
            .and_then(|m| serde_json::from_str::<Message>(m).ok())
            .filter(|m| m.id > seen)
        {
            seen = m.id;
            news.push(ClassroomEvent::Message {
                text: super::report::clip(&m.text, super::server::MAX_MESSAGE),
                at: m.at,
            });
        }
        for ev in news {
            if !events.send(ev).await {
                return;
            }
        }
    }
}

/// Takes one progress ConfigMap into the roster; true when it changed.
fn take(
    class: &Classroom,
    cm: &ConfigMap,
    now: jiff::Timestamp,
    seen: &mut HashMap<String, jiff::Timestamp>,
) -> bool {
    let labels = cm.metadata.labels.clone().unwrap_or_default();
    let data = cm.data.clone().unwrap_or_default();
    let Some(name) = labels.get(LEARNER_LABEL).or(data.get("learner")).cloned() else {
        return false;
    };
    let Some(mut report) = data
        .get("report")
        .filter(|r| r.len() <= super::protocol::MAX_FRAME)
        .and_then(|r| serde_json::from_str::<super::report::Report>(r).ok())
    else {
        return false;
    };
    if let Err(e) = report.check() {
        tracing::warn!(%name, "a progress ConfigMap was refused: {e}");
        return false;
    }
    // The learner's clock says when; trusted within five minutes of ours.
    let at = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REPORTED_AT))
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .filter(|t| now.duration_since(*t).as_secs().abs() < 300);
    seen.insert(name.clone(), at.unwrap_or(now));
    let ns = cm.metadata.namespace.clone();
    class.update(|r| {
        let mut changed = r.report(&name, report, at.unwrap_or(now));
        if let Some(l) = r.learners.get_mut(&name) {
            changed |= l.namespace != ns || !l.connected;
            l.namespace = ns;
            l.connected = at.is_some_and(|t| now.duration_since(t).as_secs() < FRESH);
        }
        changed
    })
}

/// `classroom serve --cluster`: follows the classroom's learners through
/// their ConfigMaps and passes the instructor's news on, until `cancel`.
pub async fn follow(
    client: kube::Client,
    classroom: String,
    class: Classroom,
    cancel: CancellationToken,
) {
    let api: Api<ConfigMap> = Api::all(client.clone());
    let selector = format!("{CLASSROOM_LABEL}={classroom},{COMPONENT_LABEL}=progress");
    let mut stream = watcher::watcher(api, watcher::Config::default().labels(&selector)).boxed();
    let mut news = class.subscribe_news();
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    let mut seen: HashMap<String, jiff::Timestamp> = HashMap::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => match ev {
                Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => {
                    take(&class, &cm, jiff::Timestamp::now(), &mut seen);
                }
                Some(Ok(watcher::Event::Delete(cm))) => {
                    if let Some(name) = cm.metadata.labels.and_then(|l| l.get(LEARNER_LABEL).cloned()) {
                        class.update(|r| r.set_connected(&name, false));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::debug!("watching the classroom's progress: {e}"),
                None => return,
            },
            _ = tick.tick() => {
                let now = jiff::Timestamp::now();
                class.update(|r| {
                    let mut changed = false;
                    for (name, at) in &seen {
                        let fresh = now.duration_since(*at).as_secs() < FRESH;
                        changed |= r.set_connected(name, fresh);
                    }
                    changed
                });
            }
            n = news.recv() => {
                if let Ok(msg) = n
                    && let Err(e) = pass_on(&client, &classroom, &class, &msg).await
                {
                    tracing::warn!("cannot pass the instructor's news on: {e}");
                }
            }
        }
    }
}

/// Writes the hold and latest message into every learner namespace.
async fn pass_on(
    client: &kube::Client,
    classroom: &str,
    class: &Classroom,
    msg: &ToLearner,
) -> Result<(), String> {
    if !matches!(msg, ToLearner::Message { .. } | ToLearner::Hold { .. }) {
        return Ok(());
    }
    let (hold, message) = {
        let r = class.roster();
        (r.hold.clone(), r.message.clone())
    };
    let nss: Api<Namespace> = Api::all(client.clone());
    let list = nss
        .list(&ListParams::default().labels(&names::selector(classroom)))
        .await
        .map_err(|e| e.to_string())?;
    for ns in list {
        let Some(name) = ns.metadata.name else {
            continue;
        };
        let mut labels = names::labels(classroom, None);
        labels.insert(COMPONENT_LABEL.to_owned(), "instructions".to_owned());
        let cm: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": INSTRUCTIONS, "namespace": name, "labels": labels},
            "data": {
                "hold": hold.clone().unwrap_or_default(),
                "message": message.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()).unwrap_or_default(),
            }
        }))
        .map_err(|e| e.to_string())?;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
        let r = match api
            .patch(INSTRUCTIONS, &PatchParams::default(), &Patch::Merge(&cm))
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 404 => {
                api.create(&PostParams::default(), &cm).await.map(|_| ())
            }
            other => other.map(|_| ()),
        };
        r.map_err(|e| format!("namespace {name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::report::Report;
    use crate::classroom::roster::Roster;

    #[test]
    fn a_progress_configmap_fills_the_roster() {
        let seat = SharedSeat {
            classroom: "ws".into(),
            learner: "ana".into(),
            namespace: "ws-ana".into(),
        };
        let report = Report {
            lesson: Some("l".into()),
            step: Some("a".into()),
            on_step_secs: 30,
            lessons: vec![super::super::report::LessonReport {
                id: "l".into(),
                steps: vec![],
            }],
            ..Report::default()
        };
        let cm: ConfigMap = serde_json::from_value(progress_map(&seat, &report).unwrap()).unwrap();
        let class = Classroom::new(Roster::default());
        let mut seen = HashMap::new();
        assert!(take(&class, &cm, jiff::Timestamp::now(), &mut seen));
        let r = class.roster();
        let l = &r.learners["ana"];
        assert!(l.connected);
        assert_eq!(l.namespace.as_deref(), Some("ws-ana"));
        assert!(l.on_step(jiff::Timestamp::now()).unwrap().as_secs() >= 30);
    }
}
