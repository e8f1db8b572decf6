//! A snapshot of the course namespace (plus the cluster-scoped storage kinds),
//! kept up to date one watch event at a time.
//!
//! The watchers (`cluster::watch`) and the tests feed it
//! `kube::runtime::watcher::Event`s wrapped in [`ClusterUpdate`]; the pane
//! reads view-model rows from it and the checker evaluates conditions on it.
//! Secrets are held as metadata only: their values never enter this process.

use crate::cluster::connection::ConnectionState;
use crate::cluster::kinds::Kind;
use crate::cluster::printers;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a deleted object stays visible (faded) in the pane.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(3);

/// One object of any kind the cluster pane and the checker look at.
// Boxed so an object costs its own size, not the largest kind's (a
// PersistentVolume is ~3.5 KB), in the store and in channels.
#[derive(Debug, Clone)]
pub enum Object {
    Pod(Box<Pod>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    PersistentVolume(Box<PersistentVolume>),
    StorageClass(Box<StorageClass>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    ConfigMap(Box<ConfigMap>),
    /// Metadata only: secret values are never fetched.
    Secret(Box<PartialObjectMeta<Secret>>),
    Service(Box<Service>),
    Job(Box<Job>),
    StatefulSet(Box<StatefulSet>),
    CronJob(Box<CronJob>),
    Event(Box<CoreEvent>),
    /// Metadata only (the course needs the count).
    Node(Box<PartialObjectMeta<Node>>),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Pod(_) => Kind::Pod,
            Object::PersistentVolumeClaim(_) => Kind::PersistentVolumeClaim,
            Object::PersistentVolume(_) => Kind::PersistentVolume,
            Object::StorageClass(_) => Kind::StorageClass,
            Object::Deployment(_) => Kind::Deployment,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Secret(_) => Kind::Secret,
            Object::Service(_) => Kind::Service,
            Object::Job(_) => Kind::Job,
            Object::StatefulSet(_) => Kind::StatefulSet,
            Object::CronJob(_) => Kind::CronJob,
            Object::Event(_) => Kind::Event,
            Object::Node(_) => Kind::Node,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Pod(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::PersistentVolume(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Event(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
        }
    }

    /// The object as JSON, for field matchers. A secret is metadata only.
    pub fn to_json(&self) -> serde_json::Value {
        let r = match self {
            Object::Pod(o) => serde_json::to_value(o.as_ref()),
            Object::PersistentVolumeClaim(o) => serde_json::to_value(o.as_ref()),
            Object::PersistentVolume(o) => serde_json::to_value(o.as_ref()),
            Object::StorageClass(o) => serde_json::to_value(o.as_ref()),
            Object::Deployment(o) => serde_json::to_value(o.as_ref()),
            Object::ReplicaSet(o) => serde_json::to_value(o.as_ref()),
            Object::ConfigMap(o) => serde_json::to_value(o.as_ref()),
            Object::Secret(o) => serde_json::to_value(&o.metadata)
                .map(|m| serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": m})),
            Object::Service(o) => serde_json::to_value(o.as_ref()),
            Object::Job(o) => serde_json::to_value(o.as_ref()),
            Object::StatefulSet(o) => serde_json::to_value(o.as_ref()),
            Object::CronJob(o) => serde_json::to_value(o.as_ref()),
            Object::Event(o) => serde_json::to_value(o.as_ref()),
            Object::Node(o) => serde_json::to_value(&o.metadata)
                .map(|m| serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": m})),
        };
        r.unwrap_or(serde_json::Value::Null)
    }

    /// Parse one object from YAML (test fixtures, the `doctor` command...).
    /// The `kind:` field picks the type; a Secret keeps its metadata only.
    pub fn from_yaml(yaml: &str) -> Result<Object, String> {
        #[derive(serde::Deserialize)]
        struct Head {
            kind: String,
        }
        let head: Head = serde_saphyr::from_str(yaml)
            .map_err(|e| format!("not a Kubernetes object (no `kind:`?): {e}"))?;
        fn de<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, String> {
            serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
        }
        Ok(match head.kind.as_str() {
            "Pod" => Object::Pod(Box::new(de(yaml)?)),
            "PersistentVolumeClaim" => Object::PersistentVolumeClaim(Box::new(de(yaml)?)),
            "PersistentVolume" => Object::PersistentVolume(Box::new(de(yaml)?)),
            "StorageClass" => Object::StorageClass(Box::new(de(yaml)?)),
            "Deployment" => Object::Deployment(Box::new(de(yaml)?)),
            "ReplicaSet" => Object::ReplicaSet(Box::new(de(yaml)?)),
            "ConfigMap" => Object::ConfigMap(Box::new(de(yaml)?)),
            "Secret" => {
                let s: Secret = de(yaml)?;
                Object::Secret(Box::new(PartialObjectMeta {
                    types: None,
                    metadata: s.metadata,
                    _phantom: std::marker::PhantomData,
                }))
            }
            "Service" => Object::Service(Box::new(de(yaml)?)),
            "Job" => Object::Job(Box::new(de(yaml)?)),
            "StatefulSet" => Object::StatefulSet(Box::new(de(yaml)?)),
            "CronJob" => Object::CronJob(Box::new(de(yaml)?)),
            "Event" => Object::Event(Box::new(de(yaml)?)),
            other => return Err(format!("kind `{other}` is not watched by kubetutor")),
        })
    }
}

/// What the watchers send: a connection change, or one watch event of one
/// kind (the kind is needed for `Init`/`InitDone`, which carry no object).
#[derive(Debug, Clone)]
pub enum ClusterUpdate {
    Connection(ConnectionState),
    Watch(Kind, Event<Object>),
}

/// Identity of an object: namespace ("" when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn of(meta: &ObjectMeta) -> ObjKey {
        ObjKey {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// A recently deleted object, kept so the pane can fade it out.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub kind: Kind,
    pub key: ObjKey,
    pub uid: Option<String>,
    pub deleted_at: Instant,
    /// The last state seen.
    pub last: Arc<Object>,
}

/// The objects of one kind, and the keys seen since a relist began.
#[derive(Debug, Default, Clone)]
struct Store {
    items: BTreeMap<ObjKey, Arc<Object>>,
    relisting: Option<BTreeSet<ObjKey>>,
    /// Whether the first full list arrived (so "none" means none).
    synced: bool,
}

/// The snapshot. Cheap to clone (objects are shared).
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// The course namespace.
    pub namespace: String,
    pub connection: ConnectionState,
    stores: BTreeMap<KindKey, Store>,
    tombstones: VecDeque<Tombstone>,
    /// Bumped on every change, so views rebuild only when needed.
    pub version: u64,
}

/// `Kind` is not `Ord`; stores are keyed by its position in [`ALL_KINDS`].
type KindKey = u8;

/// Every kind the watchers follow.
pub const ALL_KINDS: [Kind; 14] = [
    Kind::Pod,
    Kind::PersistentVolumeClaim,
    Kind::PersistentVolume,
    Kind::StorageClass,
    Kind::Deployment,
    Kind::ReplicaSet,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::Service,
    Kind::Job,
    Kind::StatefulSet,
    Kind::CronJob,
    Kind::Event,
    Kind::Node,
];

fn kind_key(kind: Kind) -> KindKey {
    ALL_KINDS
        .iter()
        .position(|k| *k == kind)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(u8::MAX)
}

/// Which object a change touched, returned by [`ClusterState::apply`] so the
/// checker can tell relevant events from noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Nothing,
    Connection,
    Object {
        kind: Kind,
        key: ObjKey,
    },
    /// A relist finished (many objects may have changed).
    Resync(Kind),
}

impl ClusterState {
    pub fn new(namespace: impl Into<String>) -> ClusterState {
        ClusterState {
            namespace: namespace.into(),
            connection: ConnectionState::Connecting,
            stores: BTreeMap::new(),
            tombstones: VecDeque::new(),
            version: 0,
        }
    }

    /// A snapshot in which every watched kind has had its first (empty)
    /// list, as after the watchers' initial sync of an empty namespace
    /// (tests and fixtures; real snapshots get there from watch events).
    pub fn listed(namespace: impl Into<String>) -> ClusterState {
        let mut s = ClusterState::new(namespace);
        for kind in ALL_KINDS {
            s.stores.entry(kind_key(kind)).or_default().synced = true;
        }
        s
    }

    /// Apply one update, now.
    pub fn apply(&mut self, update: ClusterUpdate) -> Change {
        self.apply_at(update, Instant::now())
    }

    /// Apply one update at a given instant (tests pass their own clock).
    pub fn apply_at(&mut self, update: ClusterUpdate, now: Instant) -> Change {
        self.prune_tombstones(now);
        match update {
            ClusterUpdate::Connection(c) => {
                if self.connection == c {
                    return Change::Nothing;
                }
                self.connection = c;
                self.version += 1;
                Change::Connection
            }
            ClusterUpdate::Watch(kind, ev) => self.apply_event(kind, ev, now),
        }
    }

    fn apply_event(&mut self, kind: Kind, ev: Event<Object>, now: Instant) -> Change {
        let store = self.stores.entry(kind_key(kind)).or_default();
        match ev {
            Event::Init => {
                store.relisting = Some(BTreeSet::new());
                Change::Nothing
            }
            Event::InitApply(obj) | Event::Apply(obj) => {
                if obj.kind() != kind {
                    return Change::Nothing;
                }
                let key = ObjKey::of(obj.meta());
                if let Some(seen) = store.relisting.as_mut() {
                    seen.insert(key.clone());
                }
                let uid = obj.meta().uid.clone();
                store.items.insert(key.clone(), Arc::new(obj));
                // A recreated object (same name) is no longer a ghost.
                self.tombstones
                    .retain(|t| !(t.kind == kind && t.key == key && t.uid != uid));
                self.version += 1;
                Change::Object { kind, key }
            }
            Event::Delete(obj) => {
                let key = ObjKey::of(obj.meta());
                if let Some(seen) = store.relisting.as_mut() {
                    seen.remove(&key);
                }
                let last = store
                    .items
                    .remove(&key)
                    .unwrap_or_else(|| Arc::new(obj.clone()));
                // The delete event carries the final state; prefer it.
                let last = if obj.kind() == kind {
                    Arc::new(obj)
                } else {
                    last
                };
                self.bury(kind, key.clone(), last, now);
                self.version += 1;
                Change::Object { kind, key }
            }
            Event::InitDone => {
                let seen = store.relisting.take().unwrap_or_default();
                store.synced = true;
                // Watchers of namespaced kinds list the course namespace
                // only; objects from elsewhere (events about PVs, recorded
                // in `default`) come from another stream and stay.
                let course_ns = self.namespace.as_str();
                let gone: Vec<ObjKey> = store
                    .items
                    .keys()
                    .filter(|k| {
                        !seen.contains(*k) && (k.namespace.is_empty() || k.namespace == course_ns)
                    })
                    .cloned()
                    .collect();
                let mut removed = Vec::new();
                for k in gone {
                    if let Some(o) = store.items.remove(&k) {
                        removed.push((k, o));
                    }
                }
                for (k, o) in removed {
                    self.bury(kind, k, o, now);
                }
                self.version += 1;
                Change::Resync(kind)
            }
        }
    }

    fn bury(&mut self, kind: Kind, key: ObjKey, last: Arc<Object>, now: Instant) {
        if kind == Kind::Event {
            return;
        }
        self.tombstones.push_back(Tombstone {
            kind,
            key,
            uid: last.meta().uid.clone(),
            deleted_at: now,
            last,
        });
    }

    /// Forget tombstones older than [`TOMBSTONE_TTL`].
    pub fn prune_tombstones(&mut self, now: Instant) {
        while let Some(t) = self.tombstones.front() {
            if now.saturating_duration_since(t.deleted_at) >= TOMBSTONE_TTL {
                self.tombstones.pop_front();
                self.version += 1;
            } else {
                break;
            }
        }
    }

    /// Recently deleted objects of a kind, oldest first, with how faded they
    /// are (0.0 just deleted → 1.0 about to disappear).
    pub fn tombstones(&self, kind: Kind, now: Instant) -> Vec<(&Tombstone, f32)> {
        self.tombstones
            .iter()
            .filter(|t| t.kind == kind)
            .filter_map(|t| {
                let age = now.saturating_duration_since(t.deleted_at);
                (age < TOMBSTONE_TTL).then(|| (t, age.as_secs_f32() / TOMBSTONE_TTL.as_secs_f32()))
            })
            .collect()
    }

    /// The tombstone of one deleted object (any age still kept).
    pub fn tombstone_of(&self, kind: Kind, key: &ObjKey) -> Option<&Tombstone> {
        self.tombstones
            .iter()
            .rev()
            .find(|t| t.kind == kind && &t.key == key)
    }

    /// When the oldest tombstone expires (the pane redraws then).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.tombstones
            .front()
            .map(|t| t.deleted_at + TOMBSTONE_TTL)
    }

    /// Whether the first list of `kind` has arrived.
    pub fn is_synced(&self, kind: Kind) -> bool {
        self.stores.get(&kind_key(kind)).is_some_and(|s| s.synced)
    }

    /// Every object of a kind, in namespace/name order.
    pub fn objects(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.stores
            .get(&kind_key(kind))
            .into_iter()
            .flat_map(|s| s.items.values().map(|o| o.as_ref()))
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Object> {
        let ns = if kind.is_namespaced() { namespace } else { "" };
        self.stores
            .get(&kind_key(kind))
            .and_then(|s| {
                s.items.get(&ObjKey {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })
            })
            .map(|o| o.as_ref())
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.stores
            .get(&kind_key(kind))
            .map_or(0, |s| s.items.len())
    }

    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.objects(Kind::Pod).filter_map(|o| match o {
            Object::Pod(p) => Some(p.as_ref()),
            _ => None,
        })
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        match self.get(Kind::Pod, namespace, name) {
            Some(Object::Pod(p)) => Some(p),
            _ => None,
        }
    }

    pub fn pvcs(&self) -> impl Iterator<Item = &PersistentVolumeClaim> {
        self.objects(Kind::PersistentVolumeClaim)
            .filter_map(|o| match o {
                Object::PersistentVolumeClaim(p) => Some(p.as_ref()),
                _ => None,
            })
    }

    pub fn pvc(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        match self.get(Kind::PersistentVolumeClaim, namespace, name) {
            Some(Object::PersistentVolumeClaim(p)) => Some(p),
            _ => None,
        }
    }

    pub fn pvs(&self) -> impl Iterator<Item = &PersistentVolume> {
        self.objects(Kind::PersistentVolume)
            .filter_map(|o| match o {
                Object::PersistentVolume(p) => Some(p.as_ref()),
                _ => None,
            })
    }

    pub fn pv(&self, name: &str) -> Option<&PersistentVolume> {
        match self.get(Kind::PersistentVolume, "", name) {
            Some(Object::PersistentVolume(p)) => Some(p),
            _ => None,
        }
    }

    pub fn storage_class(&self, name: &str) -> Option<&StorageClass> {
        match self.get(Kind::StorageClass, "", name) {
            Some(Object::StorageClass(s)) => Some(s),
            _ => None,
        }
    }

    /// The default StorageClass (annotation
    /// `storageclass.kubernetes.io/is-default-class: "true"`).
    pub fn default_storage_class(&self) -> Option<&StorageClass> {
        self.objects(Kind::StorageClass).find_map(|o| match o {
            Object::StorageClass(s)
                if s.metadata.annotations.as_ref().is_some_and(|a| {
                    a.get("storageclass.kubernetes.io/is-default-class")
                        .is_some_and(|v| v == "true")
                }) =>
            {
                Some(s.as_ref())
            }
            _ => None,
        })
    }

    /// Events about one object (by uid when known, else by kind and name),
    /// newest last.
    pub fn events_for(&self, kind: Kind, meta: &ObjectMeta) -> Vec<&CoreEvent> {
        let mut out: Vec<&CoreEvent> = self
            .objects(Kind::Event)
            .filter_map(|o| match o {
                Object::Event(e) => Some(e.as_ref()),
                _ => None,
            })
            .filter(|e| {
                let io = &e.involved_object;
                match (&io.uid, &meta.uid) {
                    (Some(a), Some(b)) if !a.is_empty() => a == b,
                    _ => {
                        io.kind.as_deref() == Some(&kind.to_string())
                            && io.name == meta.name
                            && io.namespace.as_deref().unwrap_or("")
                                == meta.namespace.as_deref().unwrap_or("")
                    }
                }
            })
            .collect();
        out.sort_by_key(|e| event_time(e));
        out
    }

    /// Pod rows for the pane, in name order.
    pub fn pod_rows(&self, now: jiff::Timestamp) -> Vec<printers::PodRow> {
        self.pods().map(|p| printers::pod_row(p, now)).collect()
    }

    /// Only the pod rows on screen (`offset..offset+len` in name order), so
    /// thousands of pods cost only what is visible.
    pub fn pod_rows_window(
        &self,
        offset: usize,
        len: usize,
        now: jiff::Timestamp,
    ) -> Vec<printers::PodRow> {
        self.pods()
            .skip(offset)
            .take(len)
            .map(|p| printers::pod_row(p, now))
            .collect()
    }

    /// Rows of recently deleted pods, with how faded each is (0 → 1).
    pub fn ghost_pod_rows(
        &self,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> Vec<(printers::PodRow, f32)> {
        self.tombstones(Kind::Pod, now)
            .into_iter()
            .filter_map(|(t, fade)| match t.last.as_ref() {
                Object::Pod(p) => Some((printers::pod_row(p, wall), fade)),
                _ => None,
            })
            .collect()
    }

    /// Rows of recently deleted PVCs, with how faded each is.
    pub fn ghost_pvc_rows(
        &self,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> Vec<(printers::PvcRow, f32)> {
        self.tombstones(Kind::PersistentVolumeClaim, now)
            .into_iter()
            .filter_map(|(t, fade)| match t.last.as_ref() {
                Object::PersistentVolumeClaim(p) => Some((printers::pvc_row(p, wall), fade)),
                _ => None,
            })
            .collect()
    }

    /// Rows of recently deleted PVs, with how faded each is.
    pub fn ghost_pv_rows(
        &self,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> Vec<(printers::PvRow, f32)> {
        self.tombstones(Kind::PersistentVolume, now)
            .into_iter()
            .filter_map(|(t, fade)| match t.last.as_ref() {
                Object::PersistentVolume(p) => Some((printers::pv_row(p, wall), fade)),
                _ => None,
            })
            .collect()
    }

    pub fn pvc_rows(&self, now: jiff::Timestamp) -> Vec<printers::PvcRow> {
        self.pvcs().map(|p| printers::pvc_row(p, now)).collect()
    }

    pub fn pv_rows(&self, now: jiff::Timestamp) -> Vec<printers::PvRow> {
        self.pvs().map(|p| printers::pv_row(p, now)).collect()
    }
}

/// When an event last happened (for sorting).
pub fn event_time(e: &CoreEvent) -> i64 {
    e.last_timestamp
        .as_ref()
        .or(e.first_timestamp.as_ref())
        .map(|t| t.0.as_second())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_second()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
        })
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parse a YAML fixture into an object.
    pub fn obj(yaml: &str) -> Object {
        Object::from_yaml(yaml).unwrap()
    }

    pub fn apply(state: &mut ClusterState, yaml: &str) -> Change {
        let o = obj(yaml);
        let k = o.kind();
        state.apply(ClusterUpdate::Watch(k, Event::Apply(o)))
    }

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: kubetutor, uid: u1}
spec: {containers: [{name: c, image: nginx}]}
status: {phase: Running}
";

    #[test]
    fn apply_delete_and_tombstones() {
        let mut s = ClusterState::new("kubetutor");
        let t0 = Instant::now();
        let o = obj(POD);
        assert!(matches!(
            s.apply_at(ClusterUpdate::Watch(Kind::Pod, Event::Apply(o.clone())), t0),
            Change::Object { .. }
        ));
        assert!(s.pod("kubetutor", "web").is_some());
        s.apply_at(ClusterUpdate::Watch(Kind::Pod, Event::Delete(o)), t0);
        assert!(s.pod("kubetutor", "web").is_none());
        let ghosts = s.tombstones(Kind::Pod, t0 + Duration::from_secs(1));
        assert_eq!(ghosts.len(), 1);
        let rows = s.ghost_pod_rows(t0, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(rows[0].0.name, "web");
        assert!(ghosts[0].1 > 0.3 && ghosts[0].1 < 0.4);
        assert_eq!(s.next_expiry(), Some(t0 + TOMBSTONE_TTL));
        s.prune_tombstones(t0 + Duration::from_secs(3));
        assert!(s.tombstones(Kind::Pod, t0).is_empty());
    }

    #[test]
    fn relist_removes_missing_objects() {
        let mut s = ClusterState::new("kubetutor");
        let t0 = Instant::now();
        apply(&mut s, POD);
        assert!(!s.is_synced(Kind::Pod));
        let other = obj(&POD.replace("name: web", "name: api").replace("u1", "u2"));
        for ev in [Event::Init, Event::InitApply(other), Event::InitDone] {
            s.apply_at(ClusterUpdate::Watch(Kind::Pod, ev), t0);
        }
        assert!(s.is_synced(Kind::Pod));
        assert!(s.pod("kubetutor", "web").is_none());
        // Events about PVs live in `default` and come from another stream:
        // a relist of the course namespace's events keeps them.
        apply(
            &mut s,
            "apiVersion: v1\nkind: Event\nmetadata: {name: pv-ev, namespace: default}\ninvolvedObject: {kind: PersistentVolume, name: pv-1}\n",
        );
        for ev in [Event::Init, Event::InitDone] {
            s.apply_at(ClusterUpdate::Watch(Kind::Event, ev), t0);
        }
        assert_eq!(s.count(Kind::Event), 1);
        let now = jiff::Timestamp::UNIX_EPOCH;
        assert_eq!(s.pod_rows_window(0, 10, now).len(), 1);
        assert!(s.pod_rows_window(1, 10, now).is_empty());
        assert!(s.pod("kubetutor", "api").is_some());
        assert_eq!(s.tombstones(Kind::Pod, t0).len(), 1);
    }

    #[test]
    fn secrets_hold_metadata_only() {
        let o = obj(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: kubetutor}\ndata: {password: aHVudGVyMg==}\n",
        );
        let json = o.to_json().to_string();
        assert!(json.contains("\"db\""));
        assert!(!json.contains("aHVudGVyMg"), "{json}");
    }

    #[test]
    fn wrong_kind_and_bad_yaml_do_not_panic() {
        let mut s = ClusterState::new("kubetutor");
        let o = obj(POD);
        assert_eq!(
            s.apply(ClusterUpdate::Watch(Kind::Service, Event::Apply(o))),
            Change::Nothing
        );
        assert!(Object::from_yaml("kind: Banana\n").is_err());
        assert!(Object::from_yaml(": :").is_err());
    }
}
