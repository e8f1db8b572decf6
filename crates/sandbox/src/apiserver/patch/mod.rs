//! Applies a PATCH body to an object according to its content type:
//! strategic merge (upstream merge keys), JSON merge and JSON patch, via
//! [`crate::apiserver::patch::formats`].

use serde_json::Value;

pub(crate) mod formats;

use crate::machinery::status::ApiError;
use formats::PatchError;

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

/// The 415 for a PATCH in a media type that is not a patch type.
pub fn unsupported(content_type: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {:?})",
            content_type.split(';').next().unwrap_or("").trim()
        ),
    )
}

/// Decodes a patch body: JSON for the three patch formats, YAML (of which
/// JSON is a part) for server-side apply.
pub fn decode(pt: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    if pt == PatchType::Apply {
        return crate::apiserver::decode::yaml(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {}", e.message)));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies `patch` (already parsed JSON) to `original`, an object of `kind`.
pub fn apply(
    kind: &str,
    pt: PatchType,
    original: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    match pt {
        PatchType::Merge | PatchType::Strategic if !patch.is_object() => {
            Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_type(patch)
            )))
        }
        PatchType::Merge => Ok(formats::json_merge(original, patch)),
        PatchType::Strategic => formats::strategic_merge(original, patch, kind).map_err(to_api),
        PatchType::Json => formats::json_patch(original, patch).map_err(to_api),
        // Objects are applied by the registry's field managers; what
        // comes here is a subresource's small document (a Scale).
        PatchType::Apply => Ok(formats::json_merge(original, patch)),
    }
}

fn to_api(e: PatchError) -> ApiError {
    match e {
        // Upstream answers every failed JSON patch with the generic 422
        // (`NewGenericServerResponse`), whatever went wrong.
        PatchError::JsonPatch(_) => {
            let mut e = ApiError::new(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            );
            e.details = Some(serde_json::json!({}));
            e
        }
        PatchError::TooManyOperations(_) => ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {e}"),
        ),
        other => ApiError::bad_request(other.to_string()),
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
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let smp = json!({"spec": {"containers": [{"name": "b", "image": "z"}]}});
        let r = apply("Pod", PatchType::Strategic, &pod, &smp).unwrap();
        assert_eq!(r["spec"]["containers"][0]["image"], "x");
        assert_eq!(r["spec"]["containers"][1]["image"], "z");
        let ops = json!([{"op": "test", "path": "/spec/containers/0/image", "value": "nope"}]);
        assert_eq!(
            apply("Pod", PatchType::Json, &pod, &ops).unwrap_err().code,
            422
        );
    }
}

#[cfg(test)]
mod kubectl_patches;
