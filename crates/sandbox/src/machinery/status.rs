//! Errors as upstream-shaped `Status` objects (kind, apiVersion, status,
//! message, reason, details, code), so kubectl and kube-rs print what they
//! would print against a real cluster.

use serde_json::{Value, json};

use crate::machinery::resources::ResourceDef;

/// An API error that becomes a `Status` response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

impl std::error::Error for ApiError {}

/// One entry of `details.causes` in an `Invalid` error.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    /// `field: Required value`.
    pub fn required(field: impl Into<String>) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".to_string(),
        }
    }

    /// `field: Invalid value: "v": detail`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Cause {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {shown}: {detail}"),
        }
    }

    /// `field: Unsupported value: "v": supported values: "a", "b"`.
    pub fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Cause {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    /// `field: Required value: detail`.
    pub fn required_because(field: impl Into<String>, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: format!("Required value: {detail}"),
        }
    }

    /// `field: Too long: may not be more than N bytes` (the value is never shown).
    pub fn too_long(field: impl Into<String>, max: usize) -> Cause {
        Cause {
            reason: "FieldValueTooLong",
            field: field.into(),
            message: format!("Too long: may not be more than {max} bytes"),
        }
    }

    /// `field: Not found: "v"`.
    pub fn not_found(field: impl Into<String>, value: &Value) -> Cause {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Cause {
            reason: "FieldValueNotFound",
            field: field.into(),
            message: format!("Not found: {shown}"),
        }
    }

    /// `field: Duplicate value: v`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Cause {
        Cause {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {value}"),
        }
    }
}

fn details(res: &ResourceDef, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        d["group"] = json!(res.group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(res: &ResourceDef, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} {name:?} not found", res.qualified()),
            details: Some(details(res, name)),
        }
    }

    pub fn already_exists(res: &ResourceDef, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} {name:?} already exists", res.qualified()),
            details: Some(details(res, name)),
        }
    }

    pub fn conflict(res: &ResourceDef, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                res.qualified()
            ),
            details: Some(details(res, name)),
        }
    }

    /// A 409 Conflict with a custom explanation (UID precondition, terminating namespace).
    pub fn conflict_msg(res: &ResourceDef, name: &str, why: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                res.qualified()
            ),
            details: Some(details(res, name)),
        }
    }

    /// 422 Invalid: `Pod "x" is invalid: [a, b]` (one cause is printed without brackets).
    pub fn invalid(res: &ResourceDef, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid_kind(res.group, res.kind, name, causes)
    }

    /// 422 Invalid for a group and kind (`CreateOptions.meta.k8s.io "" is
    /// invalid: ...`); duplicate causes are reported once, as upstream's
    /// aggregate does.
    pub fn invalid_kind(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let mut unique: Vec<Cause> = Vec::with_capacity(causes.len());
        for c in causes {
            if !unique.contains(&c) {
                unique.push(c);
            }
        }
        let parts: Vec<String> = unique
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if parts.len() == 1 {
            parts.join("")
        } else {
            format!("[{}]", parts.join(", "))
        };
        let mut d = json!({"kind": kind});
        if !name.is_empty() {
            d["name"] = json!(name);
        }
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d["causes"] = unique
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        let gk = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message: if unique.is_empty() {
                format!("{gk} {name:?} is invalid")
            } else {
                format!("{gk} {name:?} is invalid: {joined}")
            },
            details: Some(d),
        }
    }

    /// 403 Forbidden (`admission.NewForbidden`): `pods "x" is forbidden: why`
    /// (`pods is forbidden: why` without a name).
    pub fn forbidden(res: &ResourceDef, name: &str, why: &str) -> ApiError {
        let message = if name.is_empty() {
            format!("{} is forbidden: {why}", res.qualified())
        } else {
            format!("{} {name:?} is forbidden: {why}", res.qualified())
        };
        ApiError {
            code: 403,
            reason: "Forbidden",
            message,
            details: Some(details(res, name)),
        }
    }

    /// Adds a cause to `details.causes`.
    pub fn add_cause(&mut self, c: Cause) {
        let d = self.details.get_or_insert_with(|| json!({}));
        if !d["causes"].is_array() {
            d["causes"] = json!([]);
        }
        if let Some(list) = d["causes"].as_array_mut() {
            list.push(json!({"reason": c.reason, "message": c.message, "field": c.field}));
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The 400 that upstream answers for bodies it cannot decode.
    pub fn cannot_handle(res: &ResourceDef, why: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {why}",
            res.kind, res.version, res.kind
        ))
    }

    /// 405, as upstream's router answers (with empty details).
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(405, "MethodNotAllowed", message);
        e.details = Some(json!({}));
        e
    }

    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 500 InternalError (`NewInternalError`): the cause in the details.
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        let mut e = ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        );
        e.details = Some(json!({"causes": [{"message": message}]}));
        e
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// The 404 of a path nothing serves. Its `details` are empty, not
    /// absent: kubectl (`debug`) reads them to tell a missing route from a
    /// missing object.
    pub fn path_not_found() -> ApiError {
        let mut e = ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        // Upstream's field order: kind, apiVersion, metadata, status,
        // message, reason (omitted when unknown), details, code.
        let mut s = serde_json::Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        if !self.reason.is_empty() {
            s.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            s.insert("details".into(), d.clone());
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    #[test]
    fn upstream_wording() {
        let e = ApiError::not_found(&resources::PODS, "x");
        assert_eq!(e.message, "pods \"x\" not found");
        let e = ApiError::not_found(&resources::DEPLOYMENTS, "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        assert_eq!(e.to_status()["details"]["group"], "apps");
        let e = ApiError::invalid(
            &resources::PODS,
            "x",
            vec![Cause::required("spec.containers")],
        );
        assert_eq!(
            e.message,
            "Pod \"x\" is invalid: spec.containers: Required value"
        );
        assert_eq!(e.to_status()["code"], 422);
    }
}
