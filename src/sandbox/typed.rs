//! Uses k8s-openapi's typed structs as the schema: decoding an object into
//! its type and encoding it back drops exactly the fields the schema does
//! not declare, which is what `fieldValidation` needs, and catches type
//! errors (a string where a number belongs) as upstream's decoder does.

use k8s_openapi::api::{apps, authorization, batch, core, discovery, storage};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::resources::ResourceDef;

/// What decoding an object against its schema found.
#[derive(Debug, Default, PartialEq)]
pub struct Checked {
    /// Paths of fields the schema does not declare (`spec.foo`, `spec.containers[0].bar`).
    pub unknown: Vec<String>,
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Option<Value>, String> {
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Ok(serde_json::to_value(t).ok()),
        // Missing required fields are reported by validation, with upstream's messages.
        Err(e) if e.to_string().starts_with("missing field") => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes `obj` as its kind. Err carries the decoder's message (answer 400).
pub fn check(res: &ResourceDef, obj: &Value) -> Result<Checked, String> {
    let back = match (res.group, res.kind) {
        ("", "ConfigMap") => roundtrip::<core::v1::ConfigMap>(obj),
        ("", "Endpoints") => roundtrip::<core::v1::Endpoints>(obj),
        ("", "Event") => roundtrip::<core::v1::Event>(obj),
        ("", "Namespace") => roundtrip::<core::v1::Namespace>(obj),
        ("", "Node") => roundtrip::<core::v1::Node>(obj),
        ("", "PersistentVolumeClaim") => roundtrip::<core::v1::PersistentVolumeClaim>(obj),
        ("", "PersistentVolume") => roundtrip::<core::v1::PersistentVolume>(obj),
        ("", "Pod") => roundtrip::<core::v1::Pod>(obj),
        ("", "Secret") => roundtrip::<core::v1::Secret>(obj),
        ("", "ServiceAccount") => roundtrip::<core::v1::ServiceAccount>(obj),
        ("", "Service") => roundtrip::<core::v1::Service>(obj),
        ("apps", "Deployment") => roundtrip::<apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => roundtrip::<apps::v1::ReplicaSet>(obj),
        ("batch", "Job") => roundtrip::<batch::v1::Job>(obj),
        ("discovery.k8s.io", "EndpointSlice") => roundtrip::<discovery::v1::EndpointSlice>(obj),
        ("storage.k8s.io", "StorageClass") => roundtrip::<storage::v1::StorageClass>(obj),
        ("authorization.k8s.io", "SelfSubjectAccessReview") => {
            roundtrip::<authorization::v1::SelfSubjectAccessReview>(obj)
        }
        _ => Ok(None),
    }?;
    let mut out = Checked::default();
    if let Some(back) = back {
        diff(obj, &back, "", &mut out.unknown);
    }
    Ok(out)
}

fn diff(input: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(bv) => diff(v, bv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Removes the given dotted paths from an object (non-strict decoding drops them).
pub fn prune(obj: &mut Value, paths: &[String]) {
    for p in paths {
        let segs = split_path(p);
        remove_path(obj, &segs);
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn split_path(p: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in p.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Seg::Key(rest[..i].to_string()));
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                if let Ok(n) = rest[1..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &rest[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

fn remove_path(v: &mut Value, segs: &[Seg]) {
    match segs {
        [] => {}
        [Seg::Key(k)] => {
            if let Some(m) = v.as_object_mut() {
                m.remove(k);
            }
        }
        [Seg::Index(_)] => {}
        [Seg::Key(k), rest @ ..] => {
            if let Some(next) = v.get_mut(k) {
                remove_path(next, rest);
            }
        }
        [Seg::Index(i), rest @ ..] => {
            if let Some(next) = v.get_mut(*i) {
                remove_path(next, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::resources::get;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_and_type_errors() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"foo": 1, "containers": [{"name": "c", "image": "i", "bar": true,
                     "ports": [{"containerPort": 80}]}]}});
        let c = check(get("pods"), &pod).unwrap();
        assert_eq!(c.unknown, vec!["spec.containers[0].bar", "spec.foo"]);
        prune(&mut pod, &c.unknown);
        assert!(pod["spec"].get("foo").is_none());
        assert!(pod["spec"]["containers"][0].get("bar").is_none());
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "x"}]}]}});
        assert!(check(get("pods"), &bad).is_err());
        // Missing required fields are left to validation.
        let missing = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"image": "i"}]}});
        assert_eq!(check(get("pods"), &missing).unwrap(), Checked::default());
    }
}
