//! A container's environment as the kubelet builds it: `env` and
//! `envFrom` from ConfigMaps and Secrets, the downward API's field and
//! resource values, `$(VAR)` expansion, the Service variables
//! (`KUBERNETES_SERVICE_HOST`...), and the service account token it
//! projects.

use serde_json::{Value, json};

use crate::machinery::cluster::NODE_NAME;
use crate::machinery::resources;
use crate::node::Node;
use crate::node::kubelet::PodRt;
use crate::node::volumes::data_of;

/// `$(VAR)` references to earlier variables, as the kubelet expands them.
pub(crate) fn expand(s: &str, env: &[(String, String)]) -> String {
    expand_in(s, env, &[])
}

/// `$(VAR)` from `env`, else from `fallback` (the Service variables).
fn expand_in(s: &str, env: &[(String, String)], fallback: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let name = &after[..j];
                match env
                    .iter()
                    .rev()
                    .chain(fallback.iter())
                    .find(|(k, _)| k == name)
                {
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
    let services = service_env(node, prt);
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
            let v = expand_in(v, &env, &services);
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
        if vf["resourceFieldRef"].is_object() {
            value = resource_value(&prt.pod, &vf["resourceFieldRef"], c["name"].as_str())?;
        }
        env.push((name, value));
    }
    // The Service variables come after, unless the container set them.
    for (k, v) in services {
        if !env.iter().any(|(n, _)| *n == k) {
            env.push((k, v));
        }
    }
    Ok(env)
}

/// `NAME` of a Service as its variables spell it.
fn env_name(s: &str) -> String {
    s.to_ascii_uppercase().replace('-', "_")
}

/// The variables of the Services a container sees (as docker links did):
/// every Service of the pod's namespace with a cluster IP (unless
/// `enableServiceLinks: false`), and always `kubernetes` of `default`.
pub(crate) fn service_env(node: &Node, prt: &PodRt) -> Vec<(String, String)> {
    let links = prt.pod["spec"]["enableServiceLinks"]
        .as_bool()
        .unwrap_or(true);
    let (all, _) = node.store.list(&resources::SERVICES, None);
    let mut chosen: std::collections::BTreeMap<String, &Value> = std::collections::BTreeMap::new();
    for svc in &all {
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("");
        let name = svc["metadata"]["name"].as_str().unwrap_or("");
        if ns == "default" && name == "kubernetes" {
            chosen.entry(name.to_string()).or_insert(svc);
        } else if ns == prt.ns && links {
            chosen.insert(name.to_string(), svc);
        }
    }
    let mut out = Vec::new();
    for (name, svc) in chosen {
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or("");
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        if ip.is_empty() || ip == "None" || ports.is_empty() {
            continue;
        }
        let prefix = env_name(&name);
        let port_of = |p: &Value| p["port"].as_u64().unwrap_or(0).to_string();
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{prefix}_SERVICE_PORT"), port_of(&ports[0])));
        for p in &ports {
            if let Some(pn) = p["name"].as_str().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{prefix}_SERVICE_PORT_{}", env_name(pn)),
                    port_of(p),
                ));
            }
        }
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        for (i, p) in ports.iter().enumerate() {
            let proto = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
            let port = port_of(p);
            let url = format!("{proto}://{host}:{port}");
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), proto.clone()));
            out.push((format!("{pp}_PORT"), port.clone()));
            out.push((format!("{pp}_ADDR"), ip.to_string()));
        }
    }
    out
}

/// The node's allocatable resources: what an unset limit stands for.
const NODE_ALLOCATABLE: &[(&str, &str)] = &[
    ("cpu", "4"),
    ("memory", "8Gi"),
    ("ephemeral-storage", "100Gi"),
];

/// A `resourceFieldRef`'s value: the container's limit or request,
/// divided by `divisor` and rounded up (cpu in millicores first). An
/// unset limit is the node's allocatable amount. `own`: the container
/// asking, when the reference names none.
pub(crate) fn resource_value(pod: &Value, r: &Value, own: Option<&str>) -> Result<String, String> {
    let resource = r["resource"].as_str().unwrap_or("");
    let cname = r["containerName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or(own)
        .unwrap_or("");
    let container = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .find(|c| c["name"].as_str() == Some(cname))
        .ok_or_else(|| format!("container {cname} not found"))?;
    let (kind, what) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    if !matches!(kind, "limits" | "requests")
        || !matches!(what, "cpu" | "memory" | "ephemeral-storage")
    {
        return Err(format!("unsupported container resource : {resource}"));
    }
    let q = |v: &Value| {
        v.as_str()
            .and_then(|s| kubeprint::Quantity::parse(s).ok())
            .map(|q| q.value())
    };
    let value = match q(&container["resources"][kind][what]) {
        Some(v) => v,
        None if kind == "limits" => NODE_ALLOCATABLE
            .iter()
            .find(|(k, _)| *k == what)
            .and_then(|(_, v)| kubeprint::Quantity::parse(v).ok())
            .map_or(0.0, |q| q.value()),
        None => 0.0,
    };
    let divisor = q(&r["divisor"]).filter(|d| *d > 0.0).unwrap_or(1.0);
    let n = if what == "cpu" {
        let millis = (value * 1000.0).round() as u64;
        let div = ((divisor * 1000.0).round() as u64).max(1);
        millis.div_ceil(div)
    } else {
        let bytes = value.ceil() as u64;
        let div = (divisor.ceil() as u64).max(1);
        bytes.div_ceil(div)
    };
    Ok(n.to_string())
}

/// A downwardAPI volume file's content: whole label and annotation maps
/// as `key="value"` lines (sorted, values quoted as Go's %q, no final
/// newline), else the field's value.
pub(crate) fn field_file(prt: &PodRt, path: &str) -> String {
    let map = match path {
        "metadata.labels" => prt.pod["metadata"]["labels"].clone(),
        "metadata.annotations" => {
            let mut a = prt.pod["metadata"]["annotations"].clone();
            if !a.is_object() {
                a = json!({});
            }
            // What the kubelet adds to its copy of every pod.
            a["kubernetes.io/config.seen"] = json!(prt.seen_at);
            a["kubernetes.io/config.source"] = json!("api");
            a
        }
        _ => return field_value(prt, path),
    };
    let mut lines: Vec<String> = map
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", go_quote(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default();
    lines.sort();
    lines.join("\n")
}

/// A string quoted as Go's `%q` (strconv.Quote).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
        let svc = vec![("B".to_string(), "2".to_string())];
        assert_eq!(expand_in("x$(A)y$(B)", &env, &svc), "x1y2");
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("web"), "\"web\"");
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
    }

    #[test]
    fn resource_values_round_up() {
        let pod = json!({"spec": {"containers": [{"name": "app", "resources": {
            "limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"memory": "32Mi"}}}]}});
        let v = |r: &str, d: Option<&str>| {
            let mut rf = json!({"containerName": "app", "resource": r});
            if let Some(d) = d {
                rf["divisor"] = json!(d);
            }
            resource_value(&pod, &rf, None).unwrap()
        };
        assert_eq!(v("limits.cpu", None), "1");
        assert_eq!(v("limits.cpu", Some("1m")), "250");
        assert_eq!(v("limits.memory", None), "67108864");
        assert_eq!(v("limits.memory", Some("1Mi")), "64");
        assert_eq!(v("requests.memory", Some("1Mi")), "32");
        assert_eq!(v("requests.cpu", None), "0");
        assert_eq!(v("limits.ephemeral-storage", Some("1Gi")), "100");
        let bad = json!({"containerName": "app", "resource": "limits.gpu"});
        assert!(resource_value(&pod, &bad, None).is_err());
    }
}
