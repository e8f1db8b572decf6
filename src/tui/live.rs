//! Wires a cluster session and the step checker into the UI's one event
//! channel: every watcher update goes to the checker and to the app, every
//! verdict and highlight change becomes an `AppEvent`.

use super::event::{AppEvent, ClusterEvent};
use crate::check::engine::{CheckUpdate, CheckerHandle};
use crate::cluster::ClusterUpdate;
use tokio::sync::mpsc;

/// Start the forwarding tasks; they end when their source or the UI closes.
pub fn spawn_bridge(
    mut updates: mpsc::UnboundedReceiver<ClusterUpdate>,
    mut checks: mpsc::UnboundedReceiver<CheckUpdate>,
    checker: CheckerHandle,
    app: mpsc::Sender<AppEvent>,
) {
    let mut lit = checker.highlights();
    let to_app = app.clone();
    tokio::spawn(async move {
        while let Some(u) = updates.recv().await {
            checker.cluster(u.clone());
            if to_app
                .send(AppEvent::Cluster(ClusterEvent::Update(u)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let to_app = app.clone();
    tokio::spawn(async move {
        while let Some(c) = checks.recv().await {
            if to_app.send(check_event(c)).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while lit.changed().await.is_ok() {
            let h = lit.borrow_and_update().clone();
            if app
                .send(AppEvent::Cluster(ClusterEvent::Highlights(h)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
}

/// A verdict as the app takes it (the reason and the live hint stay apart:
/// the steps pane shows each on its own lines).
pub fn check_event(c: CheckUpdate) -> AppEvent {
    AppEvent::Check {
        lesson: c.lesson,
        step: c.step,
        state: c.state,
        reason: c.reason,
        hint: c.hint,
    }
}
