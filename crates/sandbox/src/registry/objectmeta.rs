//! The metadata every kind has, validated as upstream's
//! `ValidateObjectMeta` and `ValidateObjectMetaUpdate` do: the name (by
//! the kind's rule) or generateName, label keys and values, annotation
//! keys and their total size (256 KiB), finalizers, owner references,
//! and what an update may not change.

use serde_json::{Value, json};

use super::validation::{
    DNS1035_MSG, LABEL_MSG, LABEL_VALUE_MSG, SUBDOMAIN_MSG, check_qualified, valid_dns1035,
    valid_label, valid_label_value, valid_subdomain,
};
use super::{Cause, NameRule};

/// Upstream's `TotalAnnotationSizeLimitB`.
pub(crate) const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The finalizers of the core group that need no domain.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// A name (or, with `prefix`, a generateName whose trailing `-` is
/// masked) against the kind's rule.
fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Option<String> {
    let checked = if prefix {
        name.strip_suffix('-').unwrap_or(name)
    } else {
        name
    };
    let (ok, msg, max) = match rule {
        NameRule::Label => (valid_label(checked), LABEL_MSG, 63),
        NameRule::Dns1035 => (valid_dns1035(checked), DNS1035_MSG, 63),
        NameRule::Subdomain => (valid_subdomain(checked), SUBDOMAIN_MSG, 253),
        // Upstream's ValidatePathSegmentName (RBAC names like
        // `system:basic-user`).
        NameRule::PathSegment => (
            (prefix || !matches!(checked, "." | "..")) && !checked.contains(['/', '%']),
            "may not be '.' or '..' and may not contain '/' or '%'",
            usize::MAX,
        ),
    };
    if checked.len() > max {
        Some(format!("must be no more than {max} characters"))
    } else if !ok {
        // A valid subdomain that is not a valid label only lacks the dots.
        if rule == NameRule::Label && valid_subdomain(checked) {
            Some("must not contain dots".to_string())
        } else {
            Some(msg.to_string())
        }
    } else {
        None
    }
}

/// `metadata` of a new or changed object.
pub(crate) fn validate(
    rule: NameRule,
    core: bool,
    obj: &Value,
    old: Option<&Value>,
    out: &mut Vec<Cause>,
) {
    let meta = &obj["metadata"];
    let name = meta["name"].as_str().unwrap_or("");
    let generate = meta["generateName"].as_str().unwrap_or("");
    if name.is_empty() && generate.is_empty() {
        out.push(Cause::required_because(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if !generate.is_empty()
        && let Some(msg) = name_errors(rule, generate, true)
    {
        out.push(Cause::invalid(
            "metadata.generateName",
            &json!(generate),
            &msg,
        ));
    }
    if !name.is_empty()
        && old.is_none()
        && let Some(msg) = name_errors(rule, name, false)
    {
        out.push(Cause::invalid("metadata.name", &json!(name), &msg));
    }
    labels(&meta["labels"], out);
    annotations(&meta["annotations"], out);
    finalizers(core, &meta["finalizers"], old, obj, out);
    owner_references(&meta["ownerReferences"], out);
    if meta["generation"].as_i64().is_some_and(|g| g < 0) {
        out.push(Cause::invalid(
            "metadata.generation",
            &meta["generation"],
            "must be greater than or equal to 0",
        ));
    }
}

fn labels(labels: &Value, out: &mut Vec<Cause>) {
    for (k, v) in labels.as_object().into_iter().flatten() {
        check_qualified(k, k, "metadata.labels", out);
        match v.as_str() {
            None => out.push(Cause::invalid(
                "metadata.labels",
                v,
                "label values must be strings",
            )),
            Some(s) if s.len() > 63 => out.push(Cause::invalid(
                "metadata.labels",
                v,
                "must be no more than 63 characters",
            )),
            Some(s) if !valid_label_value(s) => {
                out.push(Cause::invalid("metadata.labels", v, LABEL_VALUE_MSG));
            }
            Some(_) => {}
        }
    }
}

fn annotations(annotations: &Value, out: &mut Vec<Cause>) {
    let mut total = 0;
    for (k, v) in annotations.as_object().into_iter().flatten() {
        // Keys are checked lower-cased, reported as given.
        check_qualified(&k.to_lowercase(), k, "metadata.annotations", out);
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > MAX_ANNOTATIONS_BYTES {
        out.push(Cause::too_long(
            "metadata.annotations",
            MAX_ANNOTATIONS_BYTES,
        ));
    }
}

fn finalizers(core: bool, list: &Value, old: Option<&Value>, obj: &Value, out: &mut Vec<Cause>) {
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, f) in names.iter().enumerate() {
        let field = format!("metadata.finalizers[{i}]");
        check_qualified(f, f, &field, out);
        if core && !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
            out.push(Cause::invalid(
                field,
                &json!(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        out.push(Cause::invalid(
            "metadata.finalizers",
            &json!(format!("[]string{{{}}}", quoted(&names))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    // No new finalizers on an object being deleted.
    if let Some(old) = old
        && !old["metadata"]["deletionTimestamp"].is_null()
        && !obj["metadata"]["deletionTimestamp"].is_null()
    {
        let before: Vec<&str> = old["metadata"]["finalizers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let added: Vec<&str> = names
            .iter()
            .copied()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            out.push(Cause::forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted(&added)
                ),
            ));
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn owner_references(refs: &Value, out: &mut Vec<Cause>) {
    let list = refs.as_array().map(Vec::as_slice).unwrap_or_default();
    let field = "metadata.ownerReferences";
    for r in list {
        for (k, what) in [
            ("apiVersion", "version"),
            ("kind", "kind"),
            ("name", "name"),
            ("uid", "uid"),
        ] {
            if r[k].as_str().is_none_or(str::is_empty) {
                out.push(Cause::invalid(
                    format!("{field}.{k}"),
                    &json!(""),
                    &format!("{what} must not be empty"),
                ));
            }
        }
    }
    let controllers: Vec<String> = list
        .iter()
        .filter(|r| r["controller"] == json!(true))
        .map(|r| {
            format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    if controllers.len() > 1 {
        out.push(Cause::invalid(
            field,
            refs,
            &format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(obj: Value) -> Vec<String> {
        let mut out = Vec::new();
        validate(NameRule::Subdomain, true, &obj, None, &mut out);
        out.iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn labels_annotations_and_finalizers() {
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let c = causes(
            json!({"metadata": {"name": "a", "annotations": {"note": big},
            "labels": {"bad key": "ok", "k": "-bad-"}, "finalizers": ["mine"]}}),
        );
        assert!(
            c.contains(
                &"metadata.annotations: Too long: may not be more than 262144 bytes".to_string()
            ),
            "{c:?}"
        );
        assert!(c.iter().any(|m| m.starts_with(
            "metadata.labels: Invalid value: \"bad key\": name part must consist of"
        )));
        assert!(c.iter().any(|m| {
            m.starts_with("metadata.labels: Invalid value: \"-bad-\": a valid label must be")
        }));
        assert!(c.contains(&"metadata.finalizers[0]: Invalid value: \"mine\": name is neither a standard finalizer name nor is it fully qualified".to_string()));
        assert_eq!(
            causes(json!({"metadata": {}})),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        assert!(causes(json!({"metadata": {"generateName": "web-"}})).is_empty());
        assert_eq!(
            causes(json!({"metadata": {"generateName": "Web-"}}))[0],
            format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}")
        );
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let old =
            json!({"metadata": {"name": "a", "deletionTimestamp": "t", "finalizers": ["a.io/x"]}});
        let new = json!({"metadata": {"name": "a", "deletionTimestamp": "t", "finalizers": ["a.io/x", "b.io/y"]}});
        let mut out = Vec::new();
        validate(NameRule::Subdomain, true, &new, Some(&old), &mut out);
        assert_eq!(
            out[0].message,
            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}"
        );
    }
}
