//! The validation of a pod spec (pods and every pod template), as
//! upstream's `ValidatePodSpec` words it: volumes (names, exactly one
//! source, each source's own rules, item paths), containers (names,
//! images, ports, env, probes, resources), volume mounts (names that
//! exist, unique mount paths, `subPath` without `..`), and what a pod
//! update may change.

use serde_json::{Value, json};

use super::Cause;
use super::validation::{LABEL_MSG, local_descending_path, local_non_reserved_path, valid_label};
use crate::machinery::meta::quantity;

/// Every source a volume may have (`VolumeSource`'s fields).
pub(crate) const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Exactly one of `sources` set in `v`: the error for none (`none_path`
/// Required) or for each one after the first (Forbidden).
pub(crate) fn one_of(
    v: &Value,
    sources: &[&'static str],
    path: &str,
    none: &str,
    many: &str,
    out: &mut Vec<Cause>,
) -> Option<&'static str> {
    let mut first = None;
    for src in sources {
        if v.get(*src).is_some_and(|x| !x.is_null()) {
            if first.is_some() {
                out.push(Cause::forbidden(format!("{path}.{src}"), many));
            } else {
                first = Some(*src);
            }
        }
    }
    if first.is_none() {
        out.push(Cause::required_because(path, none));
    }
    first
}

fn file_mode(v: &Value, field: String, out: &mut Vec<Cause>) {
    if let Some(m) = v.as_i64()
        && !(0..=0o777).contains(&m)
    {
        out.push(Cause::invalid(field, v, FILE_MODE_MSG));
    }
}

fn key_to_paths(items: &Value, path: &str, out: &mut Vec<Cause>) {
    for (i, it) in items.as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}.items[{i}]");
        if s(&it["key"]).is_empty() {
            out.push(Cause::required(format!("{p}.key")));
        }
        match it["path"].as_str() {
            None | Some("") => out.push(Cause::required(format!("{p}.path"))),
            Some(ip) => local_non_reserved_path(ip, &format!("{p}.path"), out),
        }
        file_mode(&it["mode"], format!("{p}.mode"), out);
    }
}

/// The rules of one volume source, shared by pod volumes and (for
/// hostPath, nfs) persistent volumes.
pub(crate) fn volume_source(v: &Value, src: &str, path: &str, out: &mut Vec<Cause>) {
    let p = format!("{path}.{src}");
    let x = &v[src];
    match src {
        "hostPath" => match x["path"].as_str() {
            None | Some("") => out.push(Cause::required(format!("{p}.path"))),
            Some(hp) => {
                if hp.split('/').any(|part| part == "..") {
                    out.push(Cause::invalid(
                        format!("{p}.path"),
                        &json!(hp),
                        "must not contain '..'",
                    ));
                }
                let t = s(&x["type"]);
                if !HOST_PATH_TYPES.contains(&t) {
                    out.push(Cause::unsupported(format!("{p}.type"), t, HOST_PATH_TYPES));
                }
            }
        },
        "persistentVolumeClaim" if s(&x["claimName"]).is_empty() => {
            out.push(Cause::required(format!("{p}.claimName")));
        }
        "secret" => {
            if s(&x["secretName"]).is_empty() {
                out.push(Cause::required(format!("{p}.secretName")));
            }
            file_mode(&x["defaultMode"], format!("{p}.defaultMode"), out);
            key_to_paths(&x["items"], &p, out);
        }
        "configMap" => {
            if s(&x["name"]).is_empty() {
                out.push(Cause::required(format!("{p}.name")));
            }
            file_mode(&x["defaultMode"], format!("{p}.defaultMode"), out);
            key_to_paths(&x["items"], &p, out);
        }
        "downwardAPI" => {
            for (i, it) in x["items"].as_array().into_iter().flatten().enumerate() {
                match it["path"].as_str() {
                    None | Some("") => out.push(Cause::required(format!("{p}.items[{i}].path"))),
                    Some(ip) => local_non_reserved_path(ip, &format!("{p}.items[{i}].path"), out),
                }
            }
        }
        "emptyDir" if quantity(&x["sizeLimit"]).is_some_and(|q| q < 0.0) => {
            out.push(Cause::forbidden(
                format!("{p}.sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
        "nfs" => {
            if s(&x["server"]).is_empty() {
                out.push(Cause::required(format!("{p}.server")));
            }
            match x["path"].as_str() {
                None | Some("") => out.push(Cause::required(format!("{p}.path"))),
                Some(np) if !np.starts_with('/') => out.push(Cause::invalid(
                    format!("{p}.path"),
                    &json!(np),
                    "must be an absolute path",
                )),
                Some(_) => {}
            }
        }
        "gitRepo" => {
            if let Some(d) = x["directory"].as_str() {
                local_descending_path(d, &format!("{p}.directory"), out);
            }
        }
        _ => {}
    }
}

/// The pod's volumes; answers the names of those without errors (mounts
/// may only use these).
fn volumes(spec: &Value, path: &str, out: &mut Vec<Cause>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let p = format!("{path}.volumes[{i}]");
        let before = out.len();
        let n = s(&v["name"]);
        if n.is_empty() {
            out.push(Cause::required(format!("{p}.name")));
        } else if n.len() > 63 {
            out.push(Cause::invalid(
                format!("{p}.name"),
                &json!(n),
                "must be no more than 63 characters",
            ));
        } else if !valid_label(n) {
            out.push(Cause::invalid(format!("{p}.name"), &json!(n), LABEL_MSG));
        } else if names.iter().any(|x| x == n) {
            out.push(Cause::duplicate(format!("{p}.name"), &json!(n)));
        }
        let src = one_of(
            v,
            VOLUME_SOURCES,
            &p,
            "must specify a volume type",
            "may not specify more than 1 volume type",
            out,
        );
        if let Some(src) = src {
            volume_source(v, src, &p, out);
        }
        if out.len() == before {
            names.push(n.to_string());
        }
    }
    names
}

const PROBE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];

fn probe(c: &Value, kind: &str, p: &str, init: bool, out: &mut Vec<Cause>) {
    let probe = &c[kind];
    if !probe.is_object() {
        return;
    }
    let pp = format!("{p}.{kind}");
    if init && c["restartPolicy"] != "Always" {
        out.push(Cause::forbidden(
            pp,
            "may not be set for init containers without restartPolicy=Always",
        ));
        return;
    }
    one_of(
        probe,
        PROBE_HANDLERS,
        &pp,
        "must specify a handler type",
        "may not specify more than 1 handler type",
        out,
    );
    if kind != "readinessProbe"
        && let Some(n) = probe["successThreshold"].as_i64()
        && n != 1
    {
        out.push(Cause::invalid(
            format!("{pp}.successThreshold"),
            &json!(n),
            "must be 1",
        ));
    }
    for k in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if probe[k].as_i64().is_some_and(|n| n < 0) {
            out.push(Cause::invalid(
                format!("{pp}.{k}"),
                &probe[k],
                "must be greater than or equal to 0",
            ));
        }
    }
}

fn mounts(c: &Value, p: &str, volumes: &[String], out: &mut Vec<Cause>) {
    let mut seen: Vec<&str> = Vec::new();
    for (j, m) in c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mp = format!("{p}.volumeMounts[{j}]");
        let n = s(&m["name"]);
        if n.is_empty() {
            out.push(Cause::required(format!("{mp}.name")));
        } else if !volumes.iter().any(|v| v == n) {
            out.push(Cause::not_found(format!("{mp}.name"), &json!(n)));
        }
        match m["mountPath"].as_str() {
            None | Some("") => out.push(Cause::required(format!("{mp}.mountPath"))),
            Some(path) if seen.contains(&path) => out.push(Cause::invalid(
                format!("{mp}.mountPath"),
                &json!(path),
                "must be unique",
            )),
            Some(path) => seen.push(path),
        }
        let sub = s(&m["subPath"]);
        let expr = s(&m["subPathExpr"]);
        if !sub.is_empty() {
            // Upstream names the list, not the item, in these two.
            local_descending_path(sub, &format!("{p}.volumeMounts.subPath"), out);
        }
        if !expr.is_empty() {
            if !sub.is_empty() {
                out.push(Cause::invalid(
                    format!("{mp}.subPathExpr"),
                    &json!(expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(expr, &format!("{p}.volumeMounts.subPathExpr"), out);
        }
    }
}

fn resources(c: &Value, p: &str, out: &mut Vec<Cause>) {
    let r = &c["resources"];
    for (res, lim) in r["limits"].as_object().into_iter().flatten() {
        let req = &r["requests"][res];
        if let (Some(q), Some(l)) = (quantity(req), quantity(lim))
            && (res == "cpu" || res == "memory")
            && q > l
        {
            out.push(Cause::invalid(
                format!("{p}.resources.requests"),
                req,
                &format!(
                    "must be less than or equal to {res} limit of {}",
                    lim.as_str().map_or_else(|| lim.to_string(), str::to_string)
                ),
            ));
        }
    }
}

fn container(c: &Value, p: &str, init: bool, volumes: &[String], out: &mut Vec<Cause>) {
    if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
        out.push(Cause::required(format!("{p}.image")));
    }
    let pull = s(&c["imagePullPolicy"]);
    if !pull.is_empty() && !["Always", "IfNotPresent", "Never"].contains(&pull) {
        out.push(Cause::unsupported(
            format!("{p}.imagePullPolicy"),
            pull,
            &["Always", "IfNotPresent", "Never"],
        ));
    }
    if !init && !c["restartPolicy"].is_null() {
        out.push(Cause::forbidden(
            format!("{p}.restartPolicy"),
            "may not be set for non-init containers",
        ));
    }
    for (j, port) in c["ports"].as_array().into_iter().flatten().enumerate() {
        let pp = format!("{p}.ports[{j}]");
        if port["containerPort"]
            .as_i64()
            .is_none_or(|n| !(1..=65535).contains(&n))
        {
            out.push(Cause::invalid(
                format!("{pp}.containerPort"),
                &port["containerPort"],
                "must be between 1 and 65535, inclusive",
            ));
        }
        let proto = s(&port["protocol"]);
        if !proto.is_empty() && !["SCTP", "TCP", "UDP"].contains(&proto) {
            out.push(Cause::unsupported(
                format!("{pp}.protocol"),
                proto,
                &["SCTP", "TCP", "UDP"],
            ));
        }
    }
    for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        let n = s(&e["name"]);
        if n.is_empty() {
            out.push(Cause::required(format!("{p}.env[{j}].name")));
        } else if n.contains('=') || !n.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            out.push(Cause::invalid(
                format!("{p}.env[{j}].name"),
                &json!(n),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
    }
    for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
        probe(c, kind, p, init, out);
    }
    mounts(c, p, volumes, out);
    resources(c, p, out);
}

/// A pod spec at `path` (`spec` or `spec.template.spec`).
pub(crate) fn validate_pod_spec(spec: &Value, path: &str, out: &mut Vec<Cause>) {
    if !spec.is_object() {
        out.push(Cause::required(format!("{path}.containers")));
        return;
    }
    if spec["containers"].as_array().is_none_or(|c| c.is_empty()) {
        out.push(Cause::required(format!("{path}.containers")));
    }
    let volumes = volumes(spec, path, out);
    let rp = spec["restartPolicy"].as_str().unwrap_or("Always");
    if !["Always", "OnFailure", "Never"].contains(&rp) {
        out.push(Cause::unsupported(
            format!("{path}.restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        ));
    }
    let dns = s(&spec["dnsPolicy"]);
    const DNS: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
    if !dns.is_empty() && !DNS.contains(&dns) {
        out.push(Cause::unsupported(format!("{path}.dnsPolicy"), dns, DNS));
    }
    let mut names: Vec<&str> = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            let n = s(&c["name"]);
            if n.is_empty() {
                out.push(Cause::required(format!("{p}.name")));
            } else if !valid_label(n) {
                out.push(Cause::invalid(format!("{p}.name"), &json!(n), LABEL_MSG));
            } else if names.contains(&n) {
                out.push(Cause::duplicate(format!("{p}.name"), &json!(n)));
            }
            names.push(n);
            container(c, &p, list == "initContainers", &volumes, out);
        }
    }
}

/// The fields a pod update may change (images, activeDeadlineSeconds
/// down, tolerations added, a negative grace period set to 1); the rest
/// is refused with upstream's message.
pub(crate) fn validate_pod_update(new: &Value, old: &Value, out: &mut Vec<Cause>) {
    let (ns, os) = (&new["spec"], &old["spec"]);
    let count = |s: &Value, l: &str| s[l].as_array().map_or(0, Vec::len);
    if count(ns, "containers") != count(os, "containers") {
        out.push(Cause::forbidden(
            "spec.containers",
            "pod updates may not add or remove containers",
        ));
        return;
    }
    if count(ns, "initContainers") != count(os, "initContainers") {
        out.push(Cause::forbidden(
            "spec.initContainers",
            "pod updates may not add or remove containers",
        ));
        return;
    }
    let (nd, od) = (&ns["activeDeadlineSeconds"], &os["activeDeadlineSeconds"]);
    match (od.as_i64(), nd.as_i64()) {
        (Some(_), None) => out.push(Cause::invalid(
            "spec.activeDeadlineSeconds",
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (Some(o), Some(n)) if n > o => out.push(Cause::invalid(
            "spec.activeDeadlineSeconds",
            nd,
            "must be less than or equal to previous value",
        )),
        _ => {}
    }
    let same_toleration = |a: &Value, b: &Value| {
        let strip = |t: &Value| {
            let mut t = t.clone();
            if let Some(m) = t.as_object_mut() {
                m.remove("tolerationSeconds");
            }
            t
        };
        strip(a) == strip(b)
    };
    let kept = os["tolerations"].as_array().into_iter().flatten().all(|o| {
        ns["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| same_toleration(o, n))
    });
    if !kept {
        out.push(Cause::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let munge = |v: &Value| {
        let mut s = v["spec"].clone();
        for l in ["containers", "initContainers"] {
            if let Some(cs) = s[l].as_array_mut() {
                for c in cs {
                    c["image"] = Value::Null;
                }
            }
        }
        for k in ["activeDeadlineSeconds", "tolerations", "nodeName"] {
            s[k] = Value::Null;
        }
        let g = v["spec"]["terminationGracePeriodSeconds"].as_i64();
        let og = old["spec"]["terminationGracePeriodSeconds"].as_i64();
        if og.is_some_and(|o| o < 0) && g == Some(1) {
            s["terminationGracePeriodSeconds"] =
                old["spec"]["terminationGracePeriodSeconds"].clone();
        }
        s
    };
    let node_changed = !os["nodeName"].is_null() && os["nodeName"] != ns["nodeName"];
    if munge(new) != munge(old) || node_changed {
        out.push(Cause::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(spec: Value) -> Vec<String> {
        let mut out = Vec::new();
        validate_pod_spec(&spec, "spec", &mut out);
        out.iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn volumes_and_mounts_as_upstream_words_them() {
        let c = causes(
            json!({"containers": [{"name": "c", "image": "i", "volumeMounts": [
                {"name": "..", "mountPath": "/a"},
                {"name": "data", "mountPath": "/b", "subPath": "../etc"},
                {"name": "data", "mountPath": "/b"}]}],
            "volumes": [{"name": "..", "emptyDir": {}},
                {"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}},
                {"name": "none"},
                {"name": "cm", "configMap": {"name": "c", "items": [{"key": "k", "path": "/etc/x"}]}}]}),
        );
        for want in [
            format!("spec.volumes[0].name: Invalid value: \"..\": {LABEL_MSG}"),
            "spec.volumes[1].emptyDir: Forbidden: may not specify more than 1 volume type".to_string(),
            "spec.volumes[2]: Required value: must specify a volume type".to_string(),
            "spec.volumes[3].configMap.items[0].path: Invalid value: \"/etc/x\": must be a relative path".to_string(),
            "spec.containers[0].volumeMounts[0].name: Not found: \"..\"".to_string(),
            "spec.containers[0].volumeMounts.subPath: Invalid value: \"../etc\": must not contain '..'".to_string(),
            "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/b\": must be unique".to_string(),
        ] {
            assert!(c.contains(&want), "missing {want} in {c:#?}");
        }
    }

    #[test]
    fn probes_need_one_handler() {
        let c = causes(json!({"containers": [{"name": "c", "image": "i",
            "livenessProbe": {"exec": {"command": ["x"]}, "grpc": {"port": 1}},
            "readinessProbe": {"periodSeconds": 3}}]}));
        assert!(c.contains(&"spec.containers[0].livenessProbe.grpc: Forbidden: may not specify more than 1 handler type".to_string()), "{c:?}");
        assert!(
            c.contains(
                &"spec.containers[0].readinessProbe: Required value: must specify a handler type"
                    .to_string()
            )
        );
    }

    #[test]
    fn pod_updates_change_only_what_upstream_allows() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}],
            "tolerations": [{"key": "k", "operator": "Exists"}]}});
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("b");
        let mut out = Vec::new();
        validate_pod_update(&image, &old, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let mut more = old.clone();
        more["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d", "image": "x"}));
        validate_pod_update(&more, &old, &mut out);
        assert_eq!(
            out[0].message,
            "Forbidden: pod updates may not add or remove containers"
        );
        let mut env = old.clone();
        env["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
        out.clear();
        validate_pod_update(&env, &old, &mut out);
        assert!(
            out[0]
                .message
                .starts_with("Forbidden: pod updates may not change fields other than")
        );
    }
}
