//! Applies a PATCH body to an object according to its content type.
//!
//! Only JSON merge patch (RFC 7386) is handled here until the dedicated
//! patch module (strategic merge with upstream merge keys, JSON patch)
//! is wired in; strategic merge falls back to merge semantics, which is
//! what kubectl's simple patches (label, annotate, scale) need.

use serde_json::Value;

use super::status::ApiError;

/// The patch types the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

fn merge(original: &Value, patch: &Value) -> Value {
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => {
            let mut out = o.clone();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge(o.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, Value::Object(p)) => merge(
            &Value::Object(Default::default()),
            &Value::Object(p.clone()),
        ),
        (_, p) => p.clone(),
    }
}

/// Applies `patch` (already parsed JSON) to `original`.
pub fn apply(
    kind: &str,
    pt: PatchType,
    original: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let _ = kind;
    match pt {
        PatchType::Merge | PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_type(patch)
                )));
            }
            Ok(merge(original, &strip_directives(patch)))
        }
        PatchType::Json => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the sandbox does not support JSON patch yet; use a merge patch (--type=merge)",
        )),
        PatchType::Apply => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the sandbox does not support server-side apply; use kubectl apply without --server-side",
        )),
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let p = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"replicas": 3}});
        let r = apply("Deployment", PatchType::Merge, &o, &p).unwrap();
        assert_eq!(
            r,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"replicas": 3}})
        );
        assert!(apply("Pod", PatchType::Merge, &o, &json!([1])).is_err());
    }
}
