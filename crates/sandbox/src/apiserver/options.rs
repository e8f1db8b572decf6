//! The options of a write, read and checked as upstream's handlers do
//! before touching any object: `dryRun`, `fieldManager`,
//! `fieldValidation` and `force` from the query (CreateOptions,
//! UpdateOptions, PatchOptions), and DeleteOptions from the body — JSON,
//! YAML or protobuf — or, when there is none, from the query. Refusals
//! are upstream's `422 <Kind>Options.meta.k8s.io "" is invalid: ...`.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::machinery::status::{ApiError, Cause};
use crate::registry::deletion::{DeleteOptions, Propagation};
use crate::storage::store::Preconditions;

/// The longest field manager name upstream accepts.
const MAX_MANAGER_BYTES: usize = 128;

/// How unknown fields in a body are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// A create's, update's or patch's options.
#[derive(Debug, Clone)]
pub struct WriteQuery {
    pub dry_run: bool,
    /// `fieldManager` as given (None: the User-Agent's program name).
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// `force` (apply patches only).
    pub force: bool,
}

/// Which options a write carries: the name in upstream's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsKind {
    Create,
    Update,
    /// A patch; `apply` is a server-side apply patch.
    Patch {
        apply: bool,
    },
}

impl OptionsKind {
    fn name(self) -> &'static str {
        match self {
            OptionsKind::Create => "CreateOptions",
            OptionsKind::Update => "UpdateOptions",
            OptionsKind::Patch { .. } => "PatchOptions",
        }
    }
}

fn invalid(kind: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid_kind("meta.k8s.io", kind, "", causes)
}

/// `dryRun` must be `All` (the only value upstream knows) when given.
fn dry_run(values: &[&str], causes: &mut Vec<Cause>) -> bool {
    if values.is_empty() {
        return false;
    }
    if values.iter().any(|v| *v != "All") {
        let list: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: "dryRun".into(),
            message: format!(
                "Unsupported value: []string{{{}}}: supported values: \"All\"",
                list.join(", ")
            ),
        });
        return false;
    }
    true
}

/// The values of a query parameter (`dryRun=All&dryRun=All`, or the
/// single value the parsed query kept).
fn values<'a>(query: &'a HashMap<String, String>, key: &str) -> Vec<&'a str> {
    match query.get(key) {
        Some(v) if v.is_empty() => Vec::new(),
        Some(v) => v.split(',').collect(),
        None => Vec::new(),
    }
}

fn check_manager(manager: &str, causes: &mut Vec<Cause>) {
    if manager.len() > MAX_MANAGER_BYTES {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            field: "fieldManager".into(),
            message: format!("Too long: may not be more than {MAX_MANAGER_BYTES} bytes"),
        });
    }
    if let Some((i, c)) = manager.char_indices().find(|(_, c)| c.is_control()) {
        causes.push(Cause::invalid(
            "fieldManager",
            &json!(manager),
            &format!("invalid character U+{:04X} (at position {i})", c as u32),
        ));
    }
}

/// Reads and checks a write's query options.
pub fn write_query(
    kind: OptionsKind,
    query: &HashMap<String, String>,
) -> Result<WriteQuery, ApiError> {
    let mut causes = Vec::new();
    let dry_run = dry_run(&values(query, "dryRun"), &mut causes);
    let field_manager = query.get("fieldManager").cloned();
    if let Some(m) = &field_manager {
        check_manager(m, &mut causes);
    }
    let field_validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            causes.push(Cause::unsupported(
                "fieldValidation",
                other,
                &["", "Ignore", "Strict", "Warn"],
            ));
            FieldValidation::Warn
        }
    };
    let force = match query.get("force").map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some(_) => Some(false),
    };
    if let OptionsKind::Patch { apply } = kind {
        if apply && field_manager.as_deref().is_none_or(str::is_empty) {
            causes.push(Cause {
                reason: "FieldValueRequired",
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            });
        }
        if !apply && force.is_some() {
            causes.push(Cause::forbidden(
                "force",
                "may not be specified for non-apply patch",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(invalid(kind.name(), causes));
    }
    Ok(WriteQuery {
        dry_run,
        field_manager,
        field_validation,
        force: force.unwrap_or(false),
    })
}

/// The field manager of a write: `fieldManager`, else the User-Agent's
/// program name (up to its first `/`, printable, at most 128 bytes), as
/// upstream's `managerOrUserAgent`.
pub fn manager_or_user_agent(field_manager: Option<&str>, user_agent: &str) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let program = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in program.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// DeleteOptions: from the body when there is one (JSON, YAML or
/// protobuf, any group's `DeleteOptions`), else from the query.
pub fn delete_options(
    body: Option<&Value>,
    query: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let from_query;
    let doc = match body {
        Some(b) => {
            if let Some(kind) = b["kind"].as_str().filter(|k| !k.is_empty())
                && kind != "DeleteOptions"
            {
                return Err(ApiError::new(
                    500,
                    "",
                    "decoded object cannot be converted to DeleteOptions",
                ));
            }
            b
        }
        None => {
            from_query = query_delete_options(query)?;
            &from_query
        }
    };
    let mut causes = Vec::new();
    let dry: Vec<&str> = doc["dryRun"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut opts = DeleteOptions {
        dry_run: dry_run(&dry, &mut causes),
        grace_period_seconds: doc["gracePeriodSeconds"].as_i64(),
        orphan_dependents: doc["orphanDependents"].as_bool(),
        preconditions: Preconditions {
            uid: doc["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: doc["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
        },
        ..DeleteOptions::default()
    };
    let policy = doc["propagationPolicy"].as_str();
    if let (Some(p), Some(_)) = (policy, opts.orphan_dependents) {
        causes.push(Cause::invalid(
            "propagationPolicy",
            &json!(p),
            "orphanDependents and deletionPropagation cannot be both set",
        ));
    }
    opts.propagation = match policy {
        None => opts.orphan_dependents.map(|o| {
            if o {
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        }),
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            causes.push(Cause::unsupported(
                "propagationPolicy",
                other,
                &["Foreground", "Background", "Orphan", "nil"],
            ));
            None
        }
    };
    if !causes.is_empty() {
        return Err(invalid("DeleteOptions", causes));
    }
    Ok(opts)
}

/// DeleteOptions from the query string (`?dryRun=All&gracePeriodSeconds=0`).
fn query_delete_options(query: &HashMap<String, String>) -> Result<Value, ApiError> {
    let mut doc = json!({});
    let dry = values(query, "dryRun");
    if !dry.is_empty() {
        doc["dryRun"] = json!(dry);
    }
    if let Some(g) = query.get("gracePeriodSeconds") {
        let n: i64 = g.parse().map_err(|_| {
            ApiError::bad_request(format!("strconv.ParseInt: parsing {g:?}: invalid syntax"))
        })?;
        doc["gracePeriodSeconds"] = json!(n);
    }
    if let Some(p) = query.get("propagationPolicy") {
        doc["propagationPolicy"] = json!(p);
    }
    if let Some(o) = query.get("orphanDependents") {
        doc["orphanDependents"] = json!(o == "true" || o == "1");
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn dry_run_and_managers_as_upstream_checks_them() {
        assert!(
            write_query(OptionsKind::Create, &q(&[("dryRun", "All")]))
                .unwrap()
                .dry_run
        );
        let e = write_query(OptionsKind::Create, &q(&[("dryRun", "foo")])).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"foo\"}: supported values: \"All\""
        );
        let e = write_query(OptionsKind::Patch { apply: true }, &q(&[])).unwrap_err();
        assert_eq!(
            e.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        );
        let e = write_query(
            OptionsKind::Patch { apply: false },
            &q(&[("force", "true")]),
        )
        .unwrap_err();
        assert!(
            e.message
                .ends_with("force: Forbidden: may not be specified for non-apply patch")
        );
        assert_eq!(
            manager_or_user_agent(None, "kubectl/v1.35.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(manager_or_user_agent(Some("helm"), "x/1"), "helm");
    }

    #[test]
    fn delete_options_body_wins_over_the_query() {
        let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"],
            "propagationPolicy": "Foreground"});
        let o = delete_options(Some(&body), &q(&[("propagationPolicy", "Orphan")])).unwrap();
        assert!(o.dry_run);
        assert_eq!(o.propagation, Some(Propagation::Foreground));
        let o =
            delete_options(None, &q(&[("dryRun", "All"), ("gracePeriodSeconds", "0")])).unwrap();
        assert!(o.dry_run);
        assert_eq!(o.grace_period_seconds, Some(0));
        let both = json!({"orphanDependents": true, "propagationPolicy": "Background"});
        let e = delete_options(Some(&both), &q(&[])).unwrap_err();
        assert_eq!(
            e.message,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Background\": orphanDependents and deletionPropagation cannot be both set"
        );
        let bad = json!({"propagationPolicy": "Sideways"});
        assert!(
            delete_options(Some(&bad), &q(&[]))
                .unwrap_err()
                .message
                .contains("supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")
        );
        let other = json!({"kind": "Pod"});
        assert_eq!(delete_options(Some(&other), &q(&[])).unwrap_err().code, 500);
    }
}
