//! The three patch formats the API server accepts on `PATCH`: strategic
//! merge (what `kubectl apply`, `rollout restart`, `label`, `set env` send),
//! JSON merge (RFC 7386) and JSON patch (RFC 6902).
//!
//! Strategic merge needs to know, per field, whether a list is replaced or
//! merged and by which key; upstream reads that from the Go struct tags
//! (`patchStrategy`, `patchMergeKey`). [`Ty`] is a small hand-kept copy of
//! those tags for the kinds the sandbox serves; everything it does not know
//! is treated like upstream treats a field without tags: lists are replaced.

use serde_json::{Map, Value};

/// Why a patch could not be applied. Messages follow upstream's wording so a
/// learner sees what a real API server would say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not of the expected JSON shape.
    #[error("{0}")]
    Invalid(String),
    /// A list item lacks the field the list is merged by (`item` is
    /// printed like Go prints a map, as upstream's message does).
    #[error("map: {item} does not contain declared merge key: {key}")]
    MissingMergeKey { item: String, key: String },
    /// `$patch` with a value other than replace or delete.
    #[error("unknown patch type: {kind} in map: {map}")]
    UnknownPatchType { kind: String, map: String },
    /// A JSON patch operation failed.
    #[error("{0}")]
    JsonPatch(String),
    /// A JSON patch with more operations than upstream allows.
    #[error(
        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {0}"
    )]
    TooManyOperations(usize),
}

/// Upstream's `maxJSONPatchOperations`.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// Upstream's `JSONPatchMaxCopyBytes` (json-patch's
/// `AccumulatedCopySizeLimit`): what `copy` operations may add in total,
/// so that a small patch cannot grow a document without bound.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Schema: the upstream patch tags for the kinds the sandbox serves.
// ---------------------------------------------------------------------------

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// No `patchStrategy` tag: the patch's list replaces the original.
    Replace,
    /// `patchStrategy:"merge"` on a list of scalars (e.g. finalizers): union.
    MergePrimitive,
    /// `patchStrategy:"merge"` with `patchMergeKey`: items matched by key.
    MergeKey(&'static str),
}

/// The struct a JSON object stands for, as far as patch tags go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Unknown,
    /// A top-level object; the payload says which kind.
    Root(RootKind),
    Meta,
    PodTemplate,
    PodSpec,
    Container,
    /// Deployment/ReplicaSet/StatefulSet/DaemonSet/Job/RC spec.
    WorkloadSpec,
    CronJobSpec,
    JobTemplate,
    ServiceSpec,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKind {
    Pod,
    Workload,
    PodTemplate,
    CronJob,
    Service,
    Other,
}

impl Ty {
    /// The root type for a kind given as `Pod`, `v1/Pod`, `apps/v1, Kind=Deployment`...
    fn for_kind(kind: &str) -> Ty {
        let name = kind
            .rsplit(['=', '/', ' ', ','])
            .next()
            .unwrap_or(kind)
            .trim();
        let root = match name {
            "Pod" => RootKind::Pod,
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController" => RootKind::Workload,
            "PodTemplate" => RootKind::PodTemplate,
            "CronJob" => RootKind::CronJob,
            "Service" => RootKind::Service,
            _ => RootKind::Other,
        };
        Ty::Root(root)
    }

    /// The list strategy and value type of field `name` of this type.
    fn field(self, name: &str) -> (ListStrategy, Ty) {
        use ListStrategy::{MergeKey, MergePrimitive, Replace};
        match (self, name) {
            (Ty::Root(_) | Ty::PodTemplate | Ty::JobTemplate, "metadata") => (Replace, Ty::Meta),
            (Ty::Root(_), "status") => (Replace, Ty::Status),
            (Ty::Root(RootKind::Pod) | Ty::PodTemplate, "spec") => (Replace, Ty::PodSpec),
            (Ty::Root(RootKind::Workload) | Ty::JobTemplate, "spec") => (Replace, Ty::WorkloadSpec),
            (Ty::Root(RootKind::PodTemplate) | Ty::WorkloadSpec, "template") => {
                (Replace, Ty::PodTemplate)
            }
            (Ty::Root(RootKind::CronJob), "spec") => (Replace, Ty::CronJobSpec),
            (Ty::Root(RootKind::Service), "spec") => (Replace, Ty::ServiceSpec),
            (Ty::CronJobSpec, "jobTemplate") => (Replace, Ty::JobTemplate),
            (Ty::Meta, "finalizers") => (MergePrimitive, Ty::Unknown),
            (Ty::Meta, "ownerReferences") => (MergeKey("uid"), Ty::Unknown),
            (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                (MergeKey("name"), Ty::Container)
            }
            (
                Ty::PodSpec,
                "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims",
            ) => (MergeKey("name"), Ty::Unknown),
            (Ty::PodSpec, "hostAliases") => (MergeKey("ip"), Ty::Unknown),
            (Ty::PodSpec, "topologySpreadConstraints") => (MergeKey("topologyKey"), Ty::Unknown),
            (Ty::Container, "ports") => (MergeKey("containerPort"), Ty::Unknown),
            (Ty::Container, "env") => (MergeKey("name"), Ty::Unknown),
            (Ty::Container, "volumeMounts") => (MergeKey("mountPath"), Ty::Unknown),
            (Ty::Container, "volumeDevices") => (MergeKey("devicePath"), Ty::Unknown),
            (Ty::ServiceSpec, "ports") => (MergeKey("port"), Ty::Unknown),
            (Ty::Status, "conditions" | "addresses") => (MergeKey("type"), Ty::Unknown),
            (Ty::Status, "podIPs" | "hostIPs") => (MergeKey("ip"), Ty::Unknown),
            _ => (Replace, Ty::Unknown),
        }
    }
}

// ---------------------------------------------------------------------------
// Strategic merge patch
// ---------------------------------------------------------------------------

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch (`application/strategic-merge-patch+json`)
/// to `original`, an object of `kind` (`Deployment`, `apps/v1, Kind=Deployment`...).
pub fn strategic_merge(original: &Value, patch: &Value, kind: &str) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Invalid("invalid JSON document".to_string()));
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    match merge_map(original, patch, Ty::for_kind(kind))? {
        Some(m) => Ok(Value::Object(m)),
        None => Ok(Value::Object(Map::new())),
    }
}

/// Merges `patch` into `original`; `None` when the patch deletes the map.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty,
) -> Result<Option<Map<String, Value>>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        // Upstream: replace uses the patch as is, delete leaves an empty map.
        return match directive.as_str() {
            Some("replace") => Ok(Some(strip_directives_map(patch))),
            Some("delete") => Ok(Some(Map::new())),
            _ => Err(PatchError::UnknownPatchType {
                kind: value_text(directive),
                map: go_fmt(&Value::Object(patch.clone())),
            }),
        };
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let bad = || PatchError::Invalid("invalid patch format of retainKeys".to_string());
        let list = retain.as_array().ok_or_else(bad)?;
        let keep: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        if keep.len() != list.len() {
            return Err(bad());
        }
        // A null only clears the field, so it need not be listed.
        let set_keys = patch
            .iter()
            .filter(|(k, v)| !k.starts_with('$') && !v.is_null());
        for (key, _) in set_keys {
            if !keep.contains(&key.as_str()) {
                return Err(bad());
            }
        }
        original.retain(|k, _| keep.contains(&k.as_str()));
    }

    // Removals from lists of scalars come before the merge, as upstream does.
    for (key, values) in patch {
        let Some(field) = key.strip_prefix(DELETE_PRIMITIVE) else {
            continue;
        };
        let Some(remove) = values.as_array() else {
            return Err(PatchError::Invalid(
                "invalid patch format of primitive list".to_string(),
            ));
        };
        if let Some(Value::Array(items)) = original.get_mut(field) {
            items.retain(|v| !remove.contains(v));
        }
    }

    for (key, patch_value) in patch {
        if key.starts_with('$') {
            continue;
        }
        let (strategy, child_ty) = ty.field(key);
        if patch_value.is_null() {
            original.remove(key);
            continue;
        }
        let order = patch.get(&format!("{SET_ORDER}{key}"));
        let merged = match (original.remove(key), patch_value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                merge_map(o, p, child_ty)?.map(Value::Object)
            }
            (Some(Value::Array(o)), Value::Array(p)) if strategy != ListStrategy::Replace => {
                Some(Value::Array(merge_list(o, p, strategy, child_ty, order)?))
            }
            (None, Value::Array(p)) if strategy != ListStrategy::Replace => Some(Value::Array(
                merge_list(Vec::new(), p, strategy, child_ty, order)?,
            )),
            // A deleted map the original lacks is not added.
            (None, Value::Object(p))
                if p.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") =>
            {
                None
            }
            (None, Value::Object(p)) => merge_map(Map::new(), p, child_ty)?.map(Value::Object),
            (_, other) => Some(strip_directives(other)),
        };
        if let Some(v) = merged {
            original.insert(key.clone(), v);
        }
    }

    // A `$setElementOrder` for a list the patch does not otherwise touch still
    // reorders it.
    for (key, order) in patch {
        let Some(field) = key.strip_prefix(SET_ORDER) else {
            continue;
        };
        if patch.contains_key(field) {
            continue;
        }
        let (strategy, _) = ty.field(field);
        if let Some(Value::Array(items)) = original.remove(field) {
            let reordered = reorder(items, &[], strategy, Some(order))?;
            original.insert(field.to_string(), Value::Array(reordered));
        }
    }
    Ok(Some(original))
}

/// Merges two lists under a merge strategy (never `Replace`).
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    strategy: ListStrategy,
    item_ty: Ty,
    order: Option<&Value>,
) -> Result<Vec<Value>, PatchError> {
    let key = match strategy {
        ListStrategy::MergeKey(k) if patch.iter().chain(&original).all(Value::is_object) => k,
        // Scalars (or a key-merged list holding scalars): union without duplicates.
        _ => {
            let mut merged = original;
            for item in patch {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            return reorder(merged, patch, ListStrategy::MergePrimitive, order);
        }
    };

    // `{"$patch":"replace"}` as an item replaces the whole list.
    let replace = patch
        .iter()
        .any(|p| p.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    if replace {
        return Ok(patch
            .iter()
            .filter(|p| p.get(DIRECTIVE).is_none())
            .map(strip_directives)
            .collect());
    }

    let mut merged = original;
    let mut patch_items = Vec::new();
    for item in patch {
        let Value::Object(item_map) = item else {
            continue;
        };
        let Some(id) = item_map.get(key) else {
            return Err(PatchError::MissingMergeKey {
                item: go_fmt(item),
                key: key.to_string(),
            });
        };
        let position = merged.iter().position(|o| o.get(key) == Some(id));
        match item_map.get(DIRECTIVE).and_then(Value::as_str) {
            Some("delete") => {
                merged.retain(|o| o.get(key) != Some(id));
                continue;
            }
            None => {}
            Some("merge") => {
                return Err(PatchError::Invalid(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ));
            }
            Some(other) => {
                return Err(PatchError::UnknownPatchType {
                    kind: other.to_string(),
                    map: go_fmt(item),
                });
            }
        }
        patch_items.push(item.clone());
        match position {
            Some(i) => {
                let old = match merged[i].take() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                match merge_map(old, item_map, item_ty)? {
                    Some(m) => merged[i] = Value::Object(m),
                    None => {
                        merged.remove(i);
                    }
                }
            }
            None => {
                if let Some(m) = merge_map(Map::new(), item_map, item_ty)? {
                    merged.push(Value::Object(m));
                }
            }
        }
    }
    reorder(merged, &patch_items, strategy, order)
}

/// Orders a merged list like upstream: the items the patch names (in the
/// order of `$setElementOrder`, or of the patch) interleaved with the items
/// only the server had, which keep their places relative to each other.
fn reorder(
    merged: Vec<Value>,
    patch: &[Value],
    strategy: ListStrategy,
    order: Option<&Value>,
) -> Result<Vec<Value>, PatchError> {
    let key = match strategy {
        ListStrategy::MergeKey(k) => Some(k),
        _ => None,
    };
    let ident = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let patch_order: Vec<Value> = match order {
        Some(Value::Array(o)) => o.iter().map(&ident).collect(),
        Some(_) => {
            return Err(PatchError::Invalid(
                "invalid patch format of setElementOrder list".to_string(),
            ));
        }
        None => patch.iter().map(&ident).collect(),
    };
    let server_order: Vec<Value> = merged.iter().map(&ident).collect();
    let (mut named, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| patch_order.contains(&ident(v)));
    named.sort_by_key(|v| patch_order.iter().position(|o| *o == ident(v)));

    let index_in_server = |v: &Value| server_order.iter().position(|o| *o == ident(v));
    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        named.into_iter().peekable(),
    );
    loop {
        match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => {
                let take_left = matches!(
                    (index_in_server(l), index_in_server(r)),
                    (Some(li), Some(ri)) if li < ri
                );
                let next = if take_left { left.next() } else { right.next() };
                out.extend(next);
            }
            (Some(_), None) => out.extend(left.next()),
            (None, Some(_)) => out.extend(right.next()),
            (None, None) => break,
        }
    }
    Ok(out)
}

/// A copy of `v` without any `$...` directive keys (for values the patch adds).
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives_map(m)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.get(DIRECTIVE).is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strip_directives_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

/// A value printed like Go's `%v` prints the decoded JSON
/// (`map[image:x name:app]`, `[a b]`), for upstream-identical messages.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_fmt).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_fmt(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// JSON merge patch (RFC 7386)
// ---------------------------------------------------------------------------

/// Applies a JSON merge patch (`application/merge-patch+json`, RFC 7386).
pub fn json_merge(original: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            let merged = json_merge(target.get(key).unwrap_or(&Value::Null), value);
            target.insert(key.clone(), merged);
        }
    }
    Value::Object(target)
}

// ---------------------------------------------------------------------------
// JSON patch (RFC 6902)
// ---------------------------------------------------------------------------

/// Applies a JSON patch (`application/json-patch+json`, RFC 6902): a list of
/// `add`, `remove`, `replace`, `move`, `copy` and `test` operations, all or
/// nothing.
pub fn json_patch(original: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Some(ops) = ops.as_array() else {
        return Err(PatchError::JsonPatch(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch".to_string(),
        ));
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations(ops.len()));
    }
    let mut doc = original.clone();
    let mut copied = 0;
    for op in ops {
        apply_op(&mut doc, op, &mut copied)?;
    }
    Ok(doc)
}

/// The bytes a value takes as JSON, counted without serialising it.
pub fn json_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| json_size(x) + 1).sum::<usize>(),
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, x)| k.len() + 4 + json_size(x))
                .sum::<usize>()
        }
    }
}

fn apply_op(doc: &mut Value, op: &Value, copied: &mut usize) -> Result<(), PatchError> {
    let field = |name: &str| -> Result<&str, PatchError> {
        op.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::JsonPatch(format!("operation missing {name} field: {op}")))
    };
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
    match kind {
        "add" => {
            let path = field("path")?;
            let value = op_value(op, kind)?;
            add(doc, path, value.clone())
                .map_err(|e| PatchError::JsonPatch(format!("add operation does not apply: {e}")))
        }
        "remove" => {
            let path = field("path")?;
            remove(doc, path)
                .map(drop)
                .map_err(|e| PatchError::JsonPatch(format!("remove operation does not apply: {e}")))
        }
        "replace" => {
            let path = field("path")?;
            let value = op_value(op, kind)?.clone();
            let target = pointer_mut(doc, path).map_err(|e| {
                PatchError::JsonPatch(format!("replace operation does not apply: {e}"))
            })?;
            *target = value;
            Ok(())
        }
        "move" => {
            let from = field("from")?;
            let path = field("path")?;
            if path.starts_with(&format!("{from}/")) {
                return Err(PatchError::JsonPatch(format!(
                    "move operation does not apply: from {from:?} is a prefix of path {path:?}"
                )));
            }
            let value = remove(doc, from).map_err(|e| {
                PatchError::JsonPatch(format!("move operation does not apply: {e}"))
            })?;
            add(doc, path, value)
                .map_err(|e| PatchError::JsonPatch(format!("move operation does not apply: {e}")))
        }
        "copy" => {
            let from = field("from")?;
            let path = field("path")?;
            let source = pointer_mut(doc, from).map_err(|e| {
                PatchError::JsonPatch(format!("copy operation does not apply: {e}"))
            })?;
            *copied += json_size(source);
            if *copied > MAX_COPY_BYTES {
                return Err(PatchError::JsonPatch(format!(
                    "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_COPY_BYTES}"
                )));
            }
            let value = source.clone();
            add(doc, path, value)
                .map_err(|e| PatchError::JsonPatch(format!("copy operation does not apply: {e}")))
        }
        "test" => {
            let path = field("path")?;
            let expected = op.get("value").unwrap_or(&Value::Null);
            let actual = pointer_mut(doc, path).ok().map(|v| &*v);
            if actual == Some(expected) || (actual.is_none() && expected.is_null()) {
                Ok(())
            } else {
                Err(PatchError::JsonPatch(format!(
                    "testing value {path} failed: test failed"
                )))
            }
        }
        other => Err(PatchError::JsonPatch(format!("Unexpected kind: {other}"))),
    }
}

fn op_value<'a>(op: &'a Value, kind: &str) -> Result<&'a Value, PatchError> {
    op.get("value")
        .ok_or_else(|| PatchError::JsonPatch(format!("{kind} operation missing value field: {op}")))
}

/// Splits a JSON pointer into unescaped tokens.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "invalid JSON pointer: {path:?} does not start with \"/\""
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn missing(path: &str) -> String {
    format!("doc is missing path: {path:?}: missing value")
}

fn array_index(token: &str, len: usize, path: &str, allow_end: bool) -> Result<usize, String> {
    let bad = || format!("invalid index {token:?} in path {path:?}");
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return Err(bad());
    }
    let i: usize = token.parse().map_err(|_| bad())?;
    let limit = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > limit || (!allow_end && len == 0) {
        return Err(format!(
            "Unable to access invalid index: {i}: index out of range"
        ));
    }
    Ok(i)
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for token in tokens(path)? {
        cur = match cur {
            Value::Object(m) => m.get_mut(&token).ok_or_else(|| missing(path))?,
            Value::Array(items) => {
                let i = array_index(&token, items.len(), path, false)?;
                &mut items[i]
            }
            _ => return Err(missing(path)),
        };
    }
    Ok(cur)
}

/// The parent container of `path` and the last token.
fn parent_mut<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let Some(last) = toks.pop() else {
        return Err("the root of the document cannot be added or removed".to_string());
    };
    let mut parent = String::new();
    for t in &toks {
        parent.push('/');
        parent.push_str(&t.replace('~', "~0").replace('/', "~1"));
    }
    let container = pointer_mut(doc, &parent).map_err(|_| missing(path))?;
    Ok((container, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (container, last) = parent_mut(doc, path)?;
    match container {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let i = if last == "-" {
                items.len()
            } else {
                array_index(&last, items.len(), path, true)?
            };
            items.insert(i, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (container, last) = parent_mut(doc, path)?;
    match container {
        Value::Object(m) => m.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(items) => {
            let i = array_index(&last, items.len(), path, false)?;
            Ok(items.remove(i))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "nginx:1.27",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                            },
                            {"name": "sidecar", "image": "busybox"}
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}]
                    }
                }
            }
        })
    }

    fn containers(v: &Value) -> &Vec<Value> {
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
    }

    #[test]
    fn rollout_restart_adds_an_annotation_to_the_template() {
        let patch = json!({"spec":{"template":{"metadata":{"annotations":{
            "kubectl.kubernetes.io/restartedAt":"2026-11-21T12:00:00Z"}}}}});
        let out = strategic_merge(&deployment(), &patch, "apps/v1, Kind=Deployment").unwrap();
        assert_eq!(
            out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2026-11-21T12:00:00Z"
        );
        assert_eq!(out["spec"]["template"]["metadata"]["labels"]["app"], "web");
        assert_eq!(containers(&out).len(), 2);
    }

    #[test]
    fn label_and_unlabel() {
        let out = strategic_merge(
            &deployment(),
            &json!({"metadata":{"labels":{"tier":"front"}}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app":"web","tier":"front"})
        );
        let out = strategic_merge(
            &out,
            &json!({"metadata":{"labels":{"app":null}}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"tier":"front"}));
    }

    #[test]
    fn set_env_merges_by_name_into_the_named_container() {
        let patch = json!({"spec":{"template":{"spec":{"containers":[
            {"name":"app","env":[{"name":"B","value":"20"},{"name":"C","value":"3"}]}]}}}});
        let out = strategic_merge(&deployment(), &patch, "Deployment").unwrap();
        let c = containers(&out);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["image"], "nginx:1.27");
        assert_eq!(
            c[0]["env"],
            json!([{"name":"A","value":"1"},{"name":"B","value":"20"},{"name":"C","value":"3"}])
        );
        assert_eq!(c[1]["name"], "sidecar");
    }

    #[test]
    fn reapply_deletes_env_and_container_with_set_element_order() {
        // What `kubectl apply` sends after B and the sidecar were removed
        // from the manifest.
        let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"app"}],
        "containers":[
            {"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],"name":"app"},
            {"$patch":"delete","name":"sidecar"}
        ]}}}});
        let out = strategic_merge(&deployment(), &patch, "Deployment").unwrap();
        let c = containers(&out);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["env"], json!([{"name":"A","value":"1"}]));
        assert!(c[0].get("$setElementOrder/env").is_none());
    }

    #[test]
    fn set_element_order_reorders_and_keeps_server_only_items() {
        let original = json!({"spec":{"containers":[
            {"name":"a"},{"name":"b"},{"name":"c"}]}});
        let patch = json!({"spec":{
            "$setElementOrder/containers":[{"name":"c"},{"name":"a"}],
            "containers":[{"name":"c","image":"x"}]}});
        let out = strategic_merge(&original, &patch, "Pod").unwrap();
        let names: Vec<_> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        // b is server-only: kept; c and a follow the patch order.
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(out["spec"]["containers"][1]["image"], "x");
    }

    #[test]
    fn new_items_are_appended_in_patch_order() {
        let original = json!({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80}]}]}});
        let patch = json!({"spec":{"containers":[{"name":"a","ports":[{"containerPort":8080,"name":"alt"}]}]}});
        let out = strategic_merge(&original, &patch, "v1/Pod").unwrap();
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([{"containerPort":80},{"containerPort":8080,"name":"alt"}])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let original = json!({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443}]}});
        let patch = json!({"spec":{"ports":[{"port":80,"targetPort":9090}]}});
        let out = strategic_merge(&original, &patch, "Service").unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port":80,"targetPort":9090},{"port":443}])
        );
    }

    #[test]
    fn unknown_lists_are_replaced() {
        let original = json!({"spec":{"tolerations":[{"key":"a"}],"containers":[{"name":"c","args":["x","y"]}]}});
        let patch =
            json!({"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"c","args":["z"]}]}});
        let out = strategic_merge(&original, &patch, "Pod").unwrap();
        assert_eq!(out["spec"]["tolerations"], json!([{"key":"b"}]));
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
    }

    #[test]
    fn finalizers_union_and_delete_from_primitive_list() {
        let out = strategic_merge(
            &deployment(),
            &json!({"metadata":{"finalizers":["b","a"]}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "a"]));
        let out = strategic_merge(
            &out,
            &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn owner_references_merge_by_uid_and_conditions_by_type() {
        let original = json!({
            "metadata":{"ownerReferences":[{"uid":"1","name":"rs-a"}]},
            "status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Scheduled","status":"True"}]}
        });
        let patch = json!({
            "metadata":{"ownerReferences":[{"uid":"2","name":"rs-b"}]},
            "status":{"conditions":[{"type":"Ready","status":"True"}]}
        });
        let out = strategic_merge(&original, &patch, "Pod").unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"Ready","status":"True"},{"type":"Scheduled","status":"True"}])
        );
    }

    #[test]
    fn patch_replace_directive_on_map_and_list() {
        let out = strategic_merge(
            &deployment(),
            &json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type":"Recreate"}));

        let out = strategic_merge(
            &deployment(),
            &json!({"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},{"name":"only","image":"x"}]}}}}),
            "Deployment",
        )
        .unwrap();
        assert_eq!(containers(&out), &vec![json!({"name":"only","image":"x"})]);
    }

    #[test]
    fn patch_delete_directive_on_map() {
        let out = strategic_merge(
            &deployment(),
            &json!({"spec":{"strategy":{"$patch":"delete"},"paused":{"$patch":"delete"}}}),
            "Deployment",
        )
        .unwrap();
        // Upstream empties the map; a field the original lacks is not added.
        assert_eq!(out["spec"]["strategy"], json!({}));
        assert!(out["spec"].get("paused").is_none());
    }

    #[test]
    fn retain_keys_clears_other_fields() {
        // Switching a Deployment strategy from RollingUpdate to Recreate.
        let patch = json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}});
        let out = strategic_merge(&deployment(), &patch, "Deployment").unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type":"Recreate"}));

        // A volume switching from emptyDir to a PVC.
        let patch = json!({"spec":{"template":{"spec":{"volumes":[
            {"name":"data","$retainKeys":["name","persistentVolumeClaim"],"persistentVolumeClaim":{"claimName":"pvc"}}]}}}});
        let out = strategic_merge(&deployment(), &patch, "Deployment").unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"name":"data","persistentVolumeClaim":{"claimName":"pvc"}}])
        );

        let bad = json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}});
        let err = strategic_merge(&deployment(), &bad, "Deployment").unwrap_err();
        assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    }

    #[test]
    fn errors_for_missing_merge_key_and_unknown_directive() {
        let err = strategic_merge(
            &deployment(),
            &json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}),
            "Deployment",
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::MissingMergeKey { ref key, .. } if key == "name"));
        assert_eq!(
            err.to_string(),
            "map: map[image:x] does not contain declared merge key: name"
        );
        let err = strategic_merge(
            &deployment(),
            &json!({"spec":{"template":{"spec":{"containers":[{"$patch":"merge","name":"app"}]}}}}),
            "Deployment",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "merging lists cannot yet be specified in the patch"
        );

        let err = strategic_merge(
            &deployment(),
            &json!({"spec":{"$patch":"bogus"}}),
            "Deployment",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown patch type: bogus in map: map[$patch:bogus]"
        );
        assert!(strategic_merge(&deployment(), &json!([1]), "Deployment").is_err());
    }

    #[test]
    fn new_fields_are_added_without_directives() {
        let out = strategic_merge(
            &json!({"metadata":{"name":"x"}}),
            &json!({"spec":{"containers":[{"name":"a","env":[{"name":"E","value":"v"}]}]}}),
            "Pod",
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"][0]["env"][0]["value"], "v");
    }

    #[test]
    fn json_merge_follows_rfc7386() {
        let original = json!({"a":"b","c":{"d":"e","f":"g"},"l":[1,2]});
        let patch = json!({"a":"z","c":{"f":null},"l":[3],"n":{"x":null,"y":1}});
        assert_eq!(
            json_merge(&original, &patch),
            json!({"a":"z","c":{"d":"e"},"l":[3],"n":{"y":1}})
        );
        assert_eq!(json_merge(&original, &json!("s")), json!("s"));
        // `kubectl scale` on the scale subresource.
        let scale = json!({"spec":{"replicas":1},"status":{"replicas":1}});
        assert_eq!(
            json_merge(&scale, &json!({"spec":{"replicas":3}}))["spec"]["replicas"],
            3
        );
    }

    #[test]
    fn json_patch_all_six_operations() {
        let doc = json!({"metadata":{"labels":{"a":"1"}},"spec":{"list":[1,2,3]}});
        let ops = json!([
            {"op":"add","path":"/metadata/labels/b","value":"2"},
            {"op":"add","path":"/spec/list/-","value":4},
            {"op":"add","path":"/spec/list/0","value":0},
            {"op":"remove","path":"/spec/list/1"},
            {"op":"replace","path":"/metadata/labels/a","value":"one"},
            {"op":"copy","from":"/metadata/labels/a","path":"/metadata/labels/c"},
            {"op":"move","from":"/metadata/labels/b","path":"/metadata/labels/d"},
            {"op":"test","path":"/metadata/labels/d","value":"2"},
            {"op":"add","path":"/metadata/annotations","value":{"k~/":"v"}},
            {"op":"test","path":"/metadata/annotations/k~0~1","value":"v"}
        ]);
        let out = json_patch(&doc, &ops).unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"a":"one","c":"one","d":"2"})
        );
        assert_eq!(out["spec"]["list"], json!([0, 2, 3, 4]));
    }

    #[test]
    fn json_patch_errors_are_worded_like_upstream() {
        let doc = json!({"a":{"b":1},"l":[1]});
        let err = |ops: Value| json_patch(&doc, &ops).unwrap_err().to_string();
        assert_eq!(
            err(json!([{"op":"replace","path":"/x","value":1}])),
            "replace operation does not apply: doc is missing path: \"/x\": missing value"
        );
        assert_eq!(
            err(json!([{"op":"remove","path":"/a/c"}])),
            "remove operation does not apply: doc is missing path: \"/a/c\": missing value"
        );
        assert_eq!(
            err(json!([{"op":"add","path":"/x/y","value":1}])),
            "add operation does not apply: doc is missing path: \"/x/y\": missing value"
        );
        assert_eq!(
            err(json!([{"op":"test","path":"/a/b","value":2}])),
            "testing value /a/b failed: test failed"
        );
        assert_eq!(
            err(json!([{"op":"bogus","path":"/a"}])),
            "Unexpected kind: bogus"
        );
        assert!(err(json!([{"op":"add","path":"/l/5","value":1}])).contains("index out of range"));
        assert!(err(json!([{"op":"move","from":"/a","path":"/a/b"}])).contains("prefix"));
        assert!(err(json!({"op":"add"})).contains("cannot unmarshal"));
        // All or nothing: the original is untouched on error.
        assert_eq!(doc, json!({"a":{"b":1},"l":[1]}));
    }
}

#[cfg(test)]
mod bounds {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_are_bounded_and_operations_counted() {
        // Appending a list to itself doubles it: 40 times is 2^40 KB.
        let doc = json!({"metadata": {"name": "x"}, "list": ["y".repeat(1000)]});
        let ops = vec![json!({"op": "copy", "from": "/list", "path": "/list/-"}); 40];
        match json_patch(&doc, &Value::Array(ops)) {
            Err(PatchError::JsonPatch(m)) => assert!(
                m.starts_with(
                    "Unable to complete the copy, the accumulated size increase of copy is"
                ),
                "{m}"
            ),
            Ok(v) => panic!("the bomb went off: {} bytes", json_size(&v)),
            Err(e) => panic!("{e}"),
        }
        let many = Value::Array(vec![json!({"op": "test", "path": "/metadata"}); 10_001]);
        assert_eq!(
            json_patch(&doc, &many).unwrap_err(),
            PatchError::TooManyOperations(10_001)
        );
    }
}
