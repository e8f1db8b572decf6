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
use crate::machinery::meta::{name_of, namespace_of};
use crate::machinery::resources::ResourceDef;
use crate::machinery::status::ApiError;
use crate::registry::deletion::DeleteOptions;
use crate::registry::pipeline::{Deleted, Registry, WriteOptions};
use crate::storage::store::Store;
use events::Recorder;

/// The field manager the controllers' writes are recorded under.
pub(crate) const CONTROLLER_MANAGER: &str = "kube-controller-manager";

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
    /// What they read (upstream's controllers read their informers' caches).
    pub(crate) store: Store,
    /// What they write through: the same pipeline as the API's requests.
    pub(crate) registry: Registry,
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
        registry: Registry,
        root: SandboxRoot,
        config: RuntimeConfig,
        cancel: CancellationToken,
    ) -> Arc<Runtime> {
        let poke = Arc::new(Notify::new());
        Arc::new(Runtime {
            events: Recorder::new(poke.clone()),
            store: registry.store().clone(),
            registry,
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

    /// Writes a whole object (controllers own what they write) through the
    /// registry's pipeline, as the version it was read at (its
    /// `metadata.resourceVersion`); conflicts and vanished objects are left
    /// to the next pass.
    pub(crate) fn put(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        self.put_as(CONTROLLER_MANAGER, res, obj)
    }

    /// [`Runtime::put`] recorded under another component's field manager
    /// (`kubelet`, `kube-scheduler`).
    pub(crate) fn put_as(
        &self,
        manager: &str,
        res: &'static ResourceDef,
        obj: Value,
    ) -> Option<Arc<Value>> {
        let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        match self.try_put_as(manager, res, obj) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::debug!("{manager}: writing {} {ns}/{name}: {e}", res.qualified());
                None
            }
        }
    }

    /// [`Runtime::put`] that answers why a write did not happen (409: the
    /// object changed since it was read; 404: it is gone).
    pub(crate) fn try_put(
        &self,
        res: &'static ResourceDef,
        obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        self.try_put_as(CONTROLLER_MANAGER, res, obj)
    }

    fn try_put_as(
        &self,
        manager: &str,
        res: &'static ResourceDef,
        obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        let make = |cur: Option<&Value>| match cur {
            Some(_) => Ok(obj.clone()),
            None => Err(ApiError::not_found(res, &name)),
        };
        let opts = WriteOptions::component(manager);
        self.registry
            .update(res, &ns, &name, &make, false, &opts)
            .map(|u| u.object)
    }

    /// Creates an object through the registry's pipeline; errors are
    /// left to the next pass.
    pub(crate) fn create(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        match self.try_create(res, obj) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::debug!("creating a {}: {e}", res.qualified());
                None
            }
        }
    }

    /// Creates an object through the registry's pipeline.
    pub(crate) fn try_create(
        &self,
        res: &'static ResourceDef,
        obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        self.registry
            .create(res, obj, &WriteOptions::component(CONTROLLER_MANAGER))
    }

    /// Deletes an object through the registry (graceful deletion,
    /// finalizers, propagation), as any client's delete.
    pub(crate) fn delete(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        self.registry.delete(res, ns, name, opts)
    }
}
