//! Values of the emulated PostgreSQL: how they are stored, compared,
//! converted between types, and written in PostgreSQL's text format (what
//! psql prints and what goes over the wire).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::sql::SqlType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "lowercase")]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `numeric`, kept as its decimal text.
    Numeric(String),
    Text(String),
    /// `timestamptz`: an instant.
    Timestamptz(jiff::Timestamp),
    /// `timestamp` without time zone.
    Timestamp(jiff::civil::DateTime),
    Date(jiff::civil::Date),
    /// `json`/`jsonb`, as text.
    Json(String),
}

/// A conversion or comparison failure, as PostgreSQL words it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub code: &'static str,
    pub message: String,
}

impl ValueError {
    fn invalid(ty: SqlType, text: &str) -> Self {
        let name = match ty {
            SqlType::Int2 => "smallint",
            SqlType::Int4 => "integer",
            SqlType::Int8 => "bigint",
            SqlType::Timestamptz => "timestamp with time zone",
            SqlType::Timestamp => "timestamp",
            other => other.display_name(),
        };
        Self {
            code: "22P02",
            message: format!("invalid input syntax for type {name}: \"{text}\""),
        }
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type this value has on its own (for results of expressions).
    pub fn natural_type(&self) -> SqlType {
        match self {
            Value::Null => SqlType::Text,
            Value::Bool(_) => SqlType::Bool,
            Value::Int(n) if i32::try_from(*n).is_ok() => SqlType::Int4,
            Value::Int(_) => SqlType::Int8,
            Value::Float(_) => SqlType::Float8,
            Value::Numeric(_) => SqlType::Numeric,
            Value::Text(_) => SqlType::Text,
            Value::Timestamptz(_) => SqlType::Timestamptz,
            Value::Timestamp(_) => SqlType::Timestamp,
            Value::Date(_) => SqlType::Date,
            Value::Json(_) => SqlType::Json,
        }
    }

    /// PostgreSQL's text output of the value (None for NULL).
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Numeric(s) => s.clone(),
            Value::Text(s) | Value::Json(s) => s.clone(),
            Value::Timestamptz(ts) => format_timestamptz(*ts),
            Value::Timestamp(dt) => format_datetime(*dt),
            Value::Date(d) => d.strftime("%Y-%m-%d").to_string(),
        })
    }

    /// The value as JSON, as `to_json` renders it (PostgREST's answers).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(n) => J::from(*n),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Numeric(s) => s
                .parse::<serde_json::Number>()
                .map_or_else(|_| J::String(s.clone()), J::Number),
            Value::Text(s) => J::String(s.clone()),
            Value::Json(s) => serde_json::from_str(s).unwrap_or(J::Null),
            Value::Timestamptz(ts) => J::String(iso_timestamptz(*ts)),
            Value::Timestamp(dt) => J::String(format_datetime(*dt).replacen(' ', "T", 1)),
            Value::Date(d) => J::String(d.strftime("%Y-%m-%d").to_string()),
        }
    }

    /// Converts to `ty` the way an assignment (INSERT/UPDATE) or an explicit
    /// cast does.
    pub fn coerce(self, ty: SqlType) -> Result<Value, ValueError> {
        if self.is_null() {
            return Ok(Value::Null);
        }
        match ty {
            SqlType::Bool => match self {
                Value::Bool(b) => Ok(Value::Bool(b)),
                Value::Int(n) => Ok(Value::Bool(n != 0)),
                Value::Text(s) => parse_bool(&s)
                    .map(Value::Bool)
                    .ok_or_else(|| ValueError::invalid(ty, &s)),
                other => Err(cannot_cast(&other, ty)),
            },
            SqlType::Int2 | SqlType::Int4 | SqlType::Int8 | SqlType::Oid => self.into_integer(ty),
            SqlType::Float4 | SqlType::Float8 => match self {
                Value::Int(n) => Ok(Value::Float(n as f64)),
                Value::Float(f) => Ok(Value::Float(f)),
                Value::Numeric(s) | Value::Text(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(Value::Float)
                    .map_err(|_| ValueError::invalid(ty, &s)),
                other => Err(cannot_cast(&other, ty)),
            },
            SqlType::Numeric => match self {
                Value::Int(n) => Ok(Value::Numeric(n.to_string())),
                Value::Float(f) => Ok(Value::Numeric(format_float(f))),
                Value::Numeric(s) => Ok(Value::Numeric(s)),
                Value::Text(s) => {
                    let t = s.trim();
                    if t.parse::<f64>().is_ok() {
                        Ok(Value::Numeric(t.to_string()))
                    } else {
                        Err(ValueError::invalid(ty, &s))
                    }
                }
                other => Err(cannot_cast(&other, ty)),
            },
            SqlType::Text
            | SqlType::Varchar
            | SqlType::Bpchar
            | SqlType::Name
            | SqlType::Unknown => match self {
                Value::Text(s) => Ok(Value::Text(s)),
                other => Ok(Value::Text(other.to_text().unwrap_or_default())),
            },
            SqlType::Timestamptz | SqlType::Timestamp | SqlType::Date => self.into_time(ty),
            SqlType::Json | SqlType::Jsonb => self.into_json(ty),
            SqlType::Uuid => self.into_uuid(),
        }
    }

    /// To smallint, integer, bigint or oid, with their range checks.
    fn into_integer(self, ty: SqlType) -> Result<Value, ValueError> {
        let n = match self {
            Value::Int(n) => n,
            Value::Float(f) => f.round() as i64,
            Value::Numeric(s) => s
                .parse::<f64>()
                .map(|f| f.round() as i64)
                .map_err(|_| ValueError::invalid(ty, &s))?,
            Value::Text(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| ValueError::invalid(ty, &s))?,
            Value::Bool(b) if ty == SqlType::Int4 => i64::from(b),
            other => return Err(cannot_cast(&other, ty)),
        };
        let fits = match ty {
            SqlType::Int2 => i16::try_from(n).is_ok(),
            SqlType::Int4 => i32::try_from(n).is_ok(),
            _ => true,
        };
        if !fits {
            let which = if ty == SqlType::Int2 {
                "smallint"
            } else {
                "integer"
            };
            return Err(ValueError {
                code: "22003",
                message: format!("{which} out of range"),
            });
        }
        Ok(Value::Int(n))
    }

    /// To timestamptz, timestamp or date (times are UTC).
    fn into_time(self, ty: SqlType) -> Result<Value, ValueError> {
        match ty {
            SqlType::Timestamptz => match self {
                Value::Timestamptz(t) => Ok(Value::Timestamptz(t)),
                Value::Timestamp(dt) => dt
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .map(|z| Value::Timestamptz(z.timestamp()))
                    .map_err(|_| ValueError::invalid(ty, "")),
                Value::Date(d) => d
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .map(|z| Value::Timestamptz(z.timestamp()))
                    .map_err(|_| ValueError::invalid(ty, "")),
                Value::Text(s) => parse_timestamptz(&s)
                    .map(Value::Timestamptz)
                    .ok_or_else(|| ValueError::invalid(ty, &s)),
                other => Err(cannot_cast(&other, ty)),
            },
            SqlType::Timestamp => match self {
                Value::Timestamp(dt) => Ok(Value::Timestamp(dt)),
                Value::Timestamptz(t) => Ok(Value::Timestamp(
                    t.to_zoned(jiff::tz::TimeZone::UTC).datetime(),
                )),
                Value::Date(d) => Ok(Value::Timestamp(
                    d.to_datetime(jiff::civil::Time::midnight()),
                )),
                Value::Text(s) => parse_timestamptz(&s)
                    .map(|t| Value::Timestamp(t.to_zoned(jiff::tz::TimeZone::UTC).datetime()))
                    .ok_or_else(|| ValueError::invalid(ty, &s)),
                other => Err(cannot_cast(&other, ty)),
            },
            SqlType::Date => match self {
                Value::Date(d) => Ok(Value::Date(d)),
                Value::Timestamptz(t) => {
                    Ok(Value::Date(t.to_zoned(jiff::tz::TimeZone::UTC).date()))
                }
                Value::Timestamp(dt) => Ok(Value::Date(dt.date())),
                Value::Text(s) => s
                    .trim()
                    .parse::<jiff::civil::Date>()
                    .ok()
                    .or_else(|| {
                        parse_timestamptz(&s).map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
                    })
                    .map(Value::Date)
                    .ok_or_else(|| ValueError::invalid(ty, &s)),
                other => Err(cannot_cast(&other, ty)),
            },
            _ => Err(cannot_cast(&self, ty)),
        }
    }

    /// To json (the text as given) or jsonb (normalized).
    fn into_json(self, ty: SqlType) -> Result<Value, ValueError> {
        match self {
            Value::Json(s) => Ok(Value::Json(s)),
            Value::Text(s) => match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(v) => Ok(Value::Json(if ty == SqlType::Jsonb {
                    jsonb_text(&v)
                } else {
                    s
                })),
                Err(_) => Err(ValueError {
                    code: "22P02",
                    message: "invalid input syntax for type json".to_string(),
                }),
            },
            other => Ok(Value::Json(other.to_json().to_string())),
        }
    }

    /// To uuid: 8-4-4-4-12 hex digits, lower-cased.
    fn into_uuid(self) -> Result<Value, ValueError> {
        let ty = SqlType::Uuid;
        match self {
            Value::Text(s) => {
                let ok = s.len() == 36
                    && s.chars().enumerate().all(|(i, c)| {
                        if [8, 13, 18, 23].contains(&i) {
                            c == '-'
                        } else {
                            c.is_ascii_hexdigit()
                        }
                    });
                if ok {
                    Ok(Value::Text(s.to_lowercase()))
                } else {
                    Err(ValueError::invalid(ty, &s))
                }
            }
            other => Err(cannot_cast(&other, ty)),
        }
    }
}

fn cannot_cast(v: &Value, ty: SqlType) -> ValueError {
    ValueError {
        code: "42846",
        message: format!(
            "cannot cast type {} to {}",
            v.natural_type().display_name(),
            ty.display_name()
        ),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Some(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Timestamps in the forms people type: `2024-01-02 03:04:05`, ISO 8601
/// with `T` and an offset, a date alone, `now`.
pub fn parse_timestamptz(s: &str) -> Option<jiff::Timestamp> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Some(jiff::Timestamp::now());
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    // "+00" offsets (PostgreSQL's own output) are not RFC 3339.
    let normalized = t.replacen(' ', "T", 1);
    let with_minutes = match normalized.rfind(['+', '-']) {
        Some(i) if i > 10 && normalized.len() - i == 3 => format!("{normalized}:00"),
        _ => normalized.clone(),
    };
    if let Ok(ts) = with_minutes.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = normalized.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    None
}

/// `2024-01-02 03:04:05.123456+00` (the session's time zone is UTC).
pub fn format_timestamptz(ts: jiff::Timestamp) -> String {
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!("{}+00", format_datetime(dt))
}

/// `2024-01-02T03:04:05.123456+00:00`, as `to_json` renders timestamptz.
pub fn iso_timestamptz(ts: jiff::Timestamp) -> String {
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!("{}+00:00", format_datetime(dt).replacen(' ', "T", 1))
}

/// `2024-01-02 03:04:05.12` (fraction to microseconds, trailing zeros dropped).
fn format_datetime(dt: jiff::civil::DateTime) -> String {
    let base = dt.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let micros = dt.subsec_nanosecond() / 1000;
    if micros == 0 {
        return base;
    }
    let frac = format!("{micros:06}");
    format!("{base}.{}", frac.trim_end_matches('0'))
}

/// The shortest text that reads back as the same float, as PostgreSQL 12+.
fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let s = format!("{f}");
    if s.len() > 17 && f.abs() >= 1e15 {
        return format!("{f:e}").replace('e', "e+");
    }
    s
}

/// jsonb's normalized text: `{"a": 1, "b": [1, 2]}`.
fn jsonb_text(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Array(items) => {
            let inner: Vec<String> = items.iter().map(jsonb_text).collect();
            format!("[{}]", inner.join(", "))
        }
        J::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", J::String(k.clone()), jsonb_text(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// Compares two non-null values, converting an untyped text to the other
/// side's type as PostgreSQL resolves `id = '2'`.
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, ValueError> {
    use Value as V;
    Ok(match (a, b) {
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Int(_) | V::Float(_) | V::Numeric(_), V::Int(_) | V::Float(_) | V::Numeric(_)) => {
            let (x, y) = (as_f64(a), as_f64(b));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (V::Text(x), V::Text(y)) => x.cmp(y),
        (V::Json(x), V::Json(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Timestamptz(x), V::Timestamptz(y)) => x.cmp(y),
        (V::Timestamp(x), V::Timestamp(y)) => x.cmp(y),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::Text(_), other) => {
            let converted = a.clone().coerce(other.natural_type())?;
            return compare(&converted, other);
        }
        (other, V::Text(_)) => {
            let converted = b.clone().coerce(other.natural_type())?;
            return compare(other, &converted);
        }
        (x, y) => {
            // timestamptz vs date and similar: compare as timestamptz.
            let ty = SqlType::Timestamptz;
            match (x.clone().coerce(ty), y.clone().coerce(ty)) {
                (Ok(V::Timestamptz(p)), Ok(V::Timestamptz(q))) => p.cmp(&q),
                _ => {
                    return Err(ValueError {
                        code: "42883",
                        message: format!(
                            "operator does not exist: {} = {}",
                            x.natural_type().display_name(),
                            y.natural_type().display_name()
                        ),
                    });
                }
            }
        }
    })
}

pub fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Numeric(s) | Value::Text(s) => s.trim().parse().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_output_matches_postgres() {
        assert_eq!(Value::Bool(true).to_text().unwrap(), "t");
        assert_eq!(Value::Float(1.5).to_text().unwrap(), "1.5");
        let ts: jiff::Timestamp = "2026-12-04T13:00:00.1234Z".parse().unwrap();
        assert_eq!(
            Value::Timestamptz(ts).to_text().unwrap(),
            "2026-12-04 13:00:00.1234+00"
        );
        assert_eq!(
            Value::Timestamptz(ts).to_json(),
            serde_json::json!("2026-12-04T13:00:00.1234+00:00")
        );
        let whole: jiff::Timestamp = "2026-12-04T13:00:00Z".parse().unwrap();
        assert_eq!(
            Value::Timestamptz(whole).to_text().unwrap(),
            "2026-12-04 13:00:00+00"
        );
    }

    #[test]
    fn coercions() {
        assert_eq!(
            Value::Text("42".into()).coerce(SqlType::Int4),
            Ok(Value::Int(42))
        );
        let e = Value::Text("abc".into()).coerce(SqlType::Int4).unwrap_err();
        assert_eq!(e.message, "invalid input syntax for type integer: \"abc\"");
        assert_eq!(
            Value::Int(3_000_000_000)
                .coerce(SqlType::Int4)
                .unwrap_err()
                .message,
            "integer out of range"
        );
        let ts = Value::Text("2024-01-02 03:04:05+00".into())
            .coerce(SqlType::Timestamptz)
            .unwrap();
        assert_eq!(ts.to_text().unwrap(), "2024-01-02 03:04:05+00");
        assert_eq!(
            Value::Text("yes".into()).coerce(SqlType::Bool),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            Value::Text("{\"a\":1}".into())
                .coerce(SqlType::Jsonb)
                .unwrap(),
            Value::Json("{\"a\": 1}".into())
        );
    }

    #[test]
    fn comparisons_resolve_untyped_text() {
        assert_eq!(
            compare(&Value::Int(2), &Value::Text("2".into())),
            Ok(Ordering::Equal)
        );
        assert_eq!(
            compare(&Value::Int(2), &Value::Float(2.5)),
            Ok(Ordering::Less)
        );
        assert!(compare(&Value::Int(2), &Value::Text("x".into())).is_err());
    }
}
