//! Sets of field paths, as structured-merge-diff's `fieldpath.Set`: a
//! trie whose nodes list the path elements that end there (members) and
//! the ones that go deeper (children). Encoded as upstream's `FieldsV1`
//! (`{"f:spec":{"f:replicas":{}}}`, `.` for a node that is also a member)
//! and printed as its paths (`.spec.containers[name="web"].image`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pe {
    /// A field of an object (`f:name`).
    Field(String),
    /// An item of an associative list, by its keys: compact JSON with
    /// sorted keys (`k:{"name":"web"}`).
    Key(String),
    /// An item of a set list, by its value as JSON (`v:"x"`).
    Value(String),
    /// An item of a list by position (`i:0`), when it has no key.
    Index(usize),
}

impl Pe {
    fn encode(&self) -> String {
        match self {
            Pe::Field(f) => format!("f:{f}"),
            Pe::Key(k) => format!("k:{k}"),
            Pe::Value(v) => format!("v:{v}"),
            Pe::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<Pe> {
        let (tag, rest) = s.split_once(':')?;
        Some(match tag {
            "f" => Pe::Field(rest.to_string()),
            "k" => Pe::Key(rest.to_string()),
            "v" => Pe::Value(rest.to_string()),
            "i" => Pe::Index(rest.parse().ok()?),
            _ => return None,
        })
    }

    /// How upstream prints it in a path: `.name`, `[name="web"]`,
    /// `[="x"]`, `[3]`.
    fn display(&self) -> String {
        match self {
            Pe::Field(f) => format!(".{f}"),
            Pe::Key(k) => {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                format!("[{}]", parts.join(","))
            }
            Pe::Value(v) => format!("[={v}]"),
            Pe::Index(i) => format!("[{i}]"),
        }
    }
}

/// A path: the steps from the object's root.
pub type Path = Vec<Pe>;

/// Prints a path as upstream does (`.spec.replicas`).
pub fn path_string(p: &[Pe]) -> String {
    p.iter().map(Pe::display).collect()
}

/// A set of paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<Pe>,
    children: BTreeMap<Pe, Set>,
}

impl Set {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    /// Adds a path (the empty path is not a member of anything).
    pub fn insert(&mut self, path: &[Pe]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether a path is a member.
    pub fn has(&self, path: &[Pe]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The subtree under a path element, if any.
    pub fn child(&self, pe: &Pe) -> Option<&Set> {
        self.children.get(pe)
    }

    /// Whether a member path element here has members below it in `self`.
    pub fn has_below(&self, pe: &Pe) -> bool {
        self.children.get(pe).is_some_and(|c| !c.is_empty())
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out.prune_empty();
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// The paths in both.
    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Only the paths under `pe` (e.g. `status`), or all but them.
    pub fn split(&self, pe: &Pe) -> (Set, Set) {
        let mut inside = Set::default();
        if self.members.contains(pe) {
            inside.members.insert(pe.clone());
        }
        if let Some(c) = self.children.get(pe) {
            inside.children.insert(pe.clone(), c.clone());
        }
        let outside = self.difference(&inside);
        (inside, outside)
    }

    /// The part of the set at or below `path` (the rest dropped).
    pub fn at(&self, path: &[Pe]) -> Set {
        match path {
            [] => self.clone(),
            [last] => self.split(last).0,
            [first, rest @ ..] => {
                let mut out = Set::default();
                if let Some(c) = self.children.get(first) {
                    let below = c.at(rest);
                    if !below.is_empty() {
                        out.children.insert(first.clone(), below);
                    }
                }
                out
            }
        }
    }

    /// Removes the whole subtree of a path element at this level.
    pub fn remove(&mut self, pe: &Pe) {
        self.members.remove(pe);
        self.children.remove(pe);
    }

    /// The subtree at a path element, to change it.
    pub fn child_mut(&mut self, pe: &Pe) -> Option<&mut Set> {
        self.children.get_mut(pe)
    }

    fn prune_empty(&mut self) {
        self.children.retain(|_, c| !c.is_empty());
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let mut steps: BTreeSet<&Pe> = self.members.iter().collect();
        steps.extend(self.children.keys());
        for pe in steps {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(c) = self.children.get(pe) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `FieldsV1` encoding.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for pe in &self.members {
            if !self.has_below(pe) {
                m.insert(pe.encode(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            let mut inner = c.to_fields_v1();
            if self.members.contains(pe)
                && let Some(o) = inner.as_object_mut()
            {
                o.insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(pe.encode(), inner);
        }
        Value::Object(m)
    }

    /// Reads a `FieldsV1` document; None when it is not one.
    pub fn from_fields_v1(v: &Value) -> Option<Set> {
        let obj = v.as_object()?;
        let mut out = Set::default();
        for (k, child) in obj {
            if k == "." {
                continue;
            }
            let pe = Pe::decode(k)?;
            let inner = child.as_object()?;
            if inner.is_empty() || inner.contains_key(".") {
                out.members.insert(pe.clone());
            }
            let sub = Set::from_fields_v1(child)?;
            if !sub.is_empty() {
                out.children.insert(pe, sub);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> Pe {
        Pe::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trips_with_dots() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}});
        let s = Set::from_fields_v1(&v).unwrap();
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(s.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!s.has(&[f("metadata")]));
        assert_eq!(s.to_fields_v1(), v);
        let key = Pe::Key("{\"name\":\"web\"}".into());
        let image = [
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            key,
            f("image"),
        ];
        assert!(s.has(&image));
        assert_eq!(
            path_string(&image),
            ".spec.template.spec.containers[name=\"web\"].image"
        );
        assert_eq!(
            path_string(&[Pe::Key(
                "{\"containerPort\":80,\"protocol\":\"TCP\"}".into()
            )]),
            "[containerPort=80,protocol=\"TCP\"]"
        );
    }

    #[test]
    fn set_algebra() {
        let mut a = Set::default();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = Set::default();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("metadata"), f("labels"), f("x")]);
        assert_eq!(
            a.intersection(&b).paths(),
            vec![vec![f("spec"), f("replicas")]]
        );
        assert_eq!(a.difference(&b).paths(), vec![vec![f("spec"), f("paused")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        let (status, rest) = b.split(&f("metadata"));
        assert_eq!(status.paths().len(), 1);
        assert_eq!(rest.paths(), vec![vec![f("spec"), f("replicas")]]);
        assert!(Set::from_fields_v1(&json!({"x:y": {}})).is_none());
    }
}
