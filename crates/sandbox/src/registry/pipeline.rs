//! The request pipeline every kind shares (upstream's generic registry
//! store and the handlers' admission and field-manager steps), used by
//! the API server and by the in-process controllers alike.
//!
//! Create: defaults → field managers → mutating admission → prepare
//! (system fields, status reset, generation, `generateName`) → validation
//! → validating admission → storage (or, for a dry run, storage's checks
//! only). Update: the same on the object an [`Updater`] makes from the
//! stored one, with update validation, retried when another writer came
//! first. Delete: admission, then graceful deletion and finalizers
//! ([`deletion`](super::deletion)), orphaning dependents when asked.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::{is_terminating, name_of, namespace_of, now_rfc3339, rv_of};
use crate::machinery::resources::{self, RESOURCES, ResourceDef};
use crate::machinery::status::{ApiError, Cause};
use crate::registry::admission::{self, Attributes, Operation};
use crate::registry::deletion::{self, DeleteOptions, Plan, Propagation};
use crate::registry::managedfields;
use crate::registry::{Strategy, strategy};
use crate::storage::Store;
use crate::storage::store::{Preconditions, StoreError};

/// How often an update is retried when another writer changed the object
/// between the read and the write (upstream retries until it wins; a
/// bound keeps a pathological writer from spinning a thread).
const MAX_ATTEMPTS: usize = 16;
/// How often `generateName` draws a new name after a collision
/// (upstream's RetryGenerateName).
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource: status changes are ignored where a status
    /// subresource exists.
    Main,
    /// The status subresource: only `.status` changes.
    Status,
    /// Everything (in-process controllers, which own what they write).
    All,
    /// The pods' `ephemeralcontainers` subresource (what `kubectl debug`
    /// writes): only `spec.ephemeralContainers` changes.
    EphemeralContainers,
}

impl Scope {
    /// The subresource's name in a URL and in `managedFields` ("" for the
    /// main resource).
    pub fn subresource(self) -> &'static str {
        match self {
            Scope::Main | Scope::All => "",
            Scope::Status => "status",
            Scope::EphemeralContainers => "ephemeralcontainers",
        }
    }
}

/// What every write carries besides the object (upstream's
/// CreateOptions, UpdateOptions and PatchOptions, resolved).
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `dryRun: [All]`: the whole pipeline runs, nothing is stored.
    pub dry_run: bool,
    /// The field manager the write is recorded under.
    pub manager: String,
    pub scope: Scope,
}

impl WriteOptions {
    /// A write by an in-process component (`kube-controller-manager`,
    /// `kubelet`...), which owns the whole object it writes.
    pub fn component(manager: &str) -> WriteOptions {
        WriteOptions {
            dry_run: false,
            manager: manager.to_string(),
            scope: Scope::All,
        }
    }
}

/// Makes the new version of an object from the stored one (None: there
/// is none): a PUT's body, a patched copy, an applied configuration.
pub type Updater<'a> = &'a dyn Fn(Option<&Value>) -> Result<Value, ApiError>;

/// What an update did.
#[derive(Debug)]
pub struct Updated {
    pub object: Arc<Value>,
    /// The object did not exist and was created (create-on-update).
    pub created: bool,
}

/// Whether the pipeline records the write's fields (an update) or they
/// were already (an apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fields {
    Track,
    Applied,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The last state of the object (marked as being deleted when it stays).
    pub object: Arc<Value>,
    /// True when the object is gone; false when it lingers (graceful
    /// deletion, finalizers).
    pub removed: bool,
}

/// The registry: the pipeline over the store; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
}

/// The namespace key of an object of `res` (cluster-scoped: none).
fn ns_key<'a>(res: &ResourceDef, obj: &'a Value) -> &'a str {
    if res.namespaced {
        namespace_of(obj)
    } else {
        ""
    }
}

/// An object as the pipeline handles it: a JSON object with its
/// resource's apiVersion and kind and a metadata map (cluster-scoped
/// kinds carry no namespace).
fn normalize(res: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !res.namespaced
        && let Some(m) = obj["metadata"].as_object_mut()
    {
        m.remove("namespace");
    }
    Ok(())
}

/// Removes `key` from a JSON object.
fn remove_key(v: &mut Value, key: &str) {
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
}

/// The generic part of PrepareForCreate (`rest.BeforeCreate` and
/// `FillObjectMetaSystemFields`), then the kind's own.
fn prepare_for_create(res: &ResourceDef, s: &dyn Strategy, obj: &mut Value) {
    let meta = &mut obj["metadata"];
    for k in [
        "uid",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generation",
    ] {
        remove_key(meta, k);
    }
    meta["creationTimestamp"] = json!(now_rfc3339());
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    if s.has_generation() {
        meta["generation"] = json!(1);
    }
    if res.has_subresource("status") && !s.keeps_status_on_create() {
        // Upstream ignores the status a client sends on create.
        remove_key(obj, "status");
    }
    s.prepare_for_create(obj);
}

/// The generic part of PrepareForUpdate (`rest.BeforeUpdate`, the status
/// subresource's split), then the kind's own.
fn prepare_for_update(
    res: &ResourceDef,
    s: &dyn Strategy,
    scope: Scope,
    new: &mut Value,
    old: &Value,
) {
    let has_status = res.has_subresource("status");
    match scope {
        Scope::Status | Scope::EphemeralContainers => {
            // Only the subresource's part (and who manages it) changes
            // (upstream's status strategies and
            // `dropNonEphemeralContainerUpdates`).
            let mut n = old.clone();
            let (parent, key) = match scope {
                Scope::Status => (None, "status"),
                _ => (Some("spec"), "ephemeralContainers"),
            };
            let (from, to) = match parent {
                Some(p) => (&new[p], &mut n[p]),
                None => (&*new, &mut n),
            };
            match from.get(key) {
                Some(v) if !v.is_null() => to[key] = v.clone(),
                _ => remove_key(to, key),
            }
            n["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
            if n["metadata"]["managedFields"].is_null() {
                remove_key(&mut n["metadata"], "managedFields");
            }
            n["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
            *new = n;
        }
        Scope::Main if has_status => match old.get("status") {
            Some(st) => new["status"] = st.clone(),
            None => remove_key(new, "status"),
        },
        _ => {}
    }
    let (meta, old_meta) = (&mut new["metadata"], &old["metadata"]);
    // Requests cannot set these; a missing uid means "the same one".
    for k in ["generation", "creationTimestamp", "deletionTimestamp"] {
        match old_meta.get(k) {
            Some(v) => meta[k] = v.clone(),
            None => remove_key(meta, k),
        }
    }
    if meta["uid"].as_str().is_none_or(str::is_empty) {
        meta["uid"] = old_meta["uid"].clone();
    }
    if meta["deletionGracePeriodSeconds"].is_null() {
        match old_meta.get("deletionGracePeriodSeconds") {
            Some(v) => meta["deletionGracePeriodSeconds"] = v.clone(),
            None => remove_key(meta, "deletionGracePeriodSeconds"),
        }
    }
    if s.has_generation() && s.generation_spec(new) != s.generation_spec(old) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(g);
    }
    s.prepare_for_update(new, old);
}

/// What an update may not change in metadata (`ValidateObjectMetaUpdate`).
fn validate_meta_update(new: &Value, old: &Value, out: &mut Vec<Cause>) {
    for k in ["name", "namespace", "uid"] {
        let (n, o) = (&new["metadata"][k], &old["metadata"][k]);
        if n != o && !(o.is_null() && n.as_str() == Some("")) {
            out.push(Cause::invalid(
                format!("metadata.{k}"),
                n,
                "field is immutable",
            ));
        }
    }
}

impl Registry {
    pub fn new(store: Store) -> Registry {
        Registry { store }
    }

    /// A registry over a fresh store in `path`, with the objects every
    /// cluster has.
    #[cfg(test)]
    pub fn for_test(path: &std::path::Path) -> Registry {
        let r = Registry::new(Store::open(path).unwrap());
        r.bootstrap().unwrap();
        r
    }

    /// The store underneath, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn attrs<'a>(
        &'a self,
        op: Operation,
        res: &'static ResourceDef,
        scope: Scope,
        ns: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            op,
            res,
            scope,
            ns,
            name,
            store: &self.store,
        }
    }

    /// Creates the objects every cluster has (namespaces, the node, the
    /// `kubernetes` Service, storage classes) when they are missing.
    pub fn bootstrap(&self) -> anyhow::Result<()> {
        for obj in super::bootstrap::bootstrap_objects() {
            let group = obj["apiVersion"]
                .as_str()
                .and_then(|a| a.rsplit_once('/').map(|(g, _)| g))
                .unwrap_or("");
            let Some(res) = resources::find_kind(group, obj["kind"].as_str().unwrap_or("")) else {
                continue;
            };
            if self.store.contains(res, ns_key(res, &obj), name_of(&obj)) {
                continue;
            }
            match self.create(res, obj, &WriteOptions::component("kube-apiserver")) {
                Ok(_) | Err(ApiError { code: 409, .. }) => {}
                Err(e) => anyhow::bail!("cannot create the sandbox's initial objects: {e}"),
            }
        }
        Ok(())
    }

    /// Creates an object (its namespace from `metadata.namespace`).
    pub fn create(
        &self,
        res: &'static ResourceDef,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        self.create_with(res, obj, opts, Fields::Track)
    }

    fn create_with(
        &self,
        res: &'static ResourceDef,
        mut obj: Value,
        opts: &WriteOptions,
        fields: Fields,
    ) -> Result<Arc<Value>, ApiError> {
        let s = strategy(res);
        normalize(res, &mut obj)?;
        if !opts.dry_run
            && obj["metadata"]["resourceVersion"]
                .as_str()
                .is_some_and(|rv| !rv.is_empty())
        {
            // storage.ErrResourceVersionSetOnCreate, a plain error upstream.
            return Err(ApiError::new(
                500,
                "",
                "resourceVersion should not be set on objects to be created",
            ));
        }
        remove_key(&mut obj["metadata"], "resourceVersion");
        s.convert(&mut obj);
        s.default(&mut obj);
        if fields == Fields::Track {
            managedfields::track_update(res, opts.scope, &opts.manager, None, &mut obj);
        }
        let ns = ns_key(res, &obj).to_string();
        if res.namespaced && ns.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace must be specified",
            ));
        }
        let name = name_of(&obj).to_string();
        admission::admit(
            &self.attrs(Operation::Create, res, opts.scope, &ns, &name),
            &mut obj,
            None,
        )?;
        prepare_for_create(res, s, &mut obj);
        s.default(&mut obj);
        let generated = name.is_empty()
            && obj["metadata"]["generateName"]
                .as_str()
                .is_some_and(|p| !p.is_empty());
        for _ in 0..GENERATE_NAME_ATTEMPTS {
            if generated {
                let prefix = obj["metadata"]["generateName"].as_str().unwrap_or("");
                obj["metadata"]["name"] = json!(crate::machinery::names::generate(prefix));
            }
            let name = name_of(&obj).to_string();
            let causes = super::validate(res, &obj, None);
            if !causes.is_empty() {
                return Err(ApiError::invalid(res, &name, causes));
            }
            admission::validate(
                &self.attrs(Operation::Create, res, opts.scope, &ns, &name),
                &obj,
                None,
            )?;
            match self.store.create(res, obj.clone(), opts.dry_run) {
                Ok(o) => return Ok(o),
                Err(StoreError::Exists) if generated => continue,
                Err(StoreError::Exists) => {
                    let mut e = ApiError::already_exists(res, &name);
                    if self
                        .store
                        .get(res, &ns, &name)
                        .is_some_and(|o| is_terminating(&o))
                    {
                        e.message = format!("object is being deleted: {}", e.message);
                    }
                    return Err(e);
                }
                Err(e) => return Err(self.storage_error(res, &name, e)),
            }
        }
        let mut e = ApiError::already_exists(res, name_of(&obj));
        e.message = format!(
            "{}, the server was not able to generate a unique name for the object",
            e.message
        );
        if let Some(d) = e.details.as_mut() {
            d["retryAfterSeconds"] = json!(1);
        }
        Err(e)
    }

    fn storage_error(&self, res: &ResourceDef, name: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(res, name),
            StoreError::Exists => ApiError::already_exists(res, name),
            StoreError::Changed => ApiError::conflict(res, name),
            StoreError::Precondition(why) => ApiError::conflict_msg(res, name, &why),
            StoreError::Failed(e) => e,
        }
    }

    /// Writes the object `make` makes from the stored `ns`/`name`
    /// (`make(None)` when there is none: created when `create_missing`,
    /// else 404). A `metadata.resourceVersion` in the new object must be
    /// the stored one (409 otherwise); without one the update applies to
    /// whatever is stored, where the kind allows it.
    pub fn update(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        make: Updater<'_>,
        create_missing: bool,
        opts: &WriteOptions,
    ) -> Result<Updated, ApiError> {
        let ns = if res.namespaced { ns } else { "" };
        for _ in 0..MAX_ATTEMPTS {
            let Some(old) = self.store.get(res, ns, name) else {
                if !create_missing && !strategy(res).allow_create_on_update() {
                    return Err(ApiError::not_found(res, name));
                }
                let obj = make(None)?;
                return self.create(res, obj, opts).map(|object| Updated {
                    object,
                    created: true,
                });
            };
            match self.try_update(res, ns, name, &old, make(Some(&old))?, opts, Fields::Track) {
                Err(StoreError::Changed) => continue,
                Err(e) => return Err(self.storage_error(res, name, e)),
                Ok(object) => {
                    return Ok(Updated {
                        object,
                        created: false,
                    });
                }
            }
        }
        Err(ApiError::conflict(res, name))
    }

    /// Server-side apply of `config` by `opts.manager` to `ns`/`name`:
    /// created when missing (201), else merged into the stored object,
    /// with conflicts on fields other managers own refused unless `force`.
    pub fn apply(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        config: &Value,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<Updated, ApiError> {
        let ns = if res.namespaced { ns } else { "" };
        for _ in 0..MAX_ATTEMPTS {
            let Some(old) = self.store.get(res, ns, name) else {
                if let Some(uid) = config["metadata"]["uid"].as_str().filter(|u| !u.is_empty()) {
                    return Err(ApiError::conflict_msg(
                        res,
                        name,
                        &format!(
                            "uid mismatch: the provided object specified uid {uid}, and no existing object was found"
                        ),
                    ));
                }
                let mut obj =
                    managedfields::apply(res, opts.scope, &opts.manager, force, None, config)?;
                for k in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "resourceVersion",
                ] {
                    remove_key(&mut obj["metadata"], k);
                }
                let created = self.create_with(res, obj, opts, Fields::Applied)?;
                return Ok(Updated {
                    object: created,
                    created: true,
                });
            };
            let merged =
                managedfields::apply(res, opts.scope, &opts.manager, force, Some(&old), config)?;
            match self.try_update(res, ns, name, &old, merged, opts, Fields::Applied) {
                Err(StoreError::Changed) => continue,
                Err(e) => return Err(self.storage_error(res, name, e)),
                Ok(object) => {
                    return Ok(Updated {
                        object,
                        created: false,
                    });
                }
            }
        }
        Err(ApiError::conflict(res, name))
    }

    /// One attempt of an update against the stored `old`.
    #[allow(clippy::too_many_arguments)]
    fn try_update(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        old: &Value,
        mut new: Value,
        opts: &WriteOptions,
        fields: Fields,
    ) -> Result<Arc<Value>, StoreError> {
        let s = strategy(res);
        let fail = StoreError::Failed;
        normalize(res, &mut new).map_err(fail)?;
        let wanted = new["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if wanted.is_empty() {
            if !s.allow_unconditional_update() {
                return Err(fail(ApiError::invalid(
                    res,
                    name,
                    vec![Cause::invalid(
                        "metadata.resourceVersion",
                        &json!(""),
                        "must be specified for an update",
                    )],
                )));
            }
        } else if wanted != old["metadata"]["resourceVersion"].as_str().unwrap_or("") {
            return Err(fail(ApiError::conflict(res, name)));
        }
        s.convert(&mut new);
        s.default(&mut new);
        if fields == Fields::Track {
            managedfields::track_update(res, opts.scope, &opts.manager, Some(old), &mut new);
        }
        let attrs = self.attrs(Operation::Update, res, opts.scope, ns, name);
        admission::admit(&attrs, &mut new, Some(old)).map_err(fail)?;
        prepare_for_update(res, s, opts.scope, &mut new, old);
        s.default(&mut new);
        let mut causes = Vec::new();
        validate_meta_update(&new, old, &mut causes);
        causes.extend(super::validate_update(res, opts.scope, &new, old));
        if !causes.is_empty() {
            return Err(fail(ApiError::invalid(res, name, causes)));
        }
        admission::validate(&attrs, &new, Some(old)).map_err(fail)?;
        let based_on = rv_of(old);
        let none = Preconditions::default();
        if deletion::completes_deletion(s, &new, old) {
            return self
                .store
                .remove(res, ns, name, Some(based_on), &none, opts.dry_run)
                .map(|_| Arc::new(new));
        }
        self.store.update(res, new, based_on, &none, opts.dry_run)
    }

    /// Deletes an object as upstream's registry does: graceful deletion
    /// (the kind's grace period, which a later delete may only shorten),
    /// finalizers that keep it until removed, and the propagation policy
    /// (`Background`, the default, leaves dependents to the garbage
    /// collector; `Foreground` keeps the owner with the
    /// `foregroundDeletion` finalizer while the collector deletes them;
    /// `Orphan` removes their ownerReferences first).
    pub fn delete(
        &self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let ns = if res.namespaced { ns } else { "" };
        let s = strategy(res);
        admission::namespace_lifecycle(&self.attrs(Operation::Delete, res, Scope::Main, ns, name))?;
        for _ in 0..MAX_ATTEMPTS {
            let Some(old) = self.store.get(res, ns, name) else {
                return Err(ApiError::not_found(res, name));
            };
            let based_on = Some(rv_of(&old));
            let pre = &opts.preconditions;
            let plan = deletion::plan(s, &old, opts);
            let result = match &plan {
                Plan::Keep => {
                    // Preconditions still apply to a deletion under way.
                    match self
                        .store
                        .update(res, (*old).clone(), rv_of(&old), pre, true)
                    {
                        Ok(_) => {
                            return Ok(Deleted {
                                object: old,
                                removed: false,
                            });
                        }
                        Err(e) => Err(e),
                    }
                }
                Plan::Mark(n) => self
                    .store
                    .update(res, n.clone(), rv_of(&old), pre, opts.dry_run),
                Plan::Remove => {
                    if opts.propagation == Some(Propagation::Orphan) && !opts.dry_run {
                        self.orphan_dependents(res, &old);
                    }
                    self.store
                        .remove(res, ns, name, based_on, pre, opts.dry_run)
                }
            };
            match result {
                Err(StoreError::Changed) => continue,
                Err(e) => return Err(self.storage_error(res, name, e)),
                Ok(object) => {
                    if matches!(plan, Plan::Mark(_))
                        && opts.propagation == Some(Propagation::Orphan)
                        && !opts.dry_run
                    {
                        self.orphan_dependents(res, &old);
                    }
                    return Ok(Deleted {
                        object,
                        removed: matches!(plan, Plan::Remove),
                    });
                }
            }
        }
        Err(ApiError::conflict(res, name))
    }

    /// Removes the ownerReferences to `owner` from its dependents (what
    /// the garbage collector does for the `orphan` finalizer, done at
    /// once, before the owner goes, so the collector never sees them
    /// without their owner).
    fn orphan_dependents(&self, res: &ResourceDef, owner: &Value) {
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
            let (children, _) = self.store.list_stored(r, scope);
            for child in children.iter().filter(|c| c.facts.owned) {
                let drop_ref = |cur: Option<&Value>| {
                    let mut c = cur
                        .cloned()
                        .ok_or_else(|| ApiError::not_found(r, &child.name))?;
                    if let Some(refs) = c["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|o| o["uid"].as_str() != Some(uid));
                    }
                    Ok(c)
                };
                let owned = child.value()["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|o| o["uid"].as_str() == Some(uid)));
                if owned {
                    let _ = self.update(
                        r,
                        &child.ns,
                        &child.name,
                        &drop_ref,
                        false,
                        &WriteOptions::component("kube-controller-manager"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
