//! Server-side printing: `meta.k8s.io/v1` Tables with upstream's columns
//! (priority 1 = only with `-o wide`) and cell formats for every kind.

use serde_json::{Value, json};

use crate::apiserver::handlers::selector_string;
use crate::machinery::resources::ResourceDef;

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() {
            other.to_string()
        } else {
            self
        }
    }
}

/// (name, type, priority)
type Col = (&'static str, &'static str, u8);

const NAME: Col = ("Name", "string", 0);
const AGE: Col = ("Age", "string", 0);

fn columns(res: &ResourceDef) -> &'static [Col] {
    match (res.group, res.plural) {
        ("", "pods") => &[
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("", "namespaces") => &[NAME, ("Status", "string", 0), AGE],
        ("", "nodes") => &[
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        ("", "services") => &[
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ],
        ("", "endpoints") => &[NAME, ("Endpoints", "string", 0), AGE],
        ("", "configmaps") => &[NAME, ("Data", "string", 0), AGE],
        ("", "secrets") => &[NAME, ("Type", "string", 0), ("Data", "string", 0), AGE],
        ("", "serviceaccounts") => &[NAME, ("Secrets", "string", 0), AGE],
        ("", "events") => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        ("", "persistentvolumes") => &[
            NAME,
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Reason", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ],
        ("", "persistentvolumeclaims") => &[
            NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            AGE,
            ("VolumeMode", "string", 1),
        ],
        ("storage.k8s.io", "storageclasses") => &[
            NAME,
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            AGE,
        ],
        ("apps", "deployments") => &[
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "replicasets") => &[
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("batch", "jobs") => &[
            NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("discovery.k8s.io", "endpointslices") => &[
            NAME,
            ("AddressType", "string", 0),
            ("Ports", "string", 0),
            ("Endpoints", "string", 0),
            AGE,
        ],
        ("", "resourcequotas") => &[NAME, AGE, ("Request", "string", 0), ("Limit", "string", 0)],
        ("", "limitranges") => &[NAME, ("Created At", "date", 0)],
        ("coordination.k8s.io", "leases") => &[NAME, ("Holder", "string", 0), AGE],
        _ => &[NAME, AGE],
    }
}

fn column_definitions(res: &ResourceDef) -> Value {
    columns(res)
        .iter()
        .map(|(name, ty, prio)| {
            let mut c = json!({"name": name, "type": ty, "format": "", "description": "", "priority": prio});
            if *name == "Name" && !(res.plural == "events" && res.group.is_empty()) {
                c["format"] = json!("name");
            }
            c
        })
        .collect()
}

/// A `meta.k8s.io/v1` Table of `items`, written one row at a time: each
/// object is consumed as its row is serialised, so a page of 500 pods is
/// never held parsed all at once. `columns: false` leaves out the column
/// definitions (a watch sends them with its first row only).
pub fn table(
    res: &ResourceDef,
    items: impl IntoIterator<Item = Value>,
    rv: &str,
    cont: Option<&str>,
    include_object: bool,
    columns: bool,
) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let mut out = Vec::with_capacity(4096);
    // Keys in the order serde_json writes a map (sorted), as before.
    out.extend_from_slice(b"{\"apiVersion\":\"meta.k8s.io/v1\",");
    if columns {
        out.extend_from_slice(b"\"columnDefinitions\":");
        write_json(&mut out, &column_definitions(res));
        out.push(b',');
    }
    out.extend_from_slice(b"\"kind\":\"Table\",\"metadata\":");
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    write_json(&mut out, &meta);
    out.extend_from_slice(b",\"rows\":[");
    for (i, mut o) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        write_json(&mut out, &cells(res, &o, now));
        if include_object {
            out.extend_from_slice(
                b",\"object\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"PartialObjectMetadata\",\"metadata\":",
            );
            write_json(&mut out, &o["metadata"].take());
            out.push(b'}');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// Serialising a `Value` into a Vec cannot fail.
fn write_json(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(out, v);
}

/// Upstream's short human duration (`5s`, `3m20s`, `2d3h`, `4y`).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse().ok()
}

fn since(v: &Value, now: jiff::Timestamp) -> String {
    match parse_time(v) {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `RWO,ROX,RWX,RWOP` in upstream's order.
pub fn access_modes(modes: &Value) -> String {
    let has = |m: &str| arr(modes).iter().any(|x| x == m);
    let mut out = Vec::new();
    for (full, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(full) {
            out.push(short);
        }
    }
    out.join(",")
}

fn template_columns(spec: &Value) -> (String, String, String) {
    let cs = arr(&spec["template"]["spec"]["containers"]);
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    let sel = selector_string(&spec["selector"]);
    (names.join(","), images.join(","), or_none(sel))
}

fn cells(res: &ResourceDef, o: &Value, now: jiff::Timestamp) -> Value {
    let name = s(&o["metadata"]["name"]);
    let age = since(&o["metadata"]["creationTimestamp"], now);
    let terminating = !o["metadata"]["deletionTimestamp"].is_null();
    let spec = &o["spec"];
    let st = &o["status"];
    match (res.group, res.plural) {
        ("", "pods") => pod_cells(o, now),
        ("", "namespaces") => json!([name, s(&st["phase"]), age]),
        ("", "nodes") => {
            let ready = arr(&st["conditions"]).iter().find(|c| c["type"] == "Ready");
            let mut status = match ready.map(|c| s(&c["status"])) {
                Some(x) if x == "True" => "Ready".to_string(),
                Some(x) if x == "False" => "NotReady".to_string(),
                _ => "Unknown".to_string(),
            };
            if spec["unschedulable"] == json!(true) {
                status.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                                (!r.is_empty()).then(|| r.to_string())
                            } else if k == "kubernetes.io/role" {
                                Some(s(v))
                            } else {
                                None
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let addr = |t: &str| {
                arr(&st["addresses"])
                    .iter()
                    .find(|a| a["type"] == t)
                    .map(|a| s(&a["address"]))
                    .unwrap_or_default()
            };
            let info = &st["nodeInfo"];
            json!([
                name,
                status,
                or_none(roles.join(",")),
                age,
                s(&info["kubeletVersion"]),
                or_none(addr("InternalIP")),
                or_none(addr("ExternalIP")),
                or_none(s(&info["osImage"])),
                or_none(s(&info["kernelVersion"])),
                or_none(s(&info["containerRuntimeVersion"])),
            ])
        }
        ("", "services") => {
            let ty = s(&spec["type"]);
            let external: Vec<String> = arr(&spec["externalIPs"]).iter().map(s).collect();
            let ext = match ty.as_str() {
                "LoadBalancer" => {
                    let mut ips: Vec<String> = arr(&st["loadBalancer"]["ingress"])
                        .iter()
                        .map(|i| {
                            if i["ip"].is_string() {
                                s(&i["ip"])
                            } else {
                                s(&i["hostname"])
                            }
                        })
                        .collect();
                    ips.extend(external);
                    if ips.is_empty() {
                        "<pending>".to_string()
                    } else {
                        ips.join(",")
                    }
                }
                "ExternalName" => s(&spec["externalName"]),
                _ => or_none(external.join(",")),
            };
            let ports: Vec<String> = arr(&spec["ports"])
                .iter()
                .map(|p| {
                    let np = int(&p["nodePort"]);
                    if np != 0 {
                        format!("{}:{np}/{}", int(&p["port"]), s(&p["protocol"]))
                    } else {
                        format!("{}/{}", int(&p["port"]), s(&p["protocol"]))
                    }
                })
                .collect();
            json!([
                name,
                ty,
                or_none(s(&spec["clusterIP"])),
                ext,
                or_none(ports.join(",")),
                age,
                or_none(format_labels(&spec["selector"])),
            ])
        }
        ("", "endpoints") => json!([name, format_endpoints(o), age]),
        ("", "configmaps") => {
            let n = o["data"].as_object().map_or(0, |m| m.len())
                + o["binaryData"].as_object().map_or(0, |m| m.len());
            json!([name, n, age])
        }
        ("", "secrets") => {
            let n = o["data"].as_object().map_or(0, |m| m.len());
            json!([name, s(&o["type"]), n, age])
        }
        ("", "serviceaccounts") => json!([name, arr(&o["secrets"]).len(), age]),
        ("", "events") => {
            let mut first = since(&o["firstTimestamp"], now);
            if o["firstTimestamp"].is_null() {
                first = since(&o["eventTime"], now);
            }
            let mut last = since(&o["lastTimestamp"], now);
            if o["lastTimestamp"].is_null() {
                last = first.clone();
            }
            let mut count = int(&o["count"]);
            if o["series"].is_object() {
                last = since(&o["series"]["lastObservedTime"], now);
                count = int(&o["series"]["count"]);
            } else if count == 0 {
                count = 1;
            }
            let io = &o["involvedObject"];
            let kind = s(&io["kind"]).to_lowercase();
            let target = if s(&io["name"]).is_empty() {
                kind
            } else {
                format!("{kind}/{}", s(&io["name"]))
            };
            let mut source = s(&o["source"]["component"]);
            if source.is_empty() {
                source = s(&o["reportingComponent"]);
            }
            let host = s(&o["source"]["host"]);
            if !host.is_empty() {
                source = format!("{source}, {host}");
            }
            json!([
                last,
                s(&o["type"]),
                s(&o["reason"]),
                target,
                s(&io["fieldPath"]),
                source,
                s(&o["message"]).trim(),
                first,
                count,
                name,
            ])
        }
        ("", "persistentvolumes") => {
            let claim = if spec["claimRef"].is_object() {
                format!(
                    "{}/{}",
                    s(&spec["claimRef"]["namespace"]),
                    s(&spec["claimRef"]["name"])
                )
            } else {
                String::new()
            };
            let phase = if terminating {
                "Terminating".to_string()
            } else {
                s(&st["phase"])
            };
            json!([
                name,
                s(&spec["capacity"]["storage"]),
                access_modes(&spec["accessModes"]),
                s(&spec["persistentVolumeReclaimPolicy"]),
                phase,
                claim,
                storage_class(o),
                unset(s(&spec["volumeAttributesClassName"])),
                s(&st["reason"]),
                age,
                unset(s(&spec["volumeMode"])),
            ])
        }
        ("", "persistentvolumeclaims") => {
            let phase = if terminating {
                "Terminating".to_string()
            } else {
                s(&st["phase"])
            };
            let bound = !s(&spec["volumeName"]).is_empty();
            let (cap, modes) = if bound {
                (
                    s(&st["capacity"]["storage"]),
                    access_modes(&st["accessModes"]),
                )
            } else {
                (String::new(), String::new())
            };
            json!([
                name,
                phase,
                s(&spec["volumeName"]),
                cap,
                modes,
                storage_class(o),
                unset(s(&spec["volumeAttributesClassName"])),
                age,
                unset(s(&spec["volumeMode"])),
            ])
        }
        ("storage.k8s.io", "storageclasses") => {
            let default = o["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
                == "true"
                || o["metadata"]["annotations"]["storageclass.beta.kubernetes.io/is-default-class"]
                    == "true";
            let shown = if default {
                format!("{name} (default)")
            } else {
                name
            };
            let reclaim = if o["reclaimPolicy"].is_null() {
                "Delete".into()
            } else {
                s(&o["reclaimPolicy"])
            };
            let mode = if o["volumeBindingMode"].is_null() {
                "Immediate".into()
            } else {
                s(&o["volumeBindingMode"])
            };
            json!([
                shown,
                s(&o["provisioner"]),
                reclaim,
                mode,
                o["allowVolumeExpansion"].as_bool().unwrap_or(false),
                age,
            ])
        }
        ("apps", "deployments") => {
            let (c, i, sel) = template_columns(spec);
            json!([
                name,
                format!("{}/{}", int(&st["readyReplicas"]), int(&spec["replicas"])),
                int(&st["updatedReplicas"]),
                int(&st["availableReplicas"]),
                age,
                c,
                i,
                sel,
            ])
        }
        ("apps", "replicasets") => {
            let (c, i, sel) = template_columns(spec);
            json!([
                name,
                int(&spec["replicas"]),
                int(&st["replicas"]),
                int(&st["readyReplicas"]),
                age,
                c,
                i,
                sel
            ])
        }
        ("batch", "jobs") => {
            let has = |t: &str| {
                arr(&st["conditions"])
                    .iter()
                    .any(|c| c["type"] == t && c["status"] == "True")
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if terminating {
                "Terminating"
            } else if has("Suspended") {
                "Suspended"
            } else if has("FailureTarget") {
                "FailureTarget"
            } else if has("SuccessCriteriaMet") {
                "SuccessCriteriaMet"
            } else {
                "Running"
            };
            let succeeded = int(&st["succeeded"]);
            let completions = if !spec["completions"].is_null() {
                format!("{succeeded}/{}", int(&spec["completions"]))
            } else if spec["parallelism"].is_null() {
                format!("{succeeded}/1 of 1")
            } else if int(&spec["parallelism"]) > 1 {
                format!("{succeeded}/1 of {}", int(&spec["parallelism"]))
            } else {
                format!("{succeeded}/1")
            };
            let duration = match (
                parse_time(&st["startTime"]),
                parse_time(&st["completionTime"]),
            ) {
                (None, _) => String::new(),
                (Some(start), None) => human_duration(now.as_second() - start.as_second()),
                (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
            };
            let (c, i, sel) = template_columns(spec);
            json!([name, status, completions, duration, age, c, i, sel])
        }
        ("discovery.k8s.io", "endpointslices") => {
            let ports: Vec<String> = arr(&o["ports"])
                .iter()
                .filter(|p| !p["port"].is_null())
                .map(|p| int(&p["port"]).to_string())
                .collect();
            let mut addrs: Vec<String> = Vec::new();
            let mut total = 0;
            for e in arr(&o["endpoints"]) {
                for a in arr(&e["addresses"]) {
                    if addrs.len() < 3 {
                        addrs.push(s(a));
                    }
                    total += 1;
                }
            }
            let mut eps = addrs.join(",");
            if total > 3 {
                eps = format!("{eps} + {} more...", total - 3);
            }
            json!([
                name,
                s(&o["addressType"]),
                unset(ports.join(",")),
                unset(eps),
                age
            ])
        }
        ("", "resourcequotas") => {
            let pairs = |prefix: bool| {
                let hard = st["hard"].as_object();
                let used = &st["used"];
                let mut out: Vec<String> = hard
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.starts_with("limits.") == prefix)
                    .map(|(k, v)| format!("{k}: {}/{}", s(&used[k]).if_empty("0"), s(v)))
                    .collect();
                out.sort();
                out.join(", ")
            };
            json!([name, age, pairs(false), pairs(true)])
        }
        ("", "limitranges") => json!([name, s(&o["metadata"]["creationTimestamp"])]),
        ("coordination.k8s.io", "leases") => {
            json!([name, s(&spec["holderIdentity"]), age])
        }
        _ => json!([name, age]),
    }
}

fn unset(v: String) -> String {
    if v.is_empty() { "<unset>".into() } else { v }
}

fn storage_class(o: &Value) -> String {
    let beta = &o["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"];
    if beta.is_string() {
        s(beta)
    } else {
        s(&o["spec"]["storageClassName"])
    }
}

/// `k=v,k2=v2` sorted by key, as `labels.FormatLabels` prints.
fn format_labels(m: &Value) -> String {
    let Some(m) = m.as_object() else {
        return String::new();
    };
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect();
    pairs.sort();
    pairs.join(",")
}

fn format_endpoints(o: &Value) -> String {
    let subsets = arr(&o["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for ss in subsets {
        for p in arr(&ss["ports"]) {
            for a in arr(&ss["addresses"]) {
                if list.len() < 3 {
                    list.push(format!("{}:{}", s(&a["ip"]), int(&p["port"])));
                }
                count += 1;
            }
        }
    }
    let joined = list.join(",");
    if count > 3 {
        format!("{joined} + {} more...", count - 3)
    } else {
        or_none(joined)
    }
}

fn pod_cells(o: &Value, now: jiff::Timestamp) -> Value {
    let spec = &o["spec"];
    let st = &o["status"];
    let mut restarts = 0;
    let mut restartable_init_restarts = 0;
    let mut total = arr(&spec["containers"]).len();
    let mut ready = 0;
    let mut last_restart: Option<jiff::Timestamp> = None;
    let mut reason = s(&st["phase"]);
    if !s(&st["reason"]).is_empty() {
        reason = s(&st["reason"]);
    }
    let scheduling_gated = arr(&st["conditions"])
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated");
    if scheduling_gated {
        reason = "SchedulingGated".into();
    }
    let init_specs = arr(&spec["initContainers"]);
    let is_sidecar = |name: &Value| {
        init_specs
            .iter()
            .any(|c| c["name"] == *name && c["restartPolicy"] == "Always")
    };
    total += init_specs
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let mut note_restart = |c: &Value| {
        if let Some(t) = parse_time(&c["lastState"]["terminated"]["finishedAt"])
            && last_restart.is_none_or(|l| l < t)
        {
            last_restart = Some(t);
        }
    };
    let mut initializing = false;
    let init_statuses = arr(&st["initContainerStatuses"]);
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += int(&c["restartCount"]);
        note_restart(c);
        if is_sidecar(&c["name"]) {
            restartable_init_restarts += int(&c["restartCount"]);
            if c["started"] == json!(true) && c["ready"] == json!(true) {
                ready += 1;
            }
            continue;
        }
        let term = &c["state"]["terminated"];
        let wait = &c["state"]["waiting"];
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        } else if term.is_object() {
            reason = if s(&term["reason"]).is_empty() {
                if int(&term["signal"]) != 0 {
                    format!("Init:Signal:{}", int(&term["signal"]))
                } else {
                    format!("Init:ExitCode:{}", int(&term["exitCode"]))
                }
            } else {
                format!("Init:{}", s(&term["reason"]))
            };
        } else if wait.is_object()
            && !s(&wait["reason"]).is_empty()
            && s(&wait["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", s(&wait["reason"]));
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = arr(&st["conditions"])
        .iter()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        let mut has_running = false;
        for c in arr(&st["containerStatuses"]).iter().rev() {
            restarts += int(&c["restartCount"]);
            note_restart(c);
            let wait = &c["state"]["waiting"];
            let term = &c["state"]["terminated"];
            if wait.is_object() && !s(&wait["reason"]).is_empty() {
                reason = s(&wait["reason"]);
            } else if term.is_object() && !s(&term["reason"]).is_empty() {
                reason = s(&term["reason"]);
            } else if term.is_object() {
                reason = if int(&term["signal"]) != 0 {
                    format!("Signal:{}", int(&term["signal"]))
                } else {
                    format!("ExitCode:{}", int(&term["exitCode"]))
                };
            } else if c["ready"] == json!(true) && c["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr(&st["conditions"])
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let phase = s(&st["phase"]);
    if !o["metadata"]["deletionTimestamp"].is_null() {
        if s(&st["reason"]) == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.as_second() - t.as_second())
        ),
        _ => restarts.to_string(),
    };
    let gates = arr(&spec["readinessGates"]);
    let gates_str = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                arr(&st["conditions"])
                    .iter()
                    .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    json!([
        s(&o["metadata"]["name"]),
        format!("{ready}/{total}"),
        reason,
        restarts_str,
        since(&o["metadata"]["creationTimestamp"], now),
        or_none(s(&st["podIP"])),
        or_none(s(&spec["nodeName"])),
        or_none(s(&st["nominatedNodeName"])),
        gates_str,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    #[test]
    fn durations() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (180, "3m"),
            (900, "15m"),
            (3 * 3600 + 60, "3h1m"),
            (10 * 3600, "10h"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (20 * 86400, "20d"),
            (3 * 365 * 86400, "3y"),
        ] {
            assert_eq!(human_duration(secs), want);
        }
    }

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn pod_and_pv_rows() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": "2020-01-01T00:00:00Z"}}}]}});
        let t = parse(table(&resources::PODS, [pod], "7", None, true, true));
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert!(cells[3].as_str().unwrap().starts_with("3 ("));
        assert_eq!(cells[5], "10.0.0.1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let pv = json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "d", "name": "c"}, "storageClassName": "standard", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        let t = parse(table(&resources::PVS, [pv], "7", None, false, true));
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "v",
                "1Gi",
                "RWO,ROX",
                "Retain",
                "Bound",
                "d/c",
                "standard",
                "<unset>",
                "",
                "<unknown>",
                "Filesystem"
            ])
        );
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 11);
    }
}
