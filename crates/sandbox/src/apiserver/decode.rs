//! Request bodies decoded as upstream's handlers decode them: JSON, YAML
//! or protobuf by `Content-Type`, checked against the URL's kind and the
//! resource's schema (type errors are 400; unknown fields follow
//! `fieldValidation`: an error when `Strict`, a `Warning` header when
//! `Warn`, dropped either way), and named and namespaced from the URL.

use serde_json::{Value, json};

use crate::apiserver::handlers::{Req, Target};
use crate::apiserver::options::FieldValidation;
use crate::apiserver::protobuf;
use crate::machinery::resources::ResourceDef;
use crate::machinery::status::ApiError;
use crate::registry::typed;

/// The media types a create or update body may come in.
const ACCEPTED: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// A body as JSON, whatever it was sent as.
pub fn json_or_yaml(req: &Req<'_>) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(req.content_type) {
        return protobuf::decode(&req.body).map_err(|e| {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        });
    }
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "" | "application/json" | "*/*" => serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "couldn't get version/kind; json parse error: {}",
                go_json_error(&req.body, &e)
            ))
        }),
        "application/yaml" | "application/x-yaml" | "text/yaml" => yaml(&req.body),
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {ACCEPTED} (got {other:?})"
            ),
        )),
    }
}

/// A YAML (or JSON, which is YAML) document as JSON.
pub fn yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the YAML body is not valid UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// A JSON syntax error as Go's encoding/json words it.
fn go_json_error(body: &[u8], e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of JSON input".to_string(),
        Category::Syntax => {
            // The offending character, from serde's line and column.
            let line = body
                .split(|b| *b == b'\n')
                .nth(e.line().saturating_sub(1))
                .unwrap_or_default();
            let c = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.chars().nth(e.column().saturating_sub(1)));
            match c {
                Some(c) => format!("invalid character '{c}' looking for beginning of value"),
                None => e.to_string(),
            }
        }
        _ => e.to_string(),
    }
}

/// Decodes a create/update body and checks it names this resource's kind.
pub fn object(res: &ResourceDef, req: &Req<'_>) -> Result<Value, ApiError> {
    let v = json_or_yaml(req)?;
    check_type(res, &v)?;
    Ok(v)
}

/// The body's apiVersion and kind, when given, must be the URL's.
pub fn check_type(res: &ResourceDef, v: &Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::cannot_handle(
            res,
            "the body must be a JSON object",
        ));
    }
    if let Some(kind) = v["kind"].as_str()
        && !kind.is_empty()
        && kind != res.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the body ({kind}) does not match the kind of the URL ({})",
            res.kind
        )));
    }
    if let Some(av) = v["apiVersion"].as_str()
        && !av.is_empty()
        && av != res.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    Ok(())
}

/// Decodes against the schema: type errors are 400; unknown fields are an
/// error with `fieldValidation=Strict`, a warning by default, dropped
/// either way. Answers the warnings.
pub fn check_fields(
    res: &ResourceDef,
    obj: &mut Value,
    mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    let checked = typed::check(res, obj).map_err(|e| ApiError::cannot_handle(res, e))?;
    if checked.unknown.is_empty() {
        return Ok(Vec::new());
    }
    let msgs: Vec<String> = checked
        .unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::cannot_handle(
            res,
            format!("strict decoding error: {}", msgs.join(", ")),
        )),
        FieldValidation::Ignore => {
            typed::prune(obj, &checked.unknown);
            Ok(Vec::new())
        }
        FieldValidation::Warn => {
            typed::prune(obj, &checked.unknown);
            Ok(msgs)
        }
    }
}

/// Fills name and namespace from the URL and checks they agree with the body.
pub fn name_from_url(
    res: &ResourceDef,
    t: &Target,
    name: &str,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match obj["metadata"]["name"].as_str() {
        None | Some("") => obj["metadata"]["name"] = json!(name),
        Some(n) if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
    }
    namespace_from_url(res, t, obj)
}

/// Fills the namespace from the URL and checks it agrees with the body.
pub fn namespace_from_url(res: &ResourceDef, t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !res.namespaced {
        return Ok(());
    }
    let Some(url_ns) = t.ns.as_deref() else {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the URL",
        ));
    };
    match obj["metadata"]["namespace"].as_str() {
        None | Some("") => obj["metadata"]["namespace"] = json!(url_ns),
        Some(n) if n != url_ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Some(_) => {}
    }
    Ok(())
}
