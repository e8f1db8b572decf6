//! What the controllers and the node share: the store, the data directory,
//! the event recorder, the tunables, the wake-up signal and the shutdown
//! token. The control loop that drives them is in the crate root, above
//! both.

pub(crate) mod events;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::hostfs::SandboxRoot;
use crate::machinery::resources::ResourceDef;
use crate::storage::store::{Store, UpdateScope};
use events::Recorder;

/// Tunables (tests shorten the back-offs).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The first CrashLoopBackOff delay; it doubles after each crash.
    pub backoff_base: Duration,
    /// The longest CrashLoopBackOff delay.
    pub backoff_max: Duration,
    /// How often a pass runs without any change.
    pub resync: Duration,
    /// How long a started process runs before the kubelet reports it
    /// running (one that exits sooner never shows Running).
    pub start_lag: Duration,
    /// How long an exited container shows Terminated before the kubelet
    /// restarts it or backs off (its relist period).
    pub exit_lag: Duration,
    /// How often the kubelet rewrites a running pod's configMap, secret,
    /// downwardAPI and projected volumes (its sync period, 1m).
    pub volume_sync: Duration,
    /// How often the eviction manager measures emptyDirs (10s).
    pub eviction_period: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            resync: Duration::from_secs(1),
            start_lag: Duration::from_millis(300),
            exit_lag: Duration::from_secs(1),
            volume_sync: Duration::from_secs(60),
            eviction_period: Duration::from_secs(10),
        }
    }
}

/// Everything the controllers and the kubelet share.
pub(crate) struct Runtime {
    pub(crate) store: Store,
    pub(crate) root: SandboxRoot,
    pub(crate) config: RuntimeConfig,
    pub(crate) events: Recorder,
    /// Wakes the control loop (a container exited, a probe changed...).
    pub(crate) poke: Arc<Notify>,
    /// Fires on shutdown.
    pub(crate) cancel: CancellationToken,
}

impl Runtime {
    pub(crate) fn new(
        store: Store,
        root: SandboxRoot,
        config: RuntimeConfig,
        cancel: CancellationToken,
    ) -> Arc<Runtime> {
        let poke = Arc::new(Notify::new());
        Arc::new(Runtime {
            events: Recorder::new(poke.clone()),
            store,
            root,
            config,
            poke,
            cancel,
        })
    }

    /// Asks for a pass soon.
    pub(crate) fn wake(&self) {
        self.poke.notify_one();
    }

    /// Writes a whole object (controllers own what they write); conflicts
    /// and vanished objects are left to the next pass.
    pub(crate) fn put(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        self.store.update_scoped(res, obj, UpdateScope::All).ok()
    }

    /// Creates an object; errors are left to the next pass.
    pub(crate) fn create(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        self.store.create(res, obj).ok()
    }
}
