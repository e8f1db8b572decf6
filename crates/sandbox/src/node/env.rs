//! A container's environment as the kubelet builds it: `env` and
//! `envFrom` from ConfigMaps and Secrets, the downward API's field values,
//! `$(VAR)` expansion, and the service account token it projects.

use serde_json::{Value, json};

use crate::machinery::cluster::NODE_NAME;
use crate::machinery::resources;
use crate::node::Node;
use crate::node::kubelet::PodRt;
use crate::node::volumes::data_of;

/// `$(VAR)` references to earlier variables, as the kubelet expands them.
pub(crate) fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let name = &after[..j];
                match env.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The container's environment, or the CreateContainerConfigError message.
pub fn resolve_env(node: &Node, prt: &PodRt, c: &Value) -> Result<Vec<(String, String)>, String> {
    let ns = &prt.ns;
    let mut env: Vec<(String, String)> = Vec::new();
    let get = |secret: bool, name: &str| {
        node.store.get(
            if secret {
                &resources::SECRETS
            } else {
                &resources::CONFIG_MAPS
            },
            ns,
            name,
        )
    };
    let what = |secret: bool| if secret { "secret" } else { "configmap" };
    for src in c["envFrom"].as_array().cloned().unwrap_or_default() {
        let prefix = src["prefix"].as_str().unwrap_or("");
        for (key, secret) in [("configMapRef", false), ("secretRef", true)] {
            let r = &src[key];
            if !r.is_object() {
                continue;
            }
            let name = r["name"].as_str().unwrap_or("");
            match get(secret, name) {
                Some(o) => {
                    for (k, v) in data_of(&o, secret) {
                        env.push((
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        ));
                    }
                }
                None if r["optional"].as_bool().unwrap_or(false) => {}
                None => return Err(format!("{} \"{name}\" not found", what(secret))),
            }
        }
    }
    for e in c["env"].as_array().cloned().unwrap_or_default() {
        let name = e["name"].as_str().unwrap_or("").to_string();
        if let Some(v) = e["value"].as_str() {
            let v = expand(v, &env);
            env.push((name, v));
            continue;
        }
        let vf = &e["valueFrom"];
        let mut value = String::new();
        for (key, secret, kind) in [
            ("configMapKeyRef", false, "ConfigMap"),
            ("secretKeyRef", true, "Secret"),
        ] {
            let r = &vf[key];
            if !r.is_object() {
                continue;
            }
            let oname = r["name"].as_str().unwrap_or("");
            let k = r["key"].as_str().unwrap_or("");
            let optional = r["optional"].as_bool().unwrap_or(false);
            match get(secret, oname) {
                Some(o) => match data_of(&o, secret).into_iter().find(|(dk, _)| dk == k) {
                    Some((_, v)) => value = String::from_utf8_lossy(&v).into_owned(),
                    None if optional => {}
                    None => return Err(format!("couldn't find key {k} in {kind} {ns}/{oname}")),
                },
                None if optional => {}
                None => return Err(format!("{} \"{oname}\" not found", what(secret))),
            }
        }
        if let Some(path) = vf["fieldRef"]["fieldPath"].as_str() {
            value = field_value(prt, path);
        }
        env.push((name, value));
    }
    Ok(env)
}

/// A bound service account token, as the kubelet writes it (a JWT the
/// sandbox does not check).
pub(crate) fn service_account_token(prt: &PodRt) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"alg": "RS256", "kid": "kubetutor-sandbox"});
    let claims = json!({
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": now + 3607,
        "iat": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": prt.ns,
            "pod": {"name": prt.name, "uid": prt.uid},
            "serviceaccount": {"name": prt.pod["spec"]["serviceAccountName"].as_str().unwrap_or("default")},
        },
        "nbf": now,
        "sub": format!(
            "system:serviceaccount:{}:{}",
            prt.ns,
            prt.pod["spec"]["serviceAccountName"].as_str().unwrap_or("default")
        ),
    });
    format!("{}.{}.c2FuZGJveA", b64(&header), b64(&claims))
}

/// The value of a downward API field path of the pod.
pub(crate) fn field_value(prt: &PodRt, path: &str) -> String {
    let p = &prt.pod;
    match path {
        "metadata.name" => prt.name.clone(),
        "metadata.namespace" => prt.ns.clone(),
        "metadata.uid" => prt.uid.clone(),
        "spec.nodeName" => NODE_NAME.to_string(),
        "spec.serviceAccountName" => p["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        "status.podIP" => prt.ip.clone(),
        "status.hostIP" => "127.0.0.1".to_string(),
        other => {
            let label = other
                .strip_prefix("metadata.labels['")
                .map(|l| ("labels", l))
                .or_else(|| {
                    other
                        .strip_prefix("metadata.annotations['")
                        .map(|a| ("annotations", a))
                });
            match label {
                Some((field, l)) => p["metadata"][field][l.trim_end_matches("']")]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                None => String::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("x$(A)y$(B)", &env), "x1y$(B)");
    }
}
