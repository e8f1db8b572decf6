//! Label selectors (equality- and set-based, as strings and as
//! `LabelSelector` objects) and field selectors.

use serde_json::Value;

use crate::machinery::stored::Obj;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),!h,i`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = parse_requirement(part)
                .ok_or_else(|| format!("unable to parse requirement: {part:?}"))?;
            if !valid_key(&req.0) {
                return Err(format!(
                    "unable to parse requirement: invalid label key {:?}",
                    req.0
                ));
            }
            reqs.push(req);
        }
        Ok(LabelSelector { reqs })
    }

    /// Builds one from a `LabelSelector` object (matchLabels and matchExpressions).
    /// An empty object selects everything; a null one selects nothing.
    pub fn from_object(v: &Value) -> Option<LabelSelector> {
        if !v.is_object() {
            return None;
        }
        let mut reqs = Vec::new();
        if let Some(m) = v["matchLabels"].as_object() {
            for (k, val) in m {
                reqs.push((k.clone(), Op::Eq(val.as_str().unwrap_or("").to_string())));
            }
        }
        for e in v["matchExpressions"].as_array().into_iter().flatten() {
            let key = e["key"].as_str().unwrap_or("").to_string();
            let values: Vec<String> = e["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let op = match e["operator"].as_str().unwrap_or("") {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::NotExists,
                _ => return None,
            };
            reqs.push((key, op));
        }
        Some(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether labels (a JSON object or null) match.
    pub fn matches(&self, labels: &Value) -> bool {
        self.reqs.iter().all(|(k, op)| {
            let v = labels.get(k).and_then(Value::as_str);
            match op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let rest = rest.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn parse_requirement(part: &str) -> Option<(String, Op)> {
    if let Some(k) = part.strip_prefix('!') {
        return Some((k.trim().to_string(), Op::NotExists));
    }
    for (sep, neg) in [(" notin ", true), (" in ", false)] {
        if let Some((k, rest)) = part.split_once(sep) {
            let set = parse_set(rest)?;
            let op = if neg { Op::NotIn(set) } else { Op::In(set) };
            return Some((k.trim().to_string(), op));
        }
    }
    for (sep, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = part.split_once(sep) {
            let k = k.trim().to_string();
            let v = v.trim().to_string();
            return Some(match kind {
                0 => (k, Op::NotEq(v)),
                1 => (k, Op::Eq(v)),
                2 => (k, Op::Gt(v.parse().ok()?)),
                _ => (k, Op::Lt(v.parse().ok()?)),
            });
        }
    }
    if part.contains(' ') || part.contains('(') {
        return None;
    }
    Some((part.to_string(), Op::Exists))
}

/// Whether a `LabelSelector` object selects the given labels (null selects nothing).
pub fn label_selector_matches(selector: &Value, labels: &Value) -> bool {
    LabelSelector::from_object(selector).is_some_and(|s| !s.is_empty() && s.matches(labels))
}

/// A parsed field selector (`a=b,c!=d`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Fields upstream lets clients select on (beyond metadata.name/namespace).
const FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.podIP",
    "status.nominatedNodeName",
    "spec.unschedulable",
    "spec.claimRef.name",
    "spec.claimRef.namespace",
    "spec.volumeName",
    "type",
    "reason",
    "source",
    "reportingComponent",
    "status.successful",
];

impl FieldSelector {
    /// The name this selector pins (`metadata.name=x`), if any.
    #[cfg(test)]
    pub fn pinned_name(&self) -> Option<&str> {
        self.reqs
            .iter()
            .find(|(k, eq, _)| k == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let k = k.trim();
            if !FIELDS.contains(&k)
                && !k.starts_with("involvedObject.")
                && !k.starts_with("regarding.")
            {
                return Err(format!("field label not supported: {k}"));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(path, eq, want)| {
            let mut v = obj;
            for seg in path.split('.') {
                v = &v[seg];
            }
            let got = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

/// Whether a stored object passes both selectors; it is parsed only when
/// one of them is given.
pub fn selects(label: &LabelSelector, field: &FieldSelector, obj: &Obj) -> bool {
    if label.is_empty() && field.is_empty() {
        return true;
    }
    let v = obj.value();
    label.matches(&v["metadata"]["labels"]) && field.matches(&v)
}

/// A LabelSelector object as a selector string (`app=web,tier in (a,b)`).
pub fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("");
        let vals: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e["operator"].as_str().unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let l = json!({"app": "web", "tier": "front", "n": "3"});
        for (s, want) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier,!missing", true),
            ("missing", false),
            ("n>2", true),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(s).unwrap().matches(&l), want, "{s}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        let sel = json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]});
        assert!(label_selector_matches(&sel, &l));
        assert!(!label_selector_matches(&Value::Null, &l));
    }

    #[test]
    fn field_selectors() {
        let o = json!({"metadata": {"name": "a", "namespace": "d"}, "status": {"phase": "Running"},
            "involvedObject": {"kind": "Pod"}});
        assert!(
            FieldSelector::parse("metadata.name=a,status.phase!=Failed")
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("spec.nodeName=").unwrap().matches(&o));
        assert!(
            FieldSelector::parse("involvedObject.kind=Pod")
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("foo=bar").is_err());
        assert_eq!(
            FieldSelector::parse("metadata.name=a")
                .unwrap()
                .pinned_name(),
            Some("a")
        );
    }
}
