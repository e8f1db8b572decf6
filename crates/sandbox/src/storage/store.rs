//! The object store: every object as JSON, keyed by (resource, namespace,
//! name), behind one monotonically increasing resourceVersion counter —
//! what etcd is to kube-apiserver. Objects are kept in memory as their
//! JSON bytes ([`Obj`]), parsed by whoever reads them.
//!
//! Each write is one redb write transaction committed with immediate
//! durability *before* the write is acknowledged or visible to watchers,
//! so `kill -9` at any moment loses no acknowledged write. Reads are served
//! from an in-memory index; changes go out through the [`feed`](super::feed).
//!
//! It knows versions and preconditions, nothing of kinds: writes are
//! compare-and-swap on the version the caller read ([`Store::update`],
//! [`Store::remove`]), the registry above re-reads and retries when
//! another writer came first ([`StoreError::Changed`]), as upstream's
//! `GuaranteedUpdate` does. Every write has a dry-run form that checks
//! the same things and persists nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde_json::{Value, json};

use crate::machinery::meta::{lock, name_of, namespace_of, rv_of};
use crate::machinery::resources::{self, RESOURCES, ResourceDef};
use crate::machinery::status::ApiError;
pub(crate) use crate::machinery::stored::Obj;
use crate::storage::feed::{Event, EventType, Feed, Subscription};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// redb's page cache.
const REDB_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// The largest object stored: etcd's default `--max-request-bytes`
/// (1.5 MiB), which is what bounds an object in a real cluster.
pub(crate) const MAX_OBJECT_BYTES: usize = 1_572_864;

/// What a write requires of the stored object besides its version
/// (upstream's `storage.Preconditions`, from DeleteOptions and patches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// Why a write did not happen.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// No object under that key.
    NotFound,
    /// An object is already stored under that key.
    Exists,
    /// The stored object is no longer the version the write was based
    /// on: read it again and retry.
    Changed,
    /// A precondition failed; upstream's storage error text, which the
    /// registry answers as a 409 Conflict.
    Precondition(String),
    /// Anything else (an object too large, the database failing).
    Failed(ApiError),
}

/// Why the store could not open its database.
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the database.
    InUse,
    /// The file is not a database this sandbox can read.
    Damaged(String),
    /// Anything else (permissions, a full disk...).
    Other(anyhow::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::InUse => write!(f, "the database is in use by another process"),
            OpenError::Damaged(why) => write!(f, "the database is damaged: {why}"),
            OpenError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<redb::DatabaseError> for OpenError {
    fn from(e: redb::DatabaseError) -> OpenError {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse,
            redb::DatabaseError::Storage(redb::StorageError::Io(io))
                if io.kind() != std::io::ErrorKind::InvalidData
                    && io.kind() != std::io::ErrorKind::UnexpectedEof =>
            {
                OpenError::Other(io.into())
            }
            other => OpenError::Damaged(other.to_string()),
        }
    }
}

impl From<redb::Error> for OpenError {
    fn from(e: redb::Error) -> OpenError {
        match e {
            redb::Error::DatabaseAlreadyOpen => OpenError::InUse,
            redb::Error::Io(io)
                if io.kind() != std::io::ErrorKind::InvalidData
                    && io.kind() != std::io::ErrorKind::UnexpectedEof =>
            {
                OpenError::Other(io.into())
            }
            other => OpenError::Damaged(other.to_string()),
        }
    }
}

macro_rules! open_err_from {
    ($($t:ty),*) => {$(
        impl From<$t> for OpenError {
            fn from(e: $t) -> OpenError {
                OpenError::from(redb::Error::from(e))
            }
        }
    )*};
}
open_err_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

type ObjKey = (String, String);

struct State {
    rv: u64,
    /// Indexed like `RESOURCES`.
    objects: Vec<BTreeMap<ObjKey, Arc<Obj>>>,
}

struct Inner {
    db: redb::Database,
    /// Serialises writers while they check and stage a change.
    write_lock: Mutex<()>,
    /// Staged changes waiting for the group commit.
    queue: Mutex<CommitQueue>,
    queue_cv: std::sync::Condvar,
    state: RwLock<State>,
    feed: Arc<Feed>,
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

/// A change checked under the write lock, committed in one transaction.
enum Change {
    Put {
        res: &'static ResourceDef,
        obj: Value,
        old: Option<Arc<Obj>>,
    },
    Remove {
        res: &'static ResourceDef,
        old: Arc<Obj>,
    },
}

fn db_key(res: &ResourceDef, ns: &str, name: &str) -> String {
    format!("{}/{ns}/{name}", res.qualified())
}

/// The key upstream's messages name (`/registry/pods/default/x`).
fn registry_key(res: &ResourceDef, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("/registry/{}/{name}", res.plural)
    } else {
        format!("/registry/{}/{ns}/{name}", res.plural)
    }
}

/// The error etcd answers for a value over its request limit; upstream
/// passes it through as a plain error (500, no reason).
fn too_large() -> ApiError {
    ApiError::new(500, "", "etcdserver: request is too large")
}

impl Store {
    /// Opens (or creates) the store in `path`, loading every object into memory.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        // Reads are served from memory: redb's page cache only speeds up
        // writes, so a small one is enough (its default grows to 1 GiB).
        let db = redb::Builder::new()
            .set_cache_size(REDB_CACHE_BYTES)
            .create(path)?;
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
                    Err(e) => {
                        tracing::warn!("skipping the unreadable stored object {key}: {e}");
                        continue;
                    }
                };
                rv = rv.max(rv_of(&obj));
                if let Some(map) = res_index(res).and_then(|i| objects.get_mut(i)) {
                    let stored = Obj::from_parts(&obj, v.value().to_vec());
                    map.insert((ns.to_string(), name.to_string()), Arc::new(stored));
                }
            }
        }
        let closing = tokio_util::sync::CancellationToken::new();
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                write_lock: Mutex::new(()),
                queue: Mutex::new(CommitQueue {
                    durable_rv: rv,
                    ..CommitQueue::default()
                }),
                queue_cv: std::sync::Condvar::new(),
                state: RwLock::new(State { rv, objects }),
                feed: Arc::new(Feed::new(rv, closing.clone())),
                closing,
            }),
        })
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
    /// events), filter [`Store::list_stored`] on [`Facts`](crate::machinery::stored::Facts) first.
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

    /// A reader of every future change (for in-process controllers).
    pub fn subscribe(&self) -> Subscription {
        Subscription::at_least(&self.inner.feed, self.resource_version())
    }

    /// A reader of the changes after `rv`. Err(oldest) when `rv` is older
    /// than what the feed keeps (answer 410 Gone).
    pub fn watch_from(&self, rv: u64) -> Result<Subscription, u64> {
        Subscription::after(&self.inner.feed, rv)
    }

    /// A snapshot of a resource plus a reader of the changes after it.
    pub fn list_and_subscribe(
        &self,
        res: &ResourceDef,
        ns: Option<&str>,
    ) -> (Vec<Arc<Obj>>, u64, Subscription) {
        let (items, rv) = self.list_stored(res, ns);
        (items, rv, self.subscribe_at(rv))
    }

    fn subscribe_at(&self, rv: u64) -> Subscription {
        Subscription::at_least(&self.inner.feed, rv)
    }

    /// How many bytes of object versions the change feed holds now.
    pub fn feed_bytes(&self) -> usize {
        self.inner.feed.bytes()
    }

    /// Stores a new object under its key (`metadata.namespace` for
    /// namespaced resources, `metadata.name`), assigning its
    /// resourceVersion. A dry run checks the key is free and answers the
    /// object as it is (no resourceVersion: none was assigned).
    pub fn create(
        &self,
        res: &'static ResourceDef,
        obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, StoreError> {
        let guard = lock(&self.inner.write_lock);
        let ns = if res.namespaced {
            namespace_of(&obj)
        } else {
            ""
        };
        if self.contains(res, ns, name_of(&obj)) {
            return Err(StoreError::Exists);
        }
        if dry_run {
            return Ok(Arc::new(obj));
        }
        self.commit(
            guard,
            Change::Put {
                res,
                obj,
                old: None,
            },
        )
    }

    /// Replaces the object stored under `obj`'s key, if it is still the
    /// version `based_on` (the resourceVersion the caller read) and meets
    /// `pre`. Writing what is already stored changes nothing (no new
    /// resourceVersion, no event), as upstream skips such writes. A dry
    /// run answers the object with the stored resourceVersion.
    pub fn update(
        &self,
        res: &'static ResourceDef,
        mut obj: Value,
        based_on: u64,
        pre: &Preconditions,
        dry_run: bool,
    ) -> Result<Arc<Value>, StoreError> {
        let guard = lock(&self.inner.write_lock);
        let ns = if res.namespaced {
            namespace_of(&obj).to_string()
        } else {
            String::new()
        };
        let name = name_of(&obj).to_string();
        let Some(old) = self.get_stored(res, &ns, &name) else {
            return Err(StoreError::NotFound);
        };
        let current = old.value();
        if rv_of(&current) != based_on {
            return Err(StoreError::Changed);
        }
        check_preconditions(res, &ns, &name, &current, pre)?;
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        if dry_run {
            return Ok(Arc::new(obj));
        }
        if obj == current {
            // The stored version may be another writer's, not yet on disk.
            drop(guard);
            self.wait_durable(based_on)?;
            return Ok(Arc::new(current));
        }
        self.commit(
            guard,
            Change::Put {
                res,
                obj,
                old: Some(old),
            },
        )
    }

    /// Removes an object, if it is still the version `based_on` (when
    /// given) and meets `pre`; answers its last state, with the deletion's
    /// resourceVersion. A dry run answers it as stored.
    pub fn remove(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        based_on: Option<u64>,
        pre: &Preconditions,
        dry_run: bool,
    ) -> Result<Arc<Value>, StoreError> {
        let guard = lock(&self.inner.write_lock);
        let ns = if res.namespaced { ns } else { "" };
        let Some(old) = self.get_stored(res, ns, name) else {
            return Err(StoreError::NotFound);
        };
        let current = old.value();
        if based_on.is_some_and(|rv| rv != rv_of(&current)) {
            return Err(StoreError::Changed);
        }
        check_preconditions(res, ns, name, &current, pre)?;
        if dry_run {
            return Ok(Arc::new(current));
        }
        self.commit(guard, Change::Remove { res, old })
    }

    /// Makes a change visible at once (so later writers see it), then
    /// waits until it is durable before returning: one writer at a time
    /// leads a redb transaction that carries every change staged so far
    /// (group commit), commits it with immediate durability and publishes
    /// the events. Nothing is acknowledged, and no watcher or controller
    /// hears of a change, before it is on disk. Takes the write lock's guard
    /// and releases it before waiting, so others can stage meanwhile.
    fn commit(
        &self,
        guard: std::sync::MutexGuard<'_, ()>,
        change: Change,
    ) -> Result<Arc<Value>, StoreError> {
        let (out, rv) = {
            let mut st = self.write_state();
            let rv = st.rv + 1;
            let (kind, res, mut obj, old) = match change {
                Change::Put { res, obj, old } => {
                    let kind = if old.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (kind, res, obj, old)
                }
                Change::Remove { res, old } => (EventType::Deleted, res, old.value(), Some(old)),
            };
            obj["metadata"]["resourceVersion"] = json!(rv.to_string());
            let json = serde_json::to_vec(&obj).unwrap_or_default();
            if json.len() > MAX_OBJECT_BYTES && kind != EventType::Deleted {
                return Err(StoreError::Failed(too_large()));
            }
            let stored = Arc::new(Obj::from_parts(&obj, json));
            let key = (stored.ns.to_string(), stored.name.to_string());
            if let Some(map) = res_index(res).and_then(|i| st.objects.get_mut(i)) {
                if kind == EventType::Deleted {
                    map.remove(&key);
                } else {
                    map.insert(key, stored.clone());
                }
            }
            st.rv = rv;
            let mut q = lock(&self.inner.queue);
            if let Some(e) = &q.broken {
                return Err(StoreError::Failed(e.clone()));
            }
            q.pending.push(Arc::new(Event {
                kind,
                resource: res,
                object: stored,
                old,
                rv,
            }));
            (Arc::new(obj), rv)
        };
        drop(guard);
        self.wait_durable(rv)?;
        Ok(out)
    }

    /// Waits until everything up to `rv` is durable, leading commits when
    /// no other writer is.
    fn wait_durable(&self, rv: u64) -> Result<(), StoreError> {
        let mut q = lock(&self.inner.queue);
        loop {
            if let Some(e) = &q.broken {
                return Err(StoreError::Failed(e.clone()));
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
                self.inner.feed.publish(&batch);
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

/// Upstream's `storage.Preconditions.Check`, worded as its storage error.
fn check_preconditions(
    res: &ResourceDef,
    ns: &str,
    name: &str,
    current: &Value,
    pre: &Preconditions,
) -> Result<(), StoreError> {
    let failed = |what: String| {
        StoreError::Precondition(format!(
            "StorageError: invalid object, Code: 4, Key: {}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {what}",
            registry_key(res, ns, name)
        ))
    };
    let meta = &current["metadata"];
    if let Some(uid) = &pre.uid
        && meta["uid"].as_str() != Some(uid.as_str())
    {
        return Err(failed(format!(
            "UID in precondition: {uid}, UID in object meta: {}",
            meta["uid"].as_str().unwrap_or("")
        )));
    }
    if let Some(rv) = &pre.resource_version
        && meta["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(failed(format!(
            "ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
            meta["resourceVersion"].as_str().unwrap_or("")
        )));
    }
    Ok(())
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

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "default"}, "data": {"k": "v"}})
    }

    #[test]
    fn versions_compare_and_swap_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let cms = &resources::CONFIG_MAPS;
        let none = Preconditions::default();
        let rv_after;
        {
            let s = Store::open(&path).unwrap();
            let a = s.create(cms, cm("a"), false).unwrap();
            assert!(matches!(
                s.create(cms, cm("a"), false),
                Err(StoreError::Exists)
            ));
            let rv = rv_of(&a);
            let mut b = (*a).clone();
            b["data"]["k"] = json!("w");
            // A dry run changes nothing and keeps the version.
            let dry = s.update(cms, b.clone(), rv, &none, true).unwrap();
            assert_eq!(rv_of(&dry), rv);
            assert_eq!(s.resource_version(), rv);
            let b2 = s.update(cms, b.clone(), rv, &none, false).unwrap();
            assert_eq!(rv_of(&b2), rv + 1);
            // Based on a version that is gone: the caller must re-read.
            assert!(matches!(
                s.update(cms, b.clone(), rv, &none, false),
                Err(StoreError::Changed)
            ));
            // The same bytes again: no new version.
            let same = s.update(cms, (*b2).clone(), rv + 1, &none, false).unwrap();
            assert_eq!(rv_of(&same), rv + 1);
            let wrong_uid = Preconditions {
                uid: Some("nope".into()),
                ..Preconditions::default()
            };
            match s.remove(cms, "default", "a", None, &wrong_uid, false) {
                Err(StoreError::Precondition(m)) => assert!(
                    m.contains("Key: /registry/configmaps/default/a")
                        && m.contains("UID in precondition: nope"),
                    "{m}"
                ),
                other => panic!("{other:?}"),
            }
            s.create(cms, cm("b"), false).unwrap();
            s.remove(cms, "default", "b", None, &none, true).unwrap();
            assert!(s.contains(cms, "default", "b"));
            s.remove(cms, "default", "b", None, &none, false).unwrap();
            assert!(!s.contains(cms, "default", "b"));
            rv_after = s.resource_version();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.resource_version(), rv_after);
        assert_eq!(s.get(cms, "default", "a").unwrap()["data"]["k"], "w");
        assert!(s.get(cms, "default", "b").is_none());
        assert!(s.watch_from(rv_after - 1).is_err());
        assert!(s.watch_from(rv_after).is_ok());
    }

    #[test]
    fn objects_over_the_etcd_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        let mut big = cm("big");
        big["data"]["k"] = json!("x".repeat(MAX_OBJECT_BYTES));
        match s.create(&resources::CONFIG_MAPS, big, false) {
            Err(StoreError::Failed(e)) => {
                assert_eq!(
                    (e.code, e.message.as_str()),
                    (500, "etcdserver: request is too large")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.resource_version(), 0);
    }

    #[test]
    fn a_damaged_file_is_reported_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
        match Store::open(&path) {
            Err(OpenError::Damaged(_)) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened garbage"),
        }
    }
}
