//! The object store: every object as JSON, keyed by (resource, namespace,
//! name), behind one monotonically increasing resourceVersion counter.
//! Objects are kept in memory as their JSON bytes ([`Obj`]), parsed by
//! whoever reads them.
//!
//! Each API write is one redb write transaction committed with immediate
//! durability *before* the write is acknowledged or visible, so `kill -9`
//! at any moment loses no acknowledged write. Reads are served from an
//! in-memory index; recent changes are kept in a ring so that watches can
//! replay from a resourceVersion (410 Gone below the ring's start).
//!
//! In-process controllers use the same API as the HTTP handlers:
//! [`Store::get`], [`Store::list`], [`Store::create`], [`Store::update`],
//! [`Store::update_scoped`], [`Store::delete`] and [`Store::subscribe`].

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::machinery::meta::{lock, name_of, namespace_of, now_rfc3339, rfc3339, rv_of};
use crate::machinery::resources::{self, RESOURCES, ResourceDef};
use crate::machinery::status::ApiError;
use crate::registry;
pub(crate) use crate::storage::stored::Obj;

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// redb's page cache.
const REDB_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// How many recent events are kept for watch replay. Each entry can hold
/// an object version nothing else keeps, so this bounds memory too; a
/// watch from further back gets 410 Gone and relists, as upstream's watch
/// cache answers (its default is 100 events per resource type).
const RING_CAPACITY: usize = 1_024;
/// Buffer of the live broadcast; a watcher that falls further behind gets a 410.
const BROADCAST_CAPACITY: usize = 8_192;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {}

/// One change, as broadcast to watchers and controllers.
#[derive(Debug)]
pub struct Event {
    pub kind: EventType,
    pub resource: &'static ResourceDef,
    /// The object after the change (for deletes: the last state, with the
    /// deletion's resourceVersion).
    pub object: Arc<Obj>,
    /// The object before the change (none for creates).
    pub old: Option<Arc<Obj>>,
    pub rv: u64,
}

/// Deletion propagation for dependents (found by ownerReferences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The last state of the object.
    pub object: Arc<Value>,
    /// True when the object is gone; false when it only got a
    /// deletionTimestamp because finalizers remain.
    pub removed: bool,
}

/// Which part of an object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateScope {
    /// The main resource: status changes are ignored where a status
    /// subresource exists.
    Main,
    /// The status subresource: only `.status` changes.
    Status,
    /// Everything (for in-process controllers that own the whole object).
    All,
    /// The pods' `ephemeralcontainers` subresource: only
    /// `spec.ephemeralContainers` changes (checked by its handler).
    EphemeralContainers,
}

type ObjKey = (String, String);

/// Events to replay and the receiver for the ones after them.
pub type Replay = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

struct State {
    rv: u64,
    /// Indexed like `RESOURCES`.
    objects: Vec<BTreeMap<ObjKey, Arc<Obj>>>,
    ring: VecDeque<Arc<Event>>,
    /// Watches may start from any resourceVersion >= this.
    ring_start: u64,
}

struct Inner {
    db: redb::Database,
    /// Serialises writers while they compute and stage a change.
    write_lock: Mutex<()>,
    /// Staged changes waiting for the group commit.
    queue: Mutex<CommitQueue>,
    queue_cv: std::sync::Condvar,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Event>>,
    /// Fired when the sandbox stops, so that long-lived tasks (watches,
    /// controllers) let go of the store and the database file is released.
    closing: tokio_util::sync::CancellationToken,
}

/// Changes visible in memory but not yet durable.
#[derive(Default)]
struct CommitQueue {
    pending: Vec<Arc<Event>>,
    committing: bool,
    durable_rv: u64,
    /// Set when a commit failed; every later write is refused.
    broken: Option<ApiError>,
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// A change computed under the write lock, committed in one transaction.
enum Change {
    Put {
        res: &'static ResourceDef,
        obj: Value,
        old: Option<Arc<Value>>,
    },
    Remove {
        res: &'static ResourceDef,
        old: Arc<Value>,
    },
}

impl Change {
    /// `new` replaces `old`, or, when its deletion is complete (`gone`),
    /// leaves the store, its last state going out with the DELETED event.
    fn replace_or_remove(
        res: &'static ResourceDef,
        new: Value,
        old: Arc<Value>,
        gone: bool,
    ) -> Change {
        if gone {
            Change::Remove {
                res,
                old: Arc::new(new),
            }
        } else {
            Change::Put {
                res,
                obj: new,
                old: Some(old),
            }
        }
    }
}

fn db_key(res: &ResourceDef, ns: &str, name: &str) -> String {
    format!("{}/{ns}/{name}", res.qualified())
}

/// The finalizer that keeps an owner deleted with `Foreground` propagation
/// until its dependents are gone.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of `Orphan` propagation.
pub const FINALIZER_ORPHAN: &str = "orphan";

impl Store {
    /// Opens (or creates) the store in `path`, loading every object into memory.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        // Reads are served from memory: redb's page cache only speeds up
        // writes, so a small one is enough (its default grows to 1 GiB).
        let db = redb::Builder::new()
            .set_cache_size(REDB_CACHE_BYTES)
            .create(path)
            .with_context(|| format!("cannot open the sandbox database {}: is another sandbox using this data directory? Stop it or pass another --data-dir", path.display()))?;
        let mut objects: Vec<BTreeMap<ObjKey, Arc<Obj>>> = vec![BTreeMap::new(); RESOURCES.len()];
        let mut rv = 0;
        {
            // Make sure the tables exist so that reads below succeed.
            let tx = db.begin_write()?;
            tx.open_table(OBJECTS)?;
            tx.open_table(META)?;
            tx.commit()?;
        }
        {
            let tx = db.begin_read()?;
            let meta = tx.open_table(META)?;
            if let Some(v) = meta.get(RV_KEY)? {
                rv = v.value();
            }
            let table = tx.open_table(OBJECTS)?;
            for entry in table.iter()? {
                let (k, v) = entry?;
                let key = k.value();
                let mut parts = key.splitn(3, '/');
                let (Some(q), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Some(res) = resources::by_qualified(q) else {
                    continue;
                };
                let obj: Value = match serde_json::from_slice(v.value()) {
                    Ok(o) => o,
                    Err(_) => continue,
                };
                rv = rv.max(rv_of(&obj));
                if let Some(map) = res_index(res).and_then(|i| objects.get_mut(i)) {
                    let stored = Obj::from_parts(&obj, v.value().to_vec());
                    map.insert((ns.to_string(), name.to_string()), Arc::new(stored));
                }
            }
        }
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let store = Store {
            inner: Arc::new(Inner {
                db,
                write_lock: Mutex::new(()),
                queue: Mutex::new(CommitQueue {
                    durable_rv: rv,
                    ..CommitQueue::default()
                }),
                queue_cv: std::sync::Condvar::new(),
                state: RwLock::new(State {
                    rv,
                    objects,
                    ring: VecDeque::new(),
                    ring_start: rv,
                }),
                events,
                closing: tokio_util::sync::CancellationToken::new(),
            }),
        };
        store.bootstrap()?;
        Ok(store)
    }

    /// Creates the objects every cluster has (namespaces, the node, the
    /// default service account, storage classes) when they are missing.
    fn bootstrap(&self) -> anyhow::Result<()> {
        for obj in registry::bootstrap::bootstrap_objects() {
            let res = match resources::find_kind(
                obj["apiVersion"]
                    .as_str()
                    .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
                    .unwrap_or(""),
                obj["kind"].as_str().unwrap_or(""),
            ) {
                Some(r) => r,
                None => continue,
            };
            if self.contains(res, namespace_of(&obj), name_of(&obj)) {
                continue;
            }
            match self.create(res, obj) {
                Ok(_) | Err(ApiError { code: 409, .. }) => {}
                Err(e) => anyhow::bail!("cannot create the sandbox's initial objects: {e}"),
            }
        }
        Ok(())
    }

    /// Asks every task holding the store to let go of it.
    pub fn close(&self) {
        self.inner.closing.cancel();
    }

    /// Resolves when [`Store::close`] has been called; long-lived tasks
    /// (watches, controllers) select on it and return.
    pub async fn closed(&self) {
        self.inner.closing.cancelled().await;
    }

    /// Whether this is the last handle (the database closes with it).
    pub fn is_last_handle(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// The current resourceVersion (of the latest write).
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// One object, or None.
    pub fn get(&self, res: &ResourceDef, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.get_stored(res, ns, name).map(|o| Arc::new(o.value()))
    }

    /// One object as stored (not parsed), or None.
    pub fn get_stored(&self, res: &ResourceDef, ns: &str, name: &str) -> Option<Arc<Obj>> {
        let st = self.read();
        st.objects
            .get(res_index(res)?)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Whether an object exists.
    pub fn contains(&self, res: &ResourceDef, ns: &str, name: &str) -> bool {
        self.get_stored(res, ns, name).is_some()
    }

    /// Every object of a resource (in one namespace when `ns` is given),
    /// ordered by namespace then name, with the resourceVersion of the
    /// snapshot. Parses them all: for kinds that can be numerous (pods,
    /// events), filter [`Store::list_stored`] on [`Facts`] first.
    pub fn list(&self, res: &ResourceDef, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (items, rv) = self.list_stored(res, ns);
        (items.iter().map(|o| Arc::new(o.value())).collect(), rv)
    }

    /// [`Store::list`] without parsing.
    pub fn list_stored(&self, res: &ResourceDef, ns: Option<&str>) -> (Vec<Arc<Obj>>, u64) {
        let st = self.read();
        let Some(map) = res_index(res).and_then(|i| st.objects.get(i)) else {
            return (Vec::new(), st.rv);
        };
        let items = match ns {
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
            None => map.values().cloned().collect(),
        };
        (items, st.rv)
    }

    /// A receiver of every future change (for in-process controllers).
    /// A receiver that lags more than the channel's capacity gets
    /// `RecvError::Lagged` and should re-list.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.events.subscribe()
    }

    /// Events after `rv` still in the ring, plus a receiver for later ones,
    /// taken atomically so that nothing is missed or repeated.
    /// Err(()) when `rv` is older than the ring (answer 410 Gone).
    pub fn watch_from(&self, rv: u64) -> Result<Replay, u64> {
        let st = self.read();
        if rv < st.ring_start {
            return Err(st.ring_start);
        }
        let rx = self.inner.events.subscribe();
        let skip = st.ring.partition_point(|e| e.rv <= rv);
        Ok((st.ring.iter().skip(skip).cloned().collect(), rx))
    }

    /// A snapshot of a resource plus a receiver for the changes after it.
    pub fn list_and_subscribe(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
    ) -> (Vec<Arc<Obj>>, u64, broadcast::Receiver<Arc<Event>>) {
        let st = self.read();
        let rx = self.inner.events.subscribe();
        let rv = st.rv;
        let items = match res_index(res).and_then(|i| st.objects.get(i)) {
            Some(map) => map
                .iter()
                .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
                .map(|(_, v)| v.clone())
                .collect(),
            None => Vec::new(),
        };
        (items, rv, rx)
    }

    /// Creates an object. Its namespace comes from `metadata.namespace`
    /// (ignored for cluster-scoped resources). Fills in uid,
    /// creationTimestamp, generation, resourceVersion and the defaults
    /// upstream applies; validates; handles `generateName`.
    pub fn create(
        &self,
        res: &'static ResourceDef,
        mut obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let meta = &mut obj["metadata"];
        if !res.namespaced
            && let Some(m) = meta.as_object_mut()
        {
            m.remove("namespace");
        }
        for k in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            if let Some(m) = meta.as_object_mut() {
                m.remove(k);
            }
        }
        meta["creationTimestamp"] = json!(now_rfc3339());
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        if has_generation(res) {
            meta["generation"] = json!(1);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("generation");
        }
        if res.has_subresource("status") && res.plural != "nodes" {
            // Upstream ignores the status a client sends on create.
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        registry::apply_defaults(res, &mut obj);
        registry::prepare(res, &mut obj, None);
        if is_core(res, "pods") {
            registry::admission::admit_pod(&mut obj);
        }
        if res.group.is_empty()
            && res.plural == "persistentvolumeclaims"
            && obj["spec"].is_object()
            && obj["spec"].get("storageClassName").is_none()
        {
            // What the DefaultStorageClass admission plugin does.
            if let Some(class) = self.default_storage_class() {
                obj["spec"]["storageClassName"] = json!(class);
            }
        }
        let guard = lock(&self.inner.write_lock);
        let ns = namespace_of(&obj).to_string();
        if res.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the server could not find the requested resource: a namespace must be specified",
                ));
            }
            match self.get(&resources::NAMESPACES, "", &ns) {
                None => return Err(ApiError::not_found(&resources::NAMESPACES, &ns)),
                Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!(
                            "{} {:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            res.qualified(),
                            name_of(&obj)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if name_of(&obj).is_empty()
            && let Some(prefix) = obj["metadata"]["generateName"].as_str().map(str::to_string)
        {
            let name = self.generate_name(res, &ns, &prefix);
            obj["metadata"]["name"] = json!(name);
        }
        let name = name_of(&obj).to_string();
        let causes = registry::validate(res, &obj, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(res, &name, causes));
        }
        if self.contains(res, &ns, &name) {
            return Err(ApiError::already_exists(res, &name));
        }
        let mut changes = vec![Change::Put {
            res,
            obj,
            old: None,
        }];
        if res.plural == "namespaces" && res.group.is_empty() {
            // What the service-account controller does upstream.
            changes.push(Change::Put {
                res: &resources::SERVICE_ACCOUNTS,
                obj: registry::bootstrap::default_service_account(&name),
                old: None,
            });
        }
        let mut done = self.commit(guard, changes)?;
        Ok(done.swap_remove(0))
    }

    /// The name of the default StorageClass, if one is marked so.
    pub fn default_storage_class(&self) -> Option<String> {
        let (classes, _) = self.list(&resources::STORAGE_CLASSES, None);
        classes
            .iter()
            .filter(|c| {
                let a = &c["metadata"]["annotations"];
                a["storageclass.kubernetes.io/is-default-class"] == "true"
                    || a["storageclass.beta.kubernetes.io/is-default-class"] == "true"
            })
            .map(|c| name_of(c).to_string())
            .next()
    }

    fn generate_name(&self, res: &ResourceDef, ns: &str, prefix: &str) -> String {
        loop {
            let name = crate::machinery::names::generate(prefix);
            if !self.contains(res, ns, &name) {
                return name;
            }
        }
    }

    /// Replaces an object (main resource: status changes are ignored where
    /// the resource has a status subresource). When `metadata.resourceVersion`
    /// is set it must match the stored one (optimistic concurrency, 409 Conflict).
    pub fn update(&self, res: &'static ResourceDef, obj: Value) -> Result<Arc<Value>, ApiError> {
        self.update_scoped(res, obj, UpdateScope::Main)
    }

    /// Replaces an object with the given scope.
    pub fn update_scoped(
        &self,
        res: &'static ResourceDef,
        mut obj: Value,
        scope: UpdateScope,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let guard = lock(&self.inner.write_lock);
        let ns = if res.namespaced {
            namespace_of(&obj).to_string()
        } else {
            String::new()
        };
        let name = name_of(&obj).to_string();
        let Some(old) = self.get(res, &ns, &name) else {
            return Err(ApiError::not_found(res, &name));
        };
        let wanted_rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
        if !wanted_rv.is_empty()
            && wanted_rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
        {
            return Err(ApiError::conflict(res, &name));
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let has_status = res.has_subresource("status");
        let new = match scope {
            UpdateScope::Status => {
                let mut n = (*old).clone();
                n["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
                if n["status"].is_null()
                    && let Some(m) = n.as_object_mut()
                {
                    m.remove("status");
                }
                n
            }
            UpdateScope::EphemeralContainers => {
                let mut n = (*old).clone();
                n["spec"]["ephemeralContainers"] = obj["spec"]["ephemeralContainers"].clone();
                n
            }
            UpdateScope::Main if has_status => {
                match old.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(m) = obj.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                obj
            }
            _ => obj,
        };
        let mut new = new;
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        // Fields a client may not change.
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        registry::apply_defaults(res, &mut new);
        registry::prepare(res, &mut new, Some(&old));
        // The kind's own update rules see the subresource's one change as
        // already there (it forbids it through a plain update).
        let old_seen = if scope == UpdateScope::EphemeralContainers {
            let mut o = (*old).clone();
            o["spec"]["ephemeralContainers"] = new["spec"]["ephemeralContainers"].clone();
            Arc::new(o)
        } else {
            Arc::clone(&old)
        };
        let causes = registry::validate(res, &new, Some(&old_seen));
        if !causes.is_empty() {
            return Err(ApiError::invalid(res, &name, causes));
        }
        if has_generation(res) && spec_of(res, &new) != spec_of(res, &old) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(g);
        }
        // Nothing changed: upstream answers without a write.
        let mut cmp = new.clone();
        cmp["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if cmp == *old {
            // The stored version may be another writer's, not yet on disk.
            drop(guard);
            self.wait_durable(rv_of(&old))?;
            return Ok(old);
        }
        // An object being deleted goes once its last finalizer is removed,
        // unless a graceful deletion is still under way (a pod waits for
        // the kubelet); a namespace waits for the namespace controller.
        let terminating = !new["metadata"]["deletionTimestamp"].is_null();
        let no_finalizers = new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        let grace_over = old["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .is_none_or(|g| g == 0);
        let gone = terminating && no_finalizers && grace_over && !is_core(res, "namespaces");
        let changes = vec![Change::replace_or_remove(res, new, old, gone)];
        let mut done = self.commit(guard, changes)?;
        Ok(done.swap_remove(0))
    }

    /// Deletes an object as upstream's registry does.
    ///
    /// - A pod is deleted gracefully: it gets `deletionTimestamp` (now +
    ///   the grace period) and `deletionGracePeriodSeconds`, and stays until
    ///   the kubelet has stopped its containers and deletes it again with a
    ///   grace period of 0. The period is the request's `gracePeriodSeconds`,
    ///   else the pod's `terminationGracePeriodSeconds`; 0 for a pod that is
    ///   not scheduled or already finished (those go at once). A second
    ///   delete may only shorten it.
    /// - An object with finalizers gets `deletionTimestamp` and stays until
    ///   they are removed.
    /// - A namespace turns `Terminating`; the namespace controller deletes
    ///   its content, then the namespace.
    /// - Dependents (by ownerReferences): `Background` (the default) leaves
    ///   them to the garbage collector once the owner is gone; `Foreground`
    ///   keeps the owner with the `foregroundDeletion` finalizer while the
    ///   garbage collector deletes them; `Orphan` removes their
    ///   ownerReferences.
    pub fn delete(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let guard = lock(&self.inner.write_lock);
        let ns = if res.namespaced { ns } else { "" };
        let Some(old) = self.get(res, ns, name) else {
            return Err(ApiError::not_found(res, name));
        };
        if let Some(uid) = &opts.precondition_uid
            && old["metadata"]["uid"].as_str() != Some(uid.as_str())
        {
            return Err(ApiError::conflict_msg(
                res,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old["metadata"]["uid"].as_str().unwrap_or("")
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && old["metadata"]["resourceVersion"].as_str() != Some(rv.as_str())
        {
            return Err(ApiError::conflict_msg(
                res,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    old["metadata"]["resourceVersion"].as_str().unwrap_or("")
                ),
            ));
        }
        let mut changes = Vec::new();
        self.plan_delete(res, &old, opts, &mut changes);
        if changes.is_empty() {
            // A deletion already under way: nothing to write.
            drop(guard);
            self.wait_durable(rv_of(&old))?;
            return Ok(Deleted {
                object: old,
                removed: false,
            });
        }
        let removed = matches!(changes.first(), Some(Change::Remove { .. }));
        let mut done = self.commit(guard, changes)?;
        Ok(Deleted {
            object: done.swap_remove(0),
            removed,
        })
    }

    /// Plans the deletion of one object (first change) and the orphaning
    /// of its dependents; no change when a deletion is already pending.
    fn plan_delete(
        &self,
        res: &'static ResourceDef,
        old: &Arc<Value>,
        opts: &DeleteOptions,
        changes: &mut Vec<Change>,
    ) {
        let is_pod = is_core(res, "pods");
        let is_namespace = is_core(res, "namespaces");
        let mut n = (**old).clone();
        let meta_finalizers: Vec<String> = n["metadata"]["finalizers"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        // Negative periods count as 1s on the delete path.
        let requested = opts.grace_period_seconds.map(|g| if g < 0 { 1 } else { g });
        if !old["metadata"]["deletionTimestamp"].is_null() {
            let current = old["metadata"]["deletionGracePeriodSeconds"].as_i64();
            if is_namespace {
                let spec_empty = old["spec"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty());
                if spec_empty && meta_finalizers.is_empty() {
                    changes.push(Change::Remove {
                        res,
                        old: old.clone(),
                    });
                }
                return;
            }
            match (is_pod, current) {
                (true, Some(cur)) if cur > 0 => {
                    // Only a shorter grace period may be given.
                    let Some(g) = requested.filter(|g| *g < cur) else {
                        return;
                    };
                    let ts = old["metadata"]["deletionTimestamp"]
                        .as_str()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .unwrap_or_else(jiff::Timestamp::now);
                    let ts = ts
                        .checked_sub(jiff::SignedDuration::from_secs(cur - g))
                        .unwrap_or(ts);
                    n["metadata"]["deletionTimestamp"] = json!(rfc3339(ts));
                    n["metadata"]["deletionGracePeriodSeconds"] = json!(g);
                    let gone = g == 0 && meta_finalizers.is_empty();
                    changes.push(Change::replace_or_remove(res, n, old.clone(), gone));
                }
                _ => {
                    if meta_finalizers.is_empty() {
                        changes.push(Change::Remove {
                            res,
                            old: old.clone(),
                        });
                    }
                }
            }
            return;
        }
        // What the garbage collector needs: the orphan and foreground
        // finalizers, as the registry sets them from the propagation policy.
        let propagation = opts.propagation.unwrap_or_default();
        let mut finalizers: Vec<String> = meta_finalizers
            .iter()
            .filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND)
            .cloned()
            .collect();
        if propagation == Propagation::Foreground {
            finalizers.push(FINALIZER_FOREGROUND.to_string());
        }
        if finalizers != meta_finalizers {
            n["metadata"]["finalizers"] = json!(finalizers);
        }
        let now = jiff::Timestamp::now();
        if is_namespace {
            n["metadata"]["deletionTimestamp"] = json!(rfc3339(now));
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            n["status"]["phase"] = json!("Terminating");
            let spec_empty = n["spec"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
            if spec_empty && finalizers.is_empty() {
                changes.push(Change::Remove {
                    res,
                    old: old.clone(),
                });
            } else {
                changes.push(Change::Put {
                    res,
                    obj: n,
                    old: Some(old.clone()),
                });
            }
            return;
        }
        let grace = if is_pod {
            let phase = old["status"]["phase"].as_str().unwrap_or("");
            let scheduled = old["spec"]["nodeName"]
                .as_str()
                .is_some_and(|s| !s.is_empty());
            if !scheduled || phase == "Succeeded" || phase == "Failed" {
                0
            } else {
                requested
                    .or_else(|| old["spec"]["terminationGracePeriodSeconds"].as_i64())
                    .unwrap_or(0)
                    .max(0)
            }
        } else {
            0
        };
        if grace > 0 || !finalizers.is_empty() {
            let at = now
                .checked_add(jiff::SignedDuration::from_secs(grace))
                .unwrap_or(now);
            n["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
            n["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            if grace > 0
                && let Some(g) = n["metadata"]["generation"].as_i64().filter(|g| *g > 0)
            {
                n["metadata"]["generation"] = json!(g + 1);
            }
            changes.push(Change::Put {
                res,
                obj: n,
                old: Some(old.clone()),
            });
        } else {
            changes.push(Change::Remove {
                res,
                old: old.clone(),
            });
        }
        if propagation == Propagation::Orphan {
            self.plan_orphaning(res, old, changes);
        }
    }

    /// Removes the ownerReferences to `owner` from its dependents (what the
    /// garbage collector does for the `orphan` finalizer, done at once).
    fn plan_orphaning(&self, res: &ResourceDef, owner: &Value, changes: &mut Vec<Change>) {
        let Some(uid) = owner["metadata"]["uid"].as_str() else {
            return;
        };
        let ns = namespace_of(owner);
        for r in RESOURCES
            .iter()
            .copied()
            .filter(|r| r.stored() && (r.namespaced || !res.namespaced))
        {
            let scope = if r.namespaced { Some(ns) } else { None };
            let (children, _) = self.list_stored(r, scope);
            for child in children.iter().filter(|c| c.facts.owned) {
                let child = Arc::new(child.value());
                let owned = child["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|o| o["uid"].as_str() == Some(uid)));
                if !owned {
                    continue;
                }
                let mut c = (*child).clone();
                if let Some(refs) = c["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|o| o["uid"].as_str() != Some(uid));
                }
                changes.push(Change::Put {
                    res: r,
                    obj: c,
                    old: Some(child),
                });
            }
        }
    }

    /// Makes changes visible at once (so later writers see them), then
    /// waits until they are durable before returning: one writer at a time
    /// leads a redb transaction that carries every change staged so far
    /// (group commit), commits it with immediate durability and publishes
    /// the events. Nothing is acknowledged, and no watcher or controller
    /// hears of a change, before it is on disk. Takes the write lock's guard
    /// and releases it before waiting, so others can stage meanwhile.
    fn commit(
        &self,
        guard: std::sync::MutexGuard<'_, ()>,
        changes: Vec<Change>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let (out, last_rv) = {
            let mut st = self.write_state();
            let mut rv = st.rv;
            let mut events = Vec::with_capacity(changes.len());
            let mut out = Vec::with_capacity(changes.len());
            for change in changes {
                rv += 1;
                let (kind, res, obj) = match change {
                    Change::Put { res, mut obj, old } => {
                        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
                        let kind = if old.is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        };
                        (kind, res, obj)
                    }
                    Change::Remove { res, old } => {
                        let mut obj = (*old).clone();
                        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
                        (EventType::Deleted, res, obj)
                    }
                };
                let stored = Arc::new(Obj::of(&obj));
                let key = (stored.ns.to_string(), stored.name.to_string());
                let mut old = None;
                if let Some(map) = res_index(res).and_then(|i| st.objects.get_mut(i)) {
                    old = if kind == EventType::Deleted {
                        map.remove(&key)
                    } else {
                        map.insert(key, stored.clone())
                    };
                }
                out.push(Arc::new(obj));
                events.push(Arc::new(Event {
                    kind,
                    resource: res,
                    object: stored,
                    old,
                    rv,
                }));
            }
            st.rv = rv;
            let mut q = lock(&self.inner.queue);
            if let Some(e) = &q.broken {
                return Err(e.clone());
            }
            q.pending.extend(events);
            (out, rv)
        };
        drop(guard);
        self.wait_durable(last_rv)?;
        Ok(out)
    }

    /// Waits until everything up to `rv` is durable, leading commits when
    /// no other writer is.
    fn wait_durable(&self, rv: u64) -> Result<(), ApiError> {
        let mut q = lock(&self.inner.queue);
        loop {
            if let Some(e) = &q.broken {
                return Err(e.clone());
            }
            if q.durable_rv >= rv {
                return Ok(());
            }
            if q.committing {
                q = self
                    .inner
                    .queue_cv
                    .wait(q)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            q.committing = true;
            let batch = std::mem::take(&mut q.pending);
            drop(q);
            let result = self.write_batch(&batch);
            if result.is_ok() {
                let mut st = self.write_state();
                for ev in &batch {
                    if st.ring.len() >= RING_CAPACITY
                        && let Some(dropped) = st.ring.pop_front()
                    {
                        st.ring_start = dropped.rv;
                    }
                    st.ring.push_back(ev.clone());
                    // No receivers is fine.
                    let _ = self.inner.events.send(ev.clone());
                }
            }
            q = lock(&self.inner.queue);
            q.committing = false;
            match result {
                Ok(()) => {
                    if let Some(last) = batch.last() {
                        q.durable_rv = q.durable_rv.max(last.rv);
                    }
                }
                Err(e) => {
                    // Memory is ahead of the disk now: refuse further writes
                    // rather than acknowledge anything that is not durable.
                    q.broken = Some(ApiError::internal(format!(
                        "the sandbox could not save changes to its database ({e}); restart it (kubetutor sandbox) to recover the last saved state"
                    )));
                }
            }
            self.inner.queue_cv.notify_all();
        }
    }

    fn write_batch(&self, batch: &[Arc<Event>]) -> Result<(), redb::Error> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let tx = self.inner.db.begin_write()?;
        {
            let mut table = tx.open_table(OBJECTS)?;
            for ev in batch {
                let obj = &ev.object;
                let key = db_key(ev.resource, &obj.ns, &obj.name);
                if ev.kind == EventType::Deleted {
                    table.remove(key.as_str())?;
                } else {
                    table.insert(key.as_str(), obj.json())?;
                }
            }
            let mut meta = tx.open_table(META)?;
            meta.insert(RV_KEY, last.rv)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// What counts as the spec for the generation: everything but metadata and
/// status (and, for pods, the node the scheduler binds them to, which goes
/// through the binding subresource upstream).
fn spec_of(res: &ResourceDef, v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    if is_core(res, "pods")
        && let Some(spec) = c.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.remove("nodeName");
    }
    c
}

/// The kinds whose registry strategy keeps `metadata.generation` (bumped
/// on spec changes); the others leave it out.
fn has_generation(res: &ResourceDef) -> bool {
    matches!(
        (res.group, res.plural),
        ("", "pods")
            | ("apps", "deployments")
            | ("apps", "replicasets")
            | ("apps", "statefulsets")
            | ("apps", "daemonsets")
            | ("batch", "jobs")
            | ("batch", "cronjobs")
            | ("discovery.k8s.io", "endpointslices")
    )
}

fn is_core(res: &ResourceDef, plural: &str) -> bool {
    res.group.is_empty() && res.plural == plural
}

/// The position of a resource in `RESOURCES` (the index of its map).
fn res_index(res: &ResourceDef) -> Option<usize> {
    RESOURCES
        .iter()
        .copied()
        .position(|r| std::ptr::eq(r, res) || (r.group == res.group && r.plural == res.plural))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    }

    #[test]
    fn create_get_update_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let pods = &resources::PODS;
        let rv_after;
        {
            let s = Store::open(&path).unwrap();
            let created = s.create(pods, pod("a")).unwrap();
            assert!(created["metadata"]["uid"].is_string());
            assert_eq!(
                s.create(pods, pod("a")).unwrap_err().reason,
                "AlreadyExists"
            );
            let mut stale = (*created).clone();
            stale["metadata"]["labels"] = json!({"x": "1"});
            s.update(pods, stale.clone()).unwrap();
            let err = s.update(pods, stale).unwrap_err();
            assert_eq!(err.reason, "Conflict");
            s.create(pods, pod("b")).unwrap();
            s.delete(pods, "default", "b", &DeleteOptions::default())
                .unwrap();
            assert!(s.get(pods, "default", "b").is_none());
            rv_after = s.resource_version();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.resource_version(), rv_after);
        let a = s.get(pods, "default", "a").unwrap();
        assert_eq!(a["metadata"]["labels"]["x"], "1");
        assert!(s.get(pods, "default", "b").is_none());
        assert!(s.watch_from(rv_after - 1).is_err());
        assert!(s.watch_from(rv_after).is_ok());
    }

    #[test]
    fn owners_go_at_once_and_leave_dependents_to_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let rs = &resources::REPLICA_SETS;
        let owner = s
            .create(
                rs,
                json!({"metadata": {"name": "r", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}},
                                      "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            )
            .unwrap();
        let mut p = pod("child");
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "r", "uid": owner["metadata"]["uid"]}]);
        s.create(&resources::PODS, p).unwrap();
        let d = s
            .delete(rs, "default", "r", &DeleteOptions::default())
            .unwrap();
        assert!(d.removed);
        // Background: the dependent stays for the garbage collector.
        assert!(s.get(&resources::PODS, "default", "child").is_some());
    }

    #[test]
    fn finalizers_keep_an_object_until_they_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let mut p = pod("held");
        p["metadata"]["finalizers"] = json!(["example.com/keep"]);
        s.create(&resources::PODS, p).unwrap();
        let d = s
            .delete(
                &resources::PODS,
                "default",
                "held",
                &DeleteOptions::default(),
            )
            .unwrap();
        assert!(!d.removed);
        let held = s.get(&resources::PODS, "default", "held").unwrap();
        assert!(held["metadata"]["deletionTimestamp"].is_string());
        // Not scheduled: no grace period.
        assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
        let mut c = (*held).clone();
        c["metadata"]["finalizers"] = json!([]);
        s.update(&resources::PODS, c).unwrap();
        assert!(s.get(&resources::PODS, "default", "held").is_none());
    }

    #[test]
    fn scheduled_pods_are_deleted_gracefully() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let pods = &resources::PODS;
        let mut p = pod("run");
        p["spec"]["nodeName"] = json!("kubetutor-node");
        s.create(pods, p.clone()).unwrap();
        let before = jiff::Timestamp::now();
        let d = s
            .delete(pods, "default", "run", &DeleteOptions::default())
            .unwrap();
        assert!(!d.removed);
        let o = s.get(pods, "default", "run").unwrap();
        assert_eq!(o["metadata"]["deletionGracePeriodSeconds"], 30);
        let ts: jiff::Timestamp = o["metadata"]["deletionTimestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let ahead = ts.as_second() - before.as_second();
        assert!((29..=31).contains(&ahead), "{ahead}");
        // Deleting again with a longer period changes nothing...
        let again = DeleteOptions {
            grace_period_seconds: Some(60),
            ..DeleteOptions::default()
        };
        let d = s.delete(pods, "default", "run", &again).unwrap();
        assert!(!d.removed);
        assert_eq!(
            s.get(pods, "default", "run").unwrap()["metadata"]["deletionGracePeriodSeconds"],
            30
        );
        // ...a shorter one shortens it, and 0 (the kubelet's) removes it.
        let short = DeleteOptions {
            grace_period_seconds: Some(5),
            ..DeleteOptions::default()
        };
        s.delete(pods, "default", "run", &short).unwrap();
        let o = s.get(pods, "default", "run").unwrap();
        assert_eq!(o["metadata"]["deletionGracePeriodSeconds"], 5);
        let now = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        assert!(s.delete(pods, "default", "run", &now).unwrap().removed);
        assert!(s.get(pods, "default", "run").is_none());

        // The pod's own terminationGracePeriodSeconds; --force --grace-period=0.
        p["metadata"]["name"] = json!("short");
        p["spec"]["terminationGracePeriodSeconds"] = json!(2);
        s.create(pods, p.clone()).unwrap();
        s.delete(pods, "default", "short", &DeleteOptions::default())
            .unwrap();
        let o = s.get(pods, "default", "short").unwrap();
        assert_eq!(o["metadata"]["deletionGracePeriodSeconds"], 2);
        p["metadata"]["name"] = json!("forced");
        s.create(pods, p).unwrap();
        assert!(s.delete(pods, "default", "forced", &now).unwrap().removed);
    }

    #[test]
    fn foreground_and_orphan_propagation() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let cms = &resources::CONFIG_MAPS;
        let owner = s
            .create(
                cms,
                json!({"metadata": {"name": "o", "namespace": "default"}}),
            )
            .unwrap();
        let fg = DeleteOptions {
            propagation: Some(Propagation::Foreground),
            ..DeleteOptions::default()
        };
        let d = s.delete(cms, "default", "o", &fg).unwrap();
        assert!(!d.removed);
        assert_eq!(
            d.object["metadata"]["finalizers"],
            json!(["foregroundDeletion"])
        );
        assert!(d.object["metadata"]["deletionTimestamp"].is_string());

        let owner2 = s
            .create(
                cms,
                json!({"metadata": {"name": "o2", "namespace": "default"}}),
            )
            .unwrap();
        let mut p = pod("dep");
        p["metadata"]["ownerReferences"] = json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o2", "uid": owner2["metadata"]["uid"]},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner["metadata"]["uid"]}]);
        s.create(&resources::PODS, p).unwrap();
        let orphan = DeleteOptions {
            propagation: Some(Propagation::Orphan),
            ..DeleteOptions::default()
        };
        assert!(s.delete(cms, "default", "o2", &orphan).unwrap().removed);
        let dep = s.get(&resources::PODS, "default", "dep").unwrap();
        assert_eq!(dep["metadata"]["ownerReferences"][0]["name"], "o");
        assert_eq!(
            dep["metadata"]["ownerReferences"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn namespace_deletion_marks_it_terminating() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let ns = &resources::NAMESPACES;
        s.create(ns, json!({"metadata": {"name": "t"}})).unwrap();
        assert!(
            s.get(&resources::SERVICE_ACCOUNTS, "t", "default")
                .is_some()
        );
        let d = s.delete(ns, "", "t", &DeleteOptions::default()).unwrap();
        assert!(!d.removed);
        let t = s.get(ns, "", "t").unwrap();
        assert_eq!(t["status"]["phase"], "Terminating");
        // The namespace controller empties it; creating in it is refused.
        let mut p = pod("x");
        p["metadata"]["namespace"] = json!("t");
        let err = s.create(&resources::PODS, p).unwrap_err();
        assert_eq!(err.code, 403);
        // Finalized (spec.finalizers emptied), a delete removes it.
        let mut n = (*t).clone();
        n["spec"]["finalizers"] = json!([]);
        s.update_scoped(ns, n, UpdateScope::All).unwrap();
        assert!(s.get(ns, "", "t").is_some());
        assert!(
            s.delete(ns, "", "t", &DeleteOptions::default())
                .unwrap()
                .removed
        );
    }
}
