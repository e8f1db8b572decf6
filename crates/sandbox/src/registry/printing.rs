//! What every kind's printer uses: upstream's column type, and reading
//! cells out of an object as kubectl's printers format them.

use serde_json::Value;

pub(crate) use kubeprint::human_duration;

use crate::machinery::selectors::selector_string;

/// (name, type, priority): a column as `columnDefinitions` lists it
/// (priority 1 = only with `-o wide`).
pub(crate) type Col = (&'static str, &'static str, u8);

pub(crate) const NAME: Col = ("Name", "string", 0);
pub(crate) const AGE: Col = ("Age", "string", 0);

pub(crate) trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() {
            other.to_string()
        } else {
            self
        }
    }
}

pub(crate) fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse().ok()
}

pub(crate) fn since(v: &Value, now: jiff::Timestamp) -> String {
    match parse_time(v) {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

pub(crate) fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub(crate) fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `RWO,ROX,RWX,RWOP` in upstream's order.
pub(crate) fn access_modes(modes: &Value) -> String {
    let modes: Vec<&str> = arr(modes).iter().filter_map(Value::as_str).collect();
    kubeprint::access_modes(&modes)
}

pub(crate) fn template_columns(spec: &Value) -> (String, String, String) {
    let cs = arr(&spec["template"]["spec"]["containers"]);
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    let sel = selector_string(&spec["selector"]);
    (names.join(","), images.join(","), or_none(sel))
}

pub(crate) fn unset(v: String) -> String {
    if v.is_empty() { "<unset>".into() } else { v }
}

pub(crate) fn storage_class(o: &Value) -> String {
    let beta = &o["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"];
    if beta.is_string() {
        s(beta)
    } else {
        s(&o["spec"]["storageClassName"])
    }
}

/// `k=v,k2=v2` sorted by key, as `labels.FormatLabels` prints.
pub(crate) fn format_labels(m: &Value) -> String {
    let Some(m) = m.as_object() else {
        return String::new();
    };
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect();
    pairs.sort();
    pairs.join(",")
}
