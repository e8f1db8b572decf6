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
