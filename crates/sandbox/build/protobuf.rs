//! The swagger 2.0 document as the protobuf kubectl asks `/openapi/v2` for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): gnostic's
//! `openapi.v2.Document` (github.com/google/gnostic-models,
//! openapiv2/OpenAPIv2.proto). Field numbers below are that file's.
//!
//! Only what the generated document uses is encoded; anything else in it is
//! a build error, so nothing is dropped unnoticed. Vendor extensions carry
//! their value as YAML text; JSON is YAML, so it is written as JSON.

use serde_json::{Map, Value};

/// Protobuf writer: proto3, fields in number order, defaults omitted.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint(u64::from(field << 3 | 2));
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.varint(u64::from(field << 3));
            self.varint(1);
        }
    }

    fn message(
        &mut self,
        field: u32,
        f: impl FnOnce(&mut W) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut inner = W::default();
        f(&mut inner)?;
        self.bytes(field, &inner.0);
        Ok(())
    }
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not an object"))
}

fn s<'a>(o: &'a Map<String, Value>, key: &str) -> &'a str {
    o.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings<'a>(o: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a str> {
    o.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `NamedAny` (name 1, value 2 = `Any` with yaml 2).
fn named_any(w: &mut W, field: u32, name: &str, value: &Value) -> Result<(), String> {
    w.message(field, |w| {
        w.string(1, name);
        w.message(2, |w| {
            w.string(2, &value.to_string());
            Ok(())
        })
    })
}

fn extensions(w: &mut W, field: u32, o: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        named_any(w, field, k, v)?;
    }
    Ok(())
}

/// Encodes the swagger 2.0 document.
pub fn document(doc: &Value) -> Result<Vec<u8>, String> {
    let o = obj(doc, "document")?;
    let mut w = W::default();
    w.string(1, s(o, "swagger"));
    let info = obj(&o["info"], "info")?;
    w.message(2, |w| {
        w.string(1, s(info, "title"));
        w.string(2, s(info, "version"));
        Ok(())
    })?;
    w.message(8, |w| {
        for (path, item) in obj(&o["paths"], "paths")? {
            w.message(2, |w| {
                w.string(1, path);
                w.message(2, |w| path_item(w, obj(item, path)?))
            })?;
        }
        Ok(())
    })?;
    w.message(9, |w| {
        for (name, schema) in obj(&o["definitions"], "definitions")? {
            w.message(1, |w| {
                w.string(1, name);
                w.message(2, |w| encode_schema(w, schema, name))
            })?;
        }
        Ok(())
    })?;
    for req in o
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(12, |w| {
            for (name, scopes) in obj(req, "security")? {
                w.message(1, |w| {
                    w.string(1, name);
                    w.message(2, |w| {
                        for scope in scopes
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            w.string(1, scope);
                        }
                        Ok(())
                    })
                })?;
            }
            Ok(())
        })?;
    }
    w.message(13, |w| {
        for (name, def) in obj(&o["securityDefinitions"], "securityDefinitions")? {
            let d = obj(def, name)?;
            w.message(1, |w| {
                w.string(1, name);
                // SecurityDefinitionsItem.api_key_security = 2
                w.message(2, |w| {
                    w.message(2, |w| {
                        w.string(1, s(d, "type"));
                        w.string(2, s(d, "name"));
                        w.string(3, s(d, "in"));
                        w.string(4, s(d, "description"));
                        Ok(())
                    })
                })
            })?;
        }
        Ok(())
    })?;
    Ok(w.0)
}

fn path_item(w: &mut W, o: &Map<String, Value>) -> Result<(), String> {
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("patch", 8),
    ] {
        if let Some(op) = o.get(method) {
            w.message(field, |w| operation(w, obj(op, method)?))?;
        }
    }
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(9, |w| parameter(w, obj(p, "parameter")?))?;
    }
    Ok(())
}

fn operation(w: &mut W, o: &Map<String, Value>) -> Result<(), String> {
    for t in strings(o, "tags") {
        w.string(1, t);
    }
    w.string(3, s(o, "description"));
    w.string(5, s(o, "operationId"));
    for t in strings(o, "produces") {
        w.string(6, t);
    }
    for t in strings(o, "consumes") {
        w.string(7, t);
    }
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, |w| parameter(w, obj(p, "parameter")?))?;
    }
    w.message(9, |w| {
        for (code, r) in obj(&o["responses"], "responses")? {
            let r = obj(r, code)?;
            w.message(1, |w| {
                w.string(1, code);
                // ResponseValue.response = 1
                w.message(2, |w| {
                    w.message(1, |w| {
                        w.string(1, s(r, "description"));
                        if let Some(schema) = r.get("schema") {
                            // SchemaItem.schema = 1
                            w.message(2, |w| w.message(1, |w| encode_schema(w, schema, code)))?;
                        }
                        Ok(())
                    })
                })
            })?;
        }
        Ok(())
    })?;
    for t in strings(o, "schemes") {
        w.string(10, t);
    }
    extensions(w, 13, o)
}

/// `ParametersItem.parameter` (1): a body parameter (1) or a query (3) or
/// path (4) parameter inside `NonBodyParameter` (2).
fn parameter(w: &mut W, p: &Map<String, Value>) -> Result<(), String> {
    w.message(1, |w| match s(p, "in") {
        "body" => w.message(1, |w| {
            w.string(1, s(p, "description"));
            w.string(2, s(p, "name"));
            w.string(3, "body");
            w.bool(4, p.get("required") == Some(&Value::Bool(true)));
            w.message(5, |w| encode_schema(w, &p["schema"], "body"))
        }),
        "query" => w.message(2, |w| {
            w.message(3, |w| {
                w.bool(1, p.get("required") == Some(&Value::Bool(true)));
                w.string(2, "query");
                w.string(3, s(p, "description"));
                w.string(4, s(p, "name"));
                w.string(6, s(p, "type"));
                w.bool(20, p.get("uniqueItems") == Some(&Value::Bool(true)));
                Ok(())
            })
        }),
        "path" => w.message(2, |w| {
            w.message(4, |w| {
                w.bool(1, p.get("required") == Some(&Value::Bool(true)));
                w.string(2, "path");
                w.string(3, s(p, "description"));
                w.string(4, s(p, "name"));
                w.string(5, s(p, "type"));
                w.bool(19, p.get("uniqueItems") == Some(&Value::Bool(true)));
                Ok(())
            })
        }),
        other => Err(format!("parameter in {other:?} is not encoded")),
    })
}

/// `openapi.v2.Schema`.
fn encode_schema(w: &mut W, schema: &Value, at: &str) -> Result<(), String> {
    let o = obj(schema, at)?;
    for key in o.keys() {
        let known = matches!(
            key.as_str(),
            "$ref"
                | "format"
                | "description"
                | "default"
                | "required"
                | "enum"
                | "additionalProperties"
                | "type"
                | "items"
                | "allOf"
                | "properties"
        ) || key.starts_with("x-");
        if !known {
            return Err(format!("{at}: schema key {key:?} is not encoded"));
        }
    }
    w.string(1, s(o, "$ref"));
    w.string(2, s(o, "format"));
    w.string(4, s(o, "description"));
    if let Some(d) = o.get("default") {
        w.message(5, |w| {
            w.string(2, &d.to_string());
            Ok(())
        })?;
    }
    for r in strings(o, "required") {
        w.string(19, r);
    }
    for e in o
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(20, |w| {
            w.string(2, &e.to_string());
            Ok(())
        })?;
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => w.message(21, |w| {
            // AdditionalPropertiesItem.boolean = 2 (written even when false:
            // it is a oneof member)
            w.varint(2 << 3);
            w.varint(u64::from(*b));
            Ok(())
        })?,
        Some(v) => w.message(21, |w| w.message(1, |w| encode_schema(w, v, at)))?,
        None => {}
    }
    if let Some(t) = o.get("type").and_then(Value::as_str) {
        w.message(22, |w| {
            w.string(1, t);
            Ok(())
        })?;
    }
    if let Some(items) = o.get("items") {
        w.message(23, |w| w.message(1, |w| encode_schema(w, items, at)))?;
    }
    for a in o
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, |w| encode_schema(w, a, at))?;
    }
    if let Some(props) = o.get("properties") {
        w.message(25, |w| {
            for (name, p) in obj(props, at)? {
                w.message(1, |w| {
                    w.string(1, name);
                    w.message(2, |w| encode_schema(w, p, &format!("{at}.{name}")))
                })?;
            }
            Ok(())
        })?;
    }
    extensions(w, 31, o)
}
