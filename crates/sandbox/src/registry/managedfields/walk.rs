//! The walks over objects server-side apply is made of, as
//! structured-merge-diff's typed values do them: the set of fields an
//! applied configuration sets ([`field_set`]), what changed between two
//! versions ([`compare`]), the merge of a configuration into the live
//! object ([`merge`]), and the removal of fields nobody owns any more
//! ([`remove`]).

use serde_json::{Map, Value};

use super::fieldset::{Pe, Set};
use super::schema::{self, ListType, Node};

/// Where a walk is: the kind, and the field names from the root (list
/// items add none), which is what the schema is keyed by.
struct Ctx<'a> {
    kind: &'a str,
    names: Vec<String>,
    path: Vec<Pe>,
}

impl<'a> Ctx<'a> {
    fn new(kind: &'a str) -> Ctx<'a> {
        Ctx {
            kind,
            names: Vec::new(),
            path: Vec::new(),
        }
    }

    fn node_of(&self, field: &str, v: &Value) -> Node {
        let parents: Vec<&str> = self.names.iter().map(String::as_str).collect();
        schema::node(self.kind, &parents, field, v)
    }
}

/// The path element of a list item (its keys, its value, else its index).
fn item_pe(lt: ListType, i: usize, item: &Value) -> Result<Pe, String> {
    match lt {
        ListType::Map(keys) => schema::item_key(keys, item).map(Pe::Key).ok_or_else(|| {
            let missing = keys
                .iter()
                .find(|(k, d)| item.get(*k).is_none_or(Value::is_null) && d.is_none())
                .map_or("", |(k, _)| *k);
            format!(
                "element {i}: associative list with keys has an element that omits key field {missing:?} (and doesn't have default value)"
            )
        }),
        ListType::Set => Ok(Pe::Value(item.to_string())),
        ListType::Atomic => Ok(Pe::Index(i)),
    }
}

/// The fields a configuration sets (`ToFieldSet`): scalars, map entries,
/// list items and atomic values; a struct field is owned through its
/// fields only. Errors name the path of an item without its keys.
pub fn field_set(kind: &str, obj: &Value) -> Result<Set, String> {
    let mut out = Set::default();
    let mut ctx = Ctx::new(kind);
    fs_fields(&mut ctx, obj, Node::Struct, &mut out)?;
    Ok(out)
}

fn fs_fields(ctx: &mut Ctx<'_>, v: &Value, node: Node, out: &mut Set) -> Result<(), String> {
    match (node, v) {
        (Node::Struct | Node::Map, Value::Object(m)) => {
            for (k, child) in m {
                let n = ctx.node_of(k, child);
                ctx.path.push(Pe::Field(k.clone()));
                ctx.names.push(k.clone());
                let r = fs_fields(ctx, child, n, out);
                if node == Node::Map {
                    out.insert(&ctx.path);
                }
                ctx.names.pop();
                ctx.path.pop();
                r?;
            }
        }
        (Node::List(lt @ (ListType::Map(_) | ListType::Set)), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let pe = item_pe(lt, i, item)
                    .map_err(|e| format!("{}: {e}", super::fieldset::path_string(&ctx.path)))?;
                ctx.path.push(pe);
                if matches!(lt, ListType::Map(_)) {
                    fs_fields(ctx, item, Node::Struct, out)?;
                }
                out.insert(&ctx.path);
                ctx.path.pop();
            }
        }
        _ => out.insert(&ctx.path),
    }
    Ok(())
}

/// What changed from `old` to `new` (`Compare`).
#[derive(Debug, Default)]
pub struct Changes {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Changes {
    /// Added or modified: what a write takes from other managers.
    pub fn changed(&self) -> Set {
        self.added.union(&self.modified)
    }
}

/// Compares two versions of an object.
pub fn compare(kind: &str, old: &Value, new: &Value) -> Changes {
    let mut out = Changes::default();
    let mut ctx = Ctx::new(kind);
    cmp(&mut ctx, Some(old), Some(new), Node::Struct, &mut out);
    out
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn leaf(path: &[Pe], lhs: Option<&Value>, rhs: Option<&Value>, out: &mut Changes) {
    match (lhs, rhs) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

fn cmp(ctx: &mut Ctx<'_>, lhs: Option<&Value>, rhs: Option<&Value>, node: Node, out: &mut Changes) {
    let (lhs, rhs) = (present(lhs), present(rhs));
    match (node, lhs, rhs) {
        (Node::Struct | Node::Map, l, r)
            if l.is_none_or(Value::is_object) && r.is_none_or(Value::is_object) =>
        {
            let empty = Map::new();
            let lm = l.and_then(Value::as_object).unwrap_or(&empty);
            let rm = r.and_then(Value::as_object).unwrap_or(&empty);
            if lm.is_empty() && rm.is_empty() {
                return leaf(&ctx.path, l, r, out);
            }
            let mut keys: Vec<&String> = lm.keys().chain(rm.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let probe = rm.get(k).or_else(|| lm.get(k)).unwrap_or(&Value::Null);
                let n = ctx.node_of(k, probe);
                ctx.path.push(Pe::Field(k.clone()));
                ctx.names.push(k.clone());
                cmp(ctx, lm.get(k), rm.get(k), n, out);
                ctx.names.pop();
                ctx.path.pop();
            }
            post(&ctx.path, l, r, out);
        }
        (Node::List(lt @ (ListType::Map(_) | ListType::Set)), l, r)
            if l.is_none_or(Value::is_array) && r.is_none_or(Value::is_array) =>
        {
            let empty = Vec::new();
            let la = l.and_then(Value::as_array).unwrap_or(&empty);
            let ra = r.and_then(Value::as_array).unwrap_or(&empty);
            if la.is_empty() && ra.is_empty() {
                return leaf(&ctx.path, l, r, out);
            }
            let (li, ri) = (index_items(lt, la), index_items(lt, ra));
            let mut pes: Vec<&Pe> = li.iter().chain(ri.iter()).map(|(p, _)| p).collect();
            pes.sort();
            pes.dedup();
            for pe in pes {
                let (a, b) = (find_item(&li, pe), find_item(&ri, pe));
                ctx.path.push(pe.clone());
                if matches!(lt, ListType::Map(_)) {
                    cmp(ctx, a, b, Node::Struct, out);
                } else {
                    leaf(&ctx.path, a, b, out);
                }
                ctx.path.pop();
            }
            post(&ctx.path, l, r, out);
        }
        _ => leaf(&ctx.path, lhs, rhs, out),
    }
}

/// A list's items by path element (repeated ones ignored, as upstream).
fn index_items(lt: ListType, items: &[Value]) -> Vec<(Pe, &Value)> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(i, it)| (item_pe(lt, i, it).unwrap_or(Pe::Index(i)), it))
        .filter(|(pe, _)| seen.insert(pe.clone()))
        .collect()
}

fn find_item<'a>(items: &[(Pe, &'a Value)], pe: &Pe) -> Option<&'a Value> {
    items.iter().find(|(p, _)| p == pe).map(|(_, it)| *it)
}

/// A non-leaf node added or removed is itself added or removed.
fn post(path: &[Pe], lhs: Option<&Value>, rhs: Option<&Value>, out: &mut Changes) {
    match (lhs, rhs) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

/// The live object with a configuration merged in (`Merge`): the
/// configuration's values win; objects merge field by field; keyed lists
/// item by item (live order, new items after), set lists as a union;
/// atomic values are replaced.
pub fn merge(kind: &str, live: &Value, config: &Value) -> Value {
    let mut ctx = Ctx::new(kind);
    merge_node(&mut ctx, live, config, Node::Struct)
}

fn merge_node(ctx: &mut Ctx<'_>, lhs: &Value, rhs: &Value, node: Node) -> Value {
    match (node, lhs, rhs) {
        (Node::Struct | Node::Map, Value::Object(lm), Value::Object(rm)) => {
            let mut out = lm.clone();
            for (k, rv) in rm {
                if rv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match lm.get(k) {
                    Some(lv) => {
                        let n = ctx.node_of(k, rv);
                        ctx.names.push(k.clone());
                        let m = merge_node(ctx, lv, rv, n);
                        ctx.names.pop();
                        m
                    }
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Node::List(lt @ ListType::Map(_)), Value::Array(la), Value::Array(ra)) => {
            let key = |i: usize, v: &Value| item_pe(lt, i, v).ok();
            let mut out: Vec<Value> = Vec::with_capacity(la.len() + ra.len());
            let mut used = vec![false; ra.len()];
            for (i, l) in la.iter().enumerate() {
                let k = key(i, l);
                let matched = ra
                    .iter()
                    .enumerate()
                    .position(|(j, r)| k.is_some() && key(j, r) == k);
                match matched {
                    Some(j) => {
                        used[j] = true;
                        out.push(merge_node(ctx, l, &ra[j], Node::Struct));
                    }
                    None => out.push(l.clone()),
                }
            }
            for (j, r) in ra.iter().enumerate() {
                if !used[j] {
                    out.push(r.clone());
                }
            }
            Value::Array(out)
        }
        (Node::List(ListType::Set), Value::Array(la), Value::Array(ra)) => {
            let mut out = la.clone();
            for r in ra {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
            Value::Array(out)
        }
        _ => rhs.clone(),
    }
}

/// Removes from `obj` the paths of `gone`, except what `keep` still owns
/// below them; objects and lists emptied by it go too.
pub fn remove(kind: &str, obj: &mut Value, gone: &Set, keep: &Set) {
    let mut ctx = Ctx::new(kind);
    remove_node(&mut ctx, obj, Node::Struct, gone, Some(keep));
}

fn remove_node(ctx: &mut Ctx<'_>, v: &mut Value, node: Node, gone: &Set, keep: Option<&Set>) {
    match (node, v) {
        (Node::Struct | Node::Map, Value::Object(m)) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let pe = Pe::Field(k.clone());
                let kept_below = keep.and_then(|s| s.child(&pe));
                let whole =
                    gone.has(std::slice::from_ref(&pe)) && kept_below.is_none_or(Set::is_empty);
                if whole {
                    m.remove(&k);
                    continue;
                }
                let Some(sub) = gone.child(&pe) else {
                    continue;
                };
                if let Some(child) = m.get_mut(&k) {
                    let n = ctx.node_of(&k, child);
                    ctx.names.push(k.clone());
                    let was_container = child.is_object() || child.is_array();
                    remove_node(ctx, child, n, sub, kept_below);
                    ctx.names.pop();
                    let emptied = match child {
                        Value::Object(o) => o.is_empty(),
                        Value::Array(a) => a.is_empty(),
                        _ => false,
                    };
                    if was_container && emptied {
                        m.remove(&k);
                    }
                }
            }
        }
        (Node::List(lt @ (ListType::Map(_) | ListType::Set)), Value::Array(items)) => {
            let mut index = 0;
            items.retain_mut(|item| {
                let Ok(pe) = item_pe(lt, index, item) else {
                    index += 1;
                    return true;
                };
                index += 1;
                let kept_below = keep.and_then(|s| s.child(&pe));
                if gone.has(std::slice::from_ref(&pe)) && kept_below.is_none_or(Set::is_empty) {
                    return false;
                }
                if let (Some(sub), ListType::Map(_)) = (gone.child(&pe), lt) {
                    remove_node(ctx, item, Node::Struct, sub, kept_below);
                }
                true
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> Pe {
        Pe::Field(s.into())
    }

    fn deployment(image: &str, replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image,
                        "ports": [{"containerPort": 80}]}]}}}})
    }

    #[test]
    fn an_applied_configuration_owns_leaves_entries_and_items() {
        let s = field_set("Deployment", &deployment("nginx", 2)).unwrap();
        let fields = s.to_fields_v1();
        assert_eq!(fields["f:metadata"]["f:labels"], json!({"f:app": {}}));
        assert_eq!(fields["f:spec"]["f:selector"], json!({}));
        let c = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
            json!({".": {}, "f:containerPort": {}})
        );
        let mut bad = deployment("x", 1);
        bad["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert!(field_set("Deployment", &bad).unwrap_err().contains(
            ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\""
        ));
    }

    #[test]
    fn compare_adds_modifies_and_removes() {
        let old = deployment("nginx", 1);
        let mut new = deployment("nginx:1.27", 1);
        new["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 1}});
        new["metadata"].as_object_mut().unwrap().remove("labels");
        let c = compare("Deployment", &old, &new);
        let img = vec![
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            Pe::Key("{\"name\":\"web\"}".into()),
            f("image"),
        ];
        assert!(c.modified.has(&img));
        assert!(c.added.has(&[f("spec"), f("strategy")]));
        assert!(
            c.added
                .has(&[f("spec"), f("strategy"), f("rollingUpdate"), f("maxSurge")])
        );
        assert!(c.removed.has(&[f("metadata"), f("labels")]));
        assert!(c.removed.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!c.modified.has(&[f("spec"), f("replicas")]));
    }

    #[test]
    fn merge_by_keys_and_remove_what_nobody_owns() {
        let mut live = deployment("nginx", 3);
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "side", "image": "busybox"}));
        let config = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:2"}]}}}});
        let m = merge("Deployment", &live, &config);
        let cs = &m["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["image"], "nginx:2");
        assert_eq!(cs[0]["imagePullPolicy"], "Always");
        assert_eq!(cs[1]["name"], "side");
        assert_eq!(m["spec"]["replicas"], 5);

        // The sidecar's item was applied before and nobody keeps it.
        let mut gone = Set::default();
        let side = [
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            Pe::Key("{\"name\":\"side\"}".into()),
        ];
        gone.insert(&side);
        let mut pruned = m.clone();
        remove("Deployment", &mut pruned, &gone, &Set::default());
        assert_eq!(
            pruned["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let mut labels = Set::default();
        labels.insert(&[f("metadata"), f("labels"), f("app")]);
        remove("Deployment", &mut pruned, &labels, &Set::default());
        assert!(pruned["metadata"].get("labels").is_none());
    }
}
