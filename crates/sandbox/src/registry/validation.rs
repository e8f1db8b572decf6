//! Validation rules several kinds share: DNS names and labels (with
//! upstream's messages), access modes, and Go's `%#v` rendering of maps and
//! selectors that upstream's messages quote.

use serde_json::Value;

use super::Cause;

pub(crate) const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

pub(crate) const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

pub(crate) const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

pub(crate) fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn valid_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(valid_label)
}

pub(crate) fn valid_dns1035(s: &str) -> bool {
    valid_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

pub(crate) fn check_access_modes(modes: &Value, field: &str, out: &mut Vec<Cause>) {
    const OK: &[&str] = &[
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    if let Some(a) = modes.as_array() {
        for m in a {
            let s = m.as_str().unwrap_or("");
            if !OK.contains(&s) {
                out.push(Cause::unsupported(field, s, OK));
            }
        }
    }
}

pub(crate) fn valid_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Go's `%#v` of a `map[string]string`, as upstream prints it in messages.
pub(crate) fn go_map(v: &Value) -> Value {
    let entries: Vec<String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    Value::String(format!("map[string]string{{{}}}", entries.join(", ")))
}

pub(crate) fn go_selector(v: &Value) -> Value {
    Value::String(format!(
        "v1.LabelSelector{{MatchLabels:{}}}",
        go_map(&v["matchLabels"]).as_str().unwrap_or("")
    ))
}

/// The name part of a qualified name (label and annotation keys,
/// finalizers, a StorageClass's provisioner).
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// A label value's rule.
pub(crate) const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Upstream's `IsQualifiedName`: the messages of what is wrong (none when valid).
pub(crate) fn qualified_name_errors(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                &QUALIFIED_NAME_MSG["name part ".len()..]
            )];
        }
    };
    let mut out = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else if !valid_subdomain(p) {
            out.push(format!("prefix part {SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 characters".to_string());
    } else if !qualified_name_part(name) {
        out.push(QUALIFIED_NAME_MSG.to_string());
    }
    out
}

/// Upstream's `validateLocalDescendingPath` (subPath, gitRepo directory):
/// relative, with no `..` element.
pub(crate) fn local_descending_path(path: &str, field: &str, out: &mut Vec<Cause>) {
    let v = Value::String(path.to_string());
    if path.starts_with('/') {
        out.push(Cause::invalid(field, &v, "must be a relative path"));
    }
    if path.split('/').any(|part| part == "..") {
        out.push(Cause::invalid(field, &v, "must not contain '..'"));
    }
}

/// Upstream's `ValidateLocalNonReservedPath` (the paths of a volume's
/// items): a descending path that does not start with `..`.
pub(crate) fn local_non_reserved_path(path: &str, field: &str, out: &mut Vec<Cause>) {
    let before = out.len();
    local_descending_path(path, field, out);
    if out.len() == before && path.starts_with("..") {
        out.push(Cause::invalid(
            field,
            &Value::String(path.to_string()),
            "must not start with '..'",
        ));
    }
}

/// A qualified name's errors as causes on `field` (showing `shown`).
pub(crate) fn check_qualified(value: &str, shown: &str, field: &str, out: &mut Vec<Cause>) {
    for msg in qualified_name_errors(value) {
        out.push(Cause::invalid(
            field,
            &Value::String(shown.to_string()),
            &msg,
        ));
    }
}

/// Upstream's `MaxSecretSize`, which bounds ConfigMaps too.
pub(crate) const MAX_DATA_BYTES: usize = 1024 * 1024;

/// A Secret's or ConfigMap's key (`IsConfigMapKey`), reported on
/// `field[key]`.
pub(crate) fn config_key(key: &str, field: &str, out: &mut Vec<Cause>) {
    let f = format!("{field}[{key}]");
    let v = Value::String(key.to_string());
    if key.len() > 253 {
        out.push(Cause::invalid(
            f.clone(),
            &v,
            "must be no more than 253 characters",
        ));
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        out.push(Cause::invalid(f, &v, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
    } else if key == "." {
        out.push(Cause::invalid(f, &v, "must not be '.'"));
    } else if key == ".." {
        out.push(Cause::invalid(f, &v, "must not be '..'"));
    } else if key.starts_with("..") {
        out.push(Cause::invalid(f, &v, "must not start with '..'"));
    }
}

/// The length of base64 data once decoded (what Go's `[]byte` holds).
pub(crate) fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

/// `immutable: true` Secrets and ConfigMaps: data stays as it is.
pub(crate) fn immutable_data(obj: &Value, old: &Value, fields: &[&str], out: &mut Vec<Cause>) {
    if old["immutable"] != Value::Bool(true) {
        return;
    }
    if obj["immutable"] != Value::Bool(true) {
        out.push(Cause::forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for f in fields {
        if obj[*f] != old[*f] {
            out.push(Cause::forbidden(
                *f,
                "field is immutable when `immutable` is set",
            ));
        }
    }
}

/// `field: Invalid value: <v>: field is immutable` when it changed.
pub(crate) fn immutable(new: &Value, old: &Value, field: &str, out: &mut Vec<Cause>) {
    if new != old {
        out.push(Cause::invalid(field, new, "field is immutable"));
    }
}

/// Access modes: at least one where `required`, only known ones, and
/// ReadWriteOncePod alone.
pub(crate) fn validate_access_modes(
    modes: &Value,
    field: &str,
    required: Option<&str>,
    out: &mut Vec<Cause>,
) {
    let list = modes.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty()
        && let Some(detail) = required
    {
        out.push(if detail.is_empty() {
            Cause::required(field)
        } else {
            Cause::required_because(field, detail)
        });
    }
    check_access_modes(modes, field, out);
    if list.len() > 1 && list.iter().any(|m| m == "ReadWriteOncePod") {
        out.push(Cause::forbidden(
            field,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// A storage quantity that must be above zero.
pub(crate) fn positive_quantity(q: &Value, field: &str, out: &mut Vec<Cause>) {
    match crate::machinery::meta::quantity(q) {
        Some(n) if n > 0.0 => {}
        Some(_) => out.push(Cause::invalid(field, q, "must be greater than zero")),
        None => out.push(Cause::invalid(
            field,
            q,
            "must be a valid resource quantity",
        )),
    }
}

/// `field: Invalid value: <repr>: detail` where `repr` is already Go's
/// `%#v` of the value (a struct, a map), printed as is.
pub(crate) fn invalid_go(field: impl Into<String>, repr: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {repr}: {detail}"),
    }
}

/// `ValidateNonnegativeField`: `field: Invalid value: -1: must be greater
/// than or equal to 0` when the number is negative.
pub(crate) fn nonnegative(v: &Value, field: &str, out: &mut Vec<Cause>) {
    if v.as_i64().is_some_and(|n| n < 0) {
        out.push(Cause::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// The value of an int-or-percent (`3`, `"25%"`): its number, 0 when unset
/// or malformed (upstream's `getIntOrPercentValue`).
pub(crate) fn int_or_percent_value(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
pub(crate) fn int_or_percent(v: &Value, field: &str, out: &mut Vec<Cause>) {
    match v {
        Value::String(s) => {
            let digits = s.strip_suffix('%').unwrap_or("");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                out.push(Cause::invalid(field, v, PERCENT_MSG));
            } else if int_or_percent_value(v) > 100 {
                out.push(Cause::invalid(field, v, "must not be greater than 100%"));
            }
        }
        Value::Number(_) => nonnegative(v, field, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_and_paths_as_upstream_words_them() {
        assert!(qualified_name_errors("example.com/my-key").is_empty());
        assert_eq!(qualified_name_errors("bad key"), vec![QUALIFIED_NAME_MSG]);
        assert_eq!(
            qualified_name_errors("/x"),
            vec!["prefix part must be non-empty"]
        );
        assert!(qualified_name_errors("a/b/c")[0].starts_with("a qualified name must consist of"));
        let mut out = Vec::new();
        local_descending_path("../x", "f", &mut out);
        local_descending_path("/abs", "f", &mut out);
        local_non_reserved_path("..data", "g", &mut out);
        let msgs: Vec<&str> = out.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "Invalid value: \"../x\": must not contain '..'",
                "Invalid value: \"/abs\": must be a relative path",
                "Invalid value: \"..data\": must not start with '..'",
            ]
        );
    }
}
