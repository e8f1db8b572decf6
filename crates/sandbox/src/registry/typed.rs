//! Uses k8s-openapi's typed structs as the schema: decoding an object into
//! its type and encoding it back drops exactly the fields the schema does
//! not declare, which is what `fieldValidation` needs, and catches type
//! errors (a string where a number belongs) as upstream's decoder does.

use k8s_openapi::api::{apps, authorization, batch, core, discovery, storage};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::machinery::resources::ResourceDef;

/// What decoding an object against its schema found.
#[derive(Debug, Default, PartialEq)]
pub struct Checked {
    /// Paths of fields the schema does not declare (`spec.foo`, `spec.containers[0].bar`).
    pub unknown: Vec<String>,
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Option<Value>, String> {
    match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => Ok(serde_json::to_value(t).ok()),
        // Missing required fields are reported by validation, with upstream's messages.
        Err(e) if e.inner().to_string().starts_with("missing field") => Ok(None),
        Err(e) => {
            let kind = v["kind"].as_str().unwrap_or("Object");
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            Err(go_type_error(kind, &path, &inner).unwrap_or(inner))
        }
    }
}

/// The Go struct types along a path of the common kinds (what
/// encoding/json names in its errors), from the type holding `field`.
fn go_struct(parent: &str, field: &str) -> Option<&'static str> {
    Some(match (parent, field) {
        (_, "metadata") => "ObjectMeta",
        ("Deployment", "spec") => "DeploymentSpec",
        ("ReplicaSet", "spec") => "ReplicaSetSpec",
        ("Job" | "JobTemplateSpec", "spec") => "JobSpec",
        ("StatefulSet", "spec") => "StatefulSetSpec",
        ("DaemonSet", "spec") => "DaemonSetSpec",
        ("CronJob", "spec") => "CronJobSpec",
        ("CronJobSpec", "jobTemplate") => "JobTemplateSpec",
        ("StatefulSetSpec", "volumeClaimTemplates") => "PersistentVolumeClaim",
        ("StatefulSetSpec", "updateStrategy") => "StatefulSetUpdateStrategy",
        ("DaemonSetSpec", "updateStrategy") => "DaemonSetUpdateStrategy",
        ("Pod" | "PodTemplateSpec", "spec") => "PodSpec",
        ("Service", "spec") => "ServiceSpec",
        ("PersistentVolumeClaim", "spec") => "PersistentVolumeClaimSpec",
        ("PersistentVolume", "spec") => "PersistentVolumeSpec",
        (
            "DeploymentSpec" | "ReplicaSetSpec" | "JobSpec" | "StatefulSetSpec" | "DaemonSetSpec",
            "template",
        ) => "PodTemplateSpec",
        (_, "selector") if parent != "ServiceSpec" => "LabelSelector",
        ("DeploymentSpec", "strategy") => "DeploymentStrategy",
        ("PodSpec", "containers" | "initContainers") => "Container",
        ("PodSpec", "volumes") => "Volume",
        ("PodSpec", "securityContext") => "PodSecurityContext",
        ("Container", "env") => "EnvVar",
        ("Container", "envFrom") => "EnvFromSource",
        ("Container", "ports") => "ContainerPort",
        ("Container", "volumeMounts") => "VolumeMount",
        ("Container", "resources") => "ResourceRequirements",
        ("Container", "livenessProbe" | "readinessProbe" | "startupProbe") => "Probe",
        ("Container", "securityContext") => "SecurityContext",
        ("Probe", "httpGet") => "HTTPGetAction",
        ("Probe", "tcpSocket") => "TCPSocketAction",
        ("Probe", "exec") => "ExecAction",
        ("EnvVar", "valueFrom") => "EnvVarSource",
        ("EnvVarSource", "configMapKeyRef") => "ConfigMapKeySelector",
        ("EnvVarSource", "secretKeyRef") => "SecretKeySelector",
        ("EnvVarSource", "fieldRef") => "ObjectFieldSelector",
        ("Volume", "configMap") => "ConfigMapVolumeSource",
        ("Volume", "secret") => "SecretVolumeSource",
        ("Volume", "emptyDir") => "EmptyDirVolumeSource",
        ("Volume", "hostPath") => "HostPathVolumeSource",
        ("Volume", "persistentVolumeClaim") => "PersistentVolumeClaimVolumeSource",
        ("ServiceSpec", "ports") => "ServicePort",
        ("PersistentVolumeClaimSpec", "resources") => "VolumeResourceRequirements",
        ("PersistentVolumeSpec", "hostPath") => "HostPathVolumeSource",
        ("PersistentVolumeSpec", "claimRef") => "ObjectReference",
        _ => return None,
    })
}

/// serde's "invalid type: integer `1`, expected a string" at `path`, as Go's
/// decoder words it: `json: cannot unmarshal number into Go struct field
/// ConfigMap.data of type string`. None when the error is of another kind.
pub fn go_type_error(kind: &str, path: &str, serde_msg: &str) -> Option<String> {
    let rest = serde_msg.strip_prefix("invalid type: ")?;
    let (got, expected) = rest.split_once(", expected ")?;
    let expected = expected.split(" at line").next().unwrap_or(expected);
    // Walk the path: the struct that holds the last field, and the field
    // path without indices or map keys.
    let mut holder = kind.to_string();
    let mut current: Option<&'static str> = None;
    let mut fields: Vec<String> = Vec::new();
    let mut in_map = false;
    for seg in path.split('.') {
        let name = seg.split('[').next().unwrap_or(seg);
        if name.is_empty() || in_map {
            break;
        }
        if let Some(c) = current {
            holder = c.to_string();
        } else if !fields.is_empty() {
            // A type this table does not know: name what we know.
            break;
        }
        fields.push(name.to_string());
        current = go_struct(&holder, name);
        in_map = matches!(
            name,
            "data"
                | "labels"
                | "annotations"
                | "stringData"
                | "matchLabels"
                | "nodeSelector"
                | "binaryData"
        );
    }
    let field_type = match expected {
        "a string" => "string".to_string(),
        "i32" => "int32".to_string(),
        "i64" => "int64".to_string(),
        "u16" | "u32" => "int32".to_string(),
        "a boolean" => "bool".to_string(),
        "f64" => "float64".to_string(),
        "a sequence" => match fields.last().map(String::as_str) {
            Some("command" | "args" | "finalizers" | "accessModes") => "[]string".to_string(),
            Some(f) => match go_struct(&holder, f) {
                Some(t) => format!("[]v1.{t}"),
                None => return None,
            },
            None => return None,
        },
        s if s.starts_with("a map") || s.starts_with("struct ") => match current {
            Some(t) if !in_map => format!("v1.{t}"),
            _ if in_map => "map[string]string".to_string(),
            _ => return None,
        },
        _ => return None,
    };
    let is_int = field_type.starts_with("int") || field_type.starts_with("float");
    let json_type = if got.starts_with("integer") {
        "number".to_string()
    } else if let Some(f) = got.strip_prefix("floating point `") {
        if is_int {
            format!("number {}", f.trim_end_matches('`'))
        } else {
            "number".to_string()
        }
    } else if got.starts_with("string") {
        "string".to_string()
    } else if got.starts_with("boolean") {
        "bool".to_string()
    } else if got == "map" {
        "object".to_string()
    } else if got == "sequence" {
        "array".to_string()
    } else {
        return None;
    };
    Some(format!(
        "json: cannot unmarshal {json_type} into Go struct field {holder}.{} of type {field_type}",
        fields.join(".")
    ))
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
        ("apps", "StatefulSet") => roundtrip::<apps::v1::StatefulSet>(obj),
        ("apps", "DaemonSet") => roundtrip::<apps::v1::DaemonSet>(obj),
        ("apps", "ControllerRevision") => roundtrip::<apps::v1::ControllerRevision>(obj),
        ("batch", "CronJob") => roundtrip::<batch::v1::CronJob>(obj),
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
mod go_errors {
    use super::*;
    use crate::machinery::resources::get;
    use serde_json::json;

    fn err(res: &str, v: Value) -> String {
        check(get(res), &v).unwrap_err()
    }

    #[test]
    fn type_errors_read_like_go() {
        assert_eq!(
            err(
                "configmaps",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"a": 1}})
            ),
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        );
        let d = |spec: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec});
        assert_eq!(
            err("deployments.apps", d(json!({"replicas": "two"}))),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            err(
                "deployments.apps",
                d(
                    json!({"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": 1}]}]}}})
                )
            ),
            "json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string"
        );
        assert_eq!(
            err(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": true}}, "spec": {"containers": []}})
            ),
            "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_and_type_errors() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"foo": 1, "containers": [{"name": "c", "image": "i", "bar": true,
                     "ports": [{"containerPort": 80}]}]}});
        let c = check(&resources::PODS, &pod).unwrap();
        assert_eq!(c.unknown, vec!["spec.containers[0].bar", "spec.foo"]);
        prune(&mut pod, &c.unknown);
        assert!(pod["spec"].get("foo").is_none());
        assert!(pod["spec"]["containers"][0].get("bar").is_none());
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "x"}]}]}});
        assert!(check(&resources::PODS, &bad).is_err());
        // Missing required fields are left to validation.
        let missing = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"image": "i"}]}});
        assert_eq!(
            check(&resources::PODS, &missing).unwrap(),
            Checked::default()
        );
    }
}
