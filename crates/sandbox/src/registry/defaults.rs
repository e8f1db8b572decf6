//! Defaulting and validation with upstream's values and messages, so that
//! `kubectl describe` and `-o yaml` look like they do on a real cluster.

use serde_json::{Value, json};

use crate::machinery::resources::ResourceDef;
use crate::machinery::status::Cause;

/// The sandbox's one node.
pub const NODE_NAME: &str = "kubetutor-node";
/// How many unfinished pods the node runs (a kind node's kubelet maxPods).
pub const MAX_PODS: usize = 110;
/// The default storage class (binds when the first pod uses a claim).
pub const DEFAULT_CLASS: &str = "standard";
/// The storage class that binds claims at once.
pub const IMMEDIATE_CLASS: &str = "immediate";

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn set_default(v: &mut Value, key: &str, default: Value) {
    if v.is_object() && v.get(key).is_none_or(Value::is_null) {
        v[key] = default;
    }
}

fn is_core(res: &ResourceDef, plural: &str) -> bool {
    res.group.is_empty() && res.plural == plural
}

/// Applies upstream's defaults to an object about to be stored.
pub fn apply(res: &ResourceDef, obj: &mut Value) {
    match (res.group, res.plural) {
        ("", "pods") => {
            default_pod_spec(&mut obj["spec"]);
            pod_only_defaults(&mut obj["spec"]);
            if obj["status"].is_null() {
                let qos = qos_class(&obj["spec"]);
                obj["status"] = json!({"phase": "Pending", "qosClass": qos});
            }
        }
        ("", "services") => default_service(obj),
        ("", "secrets") if obj["type"].as_str().is_none_or(str::is_empty) => {
            obj["type"] = json!("Opaque");
        }
        ("", "persistentvolumeclaims") => {
            set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            if obj["status"].is_null() {
                obj["status"] = json!({"phase": "Pending"});
            }
        }
        ("", "persistentvolumes") => {
            set_default(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            if obj["spec"]["hostPath"].is_object() {
                set_default(&mut obj["spec"]["hostPath"], "type", json!(""));
            }
            set_default(
                &mut obj["spec"],
                "persistentVolumeReclaimPolicy",
                json!("Retain"),
            );
            if obj["status"].is_null() {
                obj["status"] = json!({"phase": "Pending"});
            }
        }
        ("", "namespaces") => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            set_default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
            if obj["status"].is_null() {
                obj["status"] = json!({"phase": "Active"});
            }
        }
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            if spec.is_object() {
                set_default(spec, "replicas", json!(1));
                set_default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                if spec["strategy"]["type"] == "RollingUpdate" {
                    set_default(&mut spec["strategy"], "rollingUpdate", json!({}));
                    set_default(
                        &mut spec["strategy"]["rollingUpdate"],
                        "maxUnavailable",
                        json!("25%"),
                    );
                    set_default(
                        &mut spec["strategy"]["rollingUpdate"],
                        "maxSurge",
                        json!("25%"),
                    );
                }
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                default_template(&mut spec["template"]);
            }
        }
        ("apps", "replicasets") => {
            let spec = &mut obj["spec"];
            if spec.is_object() {
                set_default(spec, "replicas", json!(1));
                default_template(&mut spec["template"]);
            }
        }
        ("batch", "jobs") => default_job(obj),
        ("storage.k8s.io", "storageclasses") => {
            set_default(obj, "reclaimPolicy", json!("Delete"));
            set_default(obj, "volumeBindingMode", json!("Immediate"));
        }
        _ => {}
    }
}

fn default_template(t: &mut Value) {
    if t.is_object() {
        if t["metadata"].is_null() {
            t["metadata"] = json!({});
        }
        default_pod_spec(&mut t["spec"]);
    }
}

/// `SetDefaults_PodSpec`: what pods and pod templates both get.
fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    // Absent, not null: upstream omits empty fields.
    m.retain(|_, v| !v.is_null());
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                default_container(c);
            }
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols.iter_mut().filter(|v| v.is_object()) {
            for src in ["configMap", "secret", "projected", "downwardAPI"] {
                if v[src].is_object() {
                    set_default(&mut v[src], "defaultMode", json!(420));
                }
            }
            if v["hostPath"].is_object() {
                set_default(&mut v["hostPath"], "type", json!(""));
            }
            if let Some(items) = v
                .get_mut("downwardAPI")
                .and_then(|d| d.get_mut("items"))
                .and_then(Value::as_array_mut)
            {
                for it in items.iter_mut() {
                    default_field_ref(it);
                }
            }
        }
    }
}

/// What only a pod gets, not a template: `SetDefaults_Pod`
/// (enableServiceLinks) and the admission plugins (service account,
/// priority, default toleration seconds).
fn pod_only_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(spec, "priority", json!(0));
    set_default(spec, "serviceAccountName", json!("default"));
    if spec["serviceAccount"].is_null() {
        spec["serviceAccount"] = spec["serviceAccountName"].clone();
    }
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let Some(list) = spec["tolerations"].as_array_mut() else {
            break;
        };
        let has = list.iter().any(|t| {
            (t["key"] == key || t["key"].is_null() && t["operator"] == "Exists")
                && (t["effect"] == "NoExecute" || t["effect"].is_null())
        });
        if !has {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// Where the service account admission plugin mounts the API credentials.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap with the cluster's CA, published into every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// What the ServiceAccount admission plugin adds to a new pod: the
/// `kube-api-access-xxxxx` projected volume (token, CA, namespace) mounted
/// read-only in every container, unless automountServiceAccountToken is
/// false or a container already mounts something there.
pub fn admit_pod(pod: &mut Value) {
    let spec = &mut pod["spec"];
    if !spec.is_object() || spec["automountServiceAccountToken"] == json!(false) {
        return;
    }
    let has_mount = |spec: &Value| {
        ["containers", "initContainers"].iter().any(|l| {
            spec[*l].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["volumeMounts"].as_array().is_some_and(|ms| {
                        ms.iter().any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT)
                    })
                })
            })
        })
    };
    if has_mount(spec) {
        return;
    }
    let name = format!(
        "kube-api-access-{}",
        crate::machinery::names::random_suffix(5)
    );
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(vols) => vols.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
    let mount = json!({"name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT});
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    Some(ms) => ms.push(mount.clone()),
                    None => c["volumeMounts"] = json!([mount.clone()]),
                }
            }
        }
    }
}

/// `SetDefaults_ObjectFieldSelector`: a fieldRef's apiVersion is v1.
fn default_field_ref(holder: &mut Value) {
    if holder["fieldRef"].is_object() {
        set_default(&mut holder["fieldRef"], "apiVersion", json!("v1"));
    }
}

fn default_container(c: &mut Value) {
    let policy = match c["image"].as_str() {
        Some(img) => pull_policy(img),
        None => "IfNotPresent",
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(vf) = e.get_mut("valueFrom") {
                default_field_ref(vf);
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let p = &mut c[probe];
        if p.is_object() {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            if p["httpGet"].is_object() {
                set_default(&mut p["httpGet"], "path", json!("/"));
                set_default(&mut p["httpGet"], "scheme", json!("HTTP"));
            }
        }
    }
    if c.get("probe-cleanup").is_some() {
        // (never present; keeps the object shape untouched)
    }
    strip_null_probes(c);
}

fn strip_null_probes(c: &mut Value) {
    if let Some(m) = c.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (upstream's rule).
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        for r in ["cpu", "memory"] {
            if !req[r].is_null() || !lim[r].is_null() {
                any = true;
            }
            let l = &lim[r];
            if l.is_null() || (!req[r].is_null() && req[r] != *l) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_service(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if kind != "ExternalName" {
        if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
            spec["clusterIP"] = json!(random_cluster_ip());
        }
        if spec["clusterIPs"].is_null() {
            spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
        }
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            set_default(p, "protocol", json!("TCP"));
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
            if (kind == "NodePort" || kind == "LoadBalancer") && p["nodePort"].is_null() {
                use rand::Rng as _;
                p["nodePort"] = json!(rand::rng().random_range(30000..32768));
            }
        }
    }
    if obj["status"].is_null() {
        obj["status"] = json!({"loadBalancer": {}});
    }
}

fn random_cluster_ip() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    format!(
        "10.96.{}.{}",
        rng.random_range(1..255),
        rng.random_range(1..255)
    )
}

fn default_job(obj: &mut Value) {
    let uid = obj["metadata"]["uid"].clone();
    let name = obj["metadata"]["name"].clone();
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "completions", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec["manualSelector"].as_bool().unwrap_or(false);
    if !manual && uid.is_string() && spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        let t = &mut spec["template"];
        if t.is_object() {
            if !t["metadata"]["labels"].is_object() {
                t["metadata"]["labels"] = json!({});
            }
            let l = &mut t["metadata"]["labels"];
            l["batch.kubernetes.io/controller-uid"] = uid.clone();
            l["batch.kubernetes.io/job-name"] = name.clone();
            l["controller-uid"] = uid;
            l["job-name"] = name;
        }
    }
    default_template(&mut spec["template"]);
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn valid_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(valid_label)
}

fn valid_dns1035(s: &str) -> bool {
    valid_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Validates a name for a resource; upstream uses labels for namespaces,
/// DNS-1035 labels for services and subdomains for most others.
fn name_causes(res: &ResourceDef, name: &str, out: &mut Vec<Cause>) {
    let v = json!(name);
    let (ok, msg, max) = if is_core(res, "namespaces") {
        (valid_label(name), LABEL_MSG, 63)
    } else if is_core(res, "services") {
        (valid_dns1035(name), DNS1035_MSG, 63)
    } else {
        (valid_subdomain(name), SUBDOMAIN_MSG, 253)
    };
    if name.len() > max {
        out.push(Cause::invalid(
            "metadata.name",
            &v,
            &format!("must be no more than {max} characters"),
        ));
    } else if !ok {
        out.push(Cause::invalid("metadata.name", &v, msg));
    }
}

/// Validates an object; `old` is the stored version on updates.
pub fn validate(res: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if name.is_empty() {
        out.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        });
        return out;
    }
    if old.is_none() {
        name_causes(res, name, &mut out);
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if !v.is_string() {
                out.push(Cause::invalid(
                    "metadata.labels".to_string(),
                    v,
                    "label values must be strings",
                ));
            } else if !valid_label_value(v.as_str().unwrap_or("")) {
                out.push(Cause::invalid(
                    "metadata.labels",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ));
            }
            if k.is_empty() {
                out.push(Cause::invalid(
                    "metadata.labels",
                    &json!(k),
                    "name part must be non-empty",
                ));
            }
        }
    }
    match (res.group, res.plural) {
        ("", "pods") => {
            validate_pod_spec(&obj["spec"], "spec", &mut out);
            if let Some(old) = old {
                let strip = |v: &Value| {
                    let mut s = v["spec"].clone();
                    if let Some(cs) = s["containers"].as_array_mut() {
                        for c in cs {
                            c["image"] = Value::Null;
                        }
                    }
                    if let Some(cs) = s["initContainers"].as_array_mut() {
                        for c in cs {
                            c["image"] = Value::Null;
                        }
                    }
                    for k in [
                        "activeDeadlineSeconds",
                        "tolerations",
                        "terminationGracePeriodSeconds",
                        "nodeName",
                    ] {
                        s[k] = Value::Null;
                    }
                    s
                };
                let nodename_changed = !old["spec"]["nodeName"].is_null()
                    && old["spec"]["nodeName"] != obj["spec"]["nodeName"];
                if strip(obj) != strip(old) || nodename_changed {
                    out.push(Cause::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
                }
            }
        }
        ("apps", "deployments") | ("apps", "replicasets") => {
            let spec = &obj["spec"];
            if spec["selector"].is_null() {
                out.push(Cause::required("spec.selector"));
            } else if !selector_matches_template(spec) {
                out.push(Cause::invalid(
                    "spec.template.metadata.labels",
                    &go_map(&spec["template"]["metadata"]["labels"]),
                    "`selector` does not match template `labels`",
                ));
            }
            if spec["replicas"].as_i64().is_some_and(|r| r < 0) {
                out.push(Cause::invalid(
                    "spec.replicas",
                    &spec["replicas"],
                    "must be greater than or equal to 0",
                ));
            }
            validate_pod_spec(&spec["template"]["spec"], "spec.template.spec", &mut out);
            if let Some(old) = old
                && old["spec"]["selector"] != spec["selector"]
            {
                out.push(Cause::invalid(
                    "spec.selector",
                    &go_selector(&spec["selector"]),
                    "field is immutable",
                ));
            }
        }
        ("batch", "jobs") => {
            let t = &obj["spec"]["template"]["spec"];
            validate_pod_spec(t, "spec.template.spec", &mut out);
            let rp = t["restartPolicy"].as_str().unwrap_or("");
            if rp != "Never" && rp != "OnFailure" {
                out.push(Cause::unsupported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["OnFailure", "Never"],
                ));
            }
            if let Some(old) = old
                && old["spec"]["template"] != obj["spec"]["template"]
                && !old["spec"]["suspend"].as_bool().unwrap_or(false)
            {
                out.push(Cause::invalid(
                    "spec.template",
                    &go_map(&obj["spec"]["template"]),
                    "field is immutable",
                ));
            }
        }
        ("", "persistentvolumeclaims") => {
            let spec = &obj["spec"];
            if spec["accessModes"].as_array().is_none_or(|a| a.is_empty()) {
                out.push(Cause {
                    reason: "FieldValueRequired",
                    field: "spec.accessModes".into(),
                    message: "Required value: at least 1 access mode is required".into(),
                });
            }
            check_access_modes(&spec["accessModes"], "spec.accessModes", &mut out);
            if spec["resources"]["requests"]["storage"].is_null() && spec["dataSource"].is_null() {
                out.push(Cause::required("spec.resources[storage]"));
            }
            if let Some(old) = old {
                let strip = |v: &Value| {
                    let mut s = v["spec"].clone();
                    s["resources"]["requests"] = Value::Null;
                    if old["spec"]["volumeName"].is_null() {
                        s["volumeName"] = Value::Null;
                    }
                    s
                };
                if strip(obj) != strip(old) {
                    out.push(Cause::forbidden(
                        "spec",
                        "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                    ));
                }
            }
        }
        ("", "persistentvolumes") => {
            let spec = &obj["spec"];
            if spec["capacity"]["storage"].is_null() {
                out.push(Cause::required("spec.capacity"));
            }
            if spec["accessModes"].as_array().is_none_or(|a| a.is_empty()) {
                out.push(Cause::required("spec.accessModes"));
            }
            check_access_modes(&spec["accessModes"], "spec.accessModes", &mut out);
            const SOURCES: &[&str] = &[
                "hostPath",
                "local",
                "nfs",
                "csi",
                "iscsi",
                "fc",
                "awsElasticBlockStore",
                "gcePersistentDisk",
                "azureDisk",
                "azureFile",
                "cephfs",
                "rbd",
                "cinder",
                "flexVolume",
                "glusterfs",
                "portworxVolume",
                "photonPersistentDisk",
                "quobyte",
                "scaleIO",
                "storageos",
                "vsphereVolume",
                "flocker",
            ];
            if !SOURCES.iter().any(|s| spec[*s].is_object()) {
                out.push(Cause {
                    reason: "FieldValueRequired",
                    field: "spec".into(),
                    message: "Required value: must specify a volume type".into(),
                });
            }
        }
        ("", "services") => {
            let spec = &obj["spec"];
            let headless = spec["clusterIP"] == "None";
            let kind = spec["type"].as_str().unwrap_or("ClusterIP");
            if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&kind) {
                out.push(Cause::unsupported(
                    "spec.type",
                    kind,
                    &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
                ));
            }
            if spec["ports"].as_array().is_none_or(|p| p.is_empty())
                && !headless
                && kind != "ExternalName"
            {
                out.push(Cause::required("spec.ports"));
            }
            if let Some(ports) = spec["ports"].as_array() {
                for (i, p) in ports.iter().enumerate() {
                    if p["port"].as_i64().is_none_or(|n| !(1..=65535).contains(&n)) {
                        out.push(Cause::invalid(
                            format!("spec.ports[{i}].port"),
                            &p["port"],
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                    if ports.len() > 1 && p["name"].as_str().is_none_or(str::is_empty) {
                        out.push(Cause::required(format!("spec.ports[{i}].name")));
                    }
                }
            }
        }
        ("storage.k8s.io", "storageclasses") => {
            if obj["provisioner"].as_str().is_none_or(str::is_empty) {
                out.push(Cause::required("provisioner"));
            }
            let mode = obj["volumeBindingMode"].as_str().unwrap_or("Immediate");
            if mode != "Immediate" && mode != "WaitForFirstConsumer" {
                out.push(Cause::unsupported(
                    "volumeBindingMode",
                    mode,
                    &["Immediate", "WaitForFirstConsumer"],
                ));
            }
        }
        _ => {}
    }
    out
}

fn check_access_modes(modes: &Value, field: &str, out: &mut Vec<Cause>) {
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

fn valid_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Go's `%#v` of a `map[string]string`, as upstream prints it in messages.
fn go_map(v: &Value) -> Value {
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

fn go_selector(v: &Value) -> Value {
    Value::String(format!(
        "v1.LabelSelector{{MatchLabels:{}}}",
        go_map(&v["matchLabels"]).as_str().unwrap_or("")
    ))
}

fn selector_matches_template(spec: &Value) -> bool {
    let labels = &spec["template"]["metadata"]["labels"];
    crate::machinery::selectors::label_selector_matches(&spec["selector"], labels)
}

fn validate_pod_spec(spec: &Value, path: &str, out: &mut Vec<Cause>) {
    if !spec.is_object() {
        out.push(Cause::required(format!("{path}.containers")));
        return;
    }
    let containers = spec["containers"].as_array();
    if containers.is_none_or(|c| c.is_empty()) {
        out.push(Cause::required(format!("{path}.containers")));
    }
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    let mut seen_vol = Vec::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let n = v["name"].as_str().unwrap_or("");
        if n.is_empty() {
            out.push(Cause::required(format!("{path}.volumes[{i}].name")));
        } else if seen_vol.contains(&n) {
            out.push(Cause::duplicate(
                format!("{path}.volumes[{i}].name"),
                &json!(n),
            ));
        }
        seen_vol.push(n);
    }
    let rp = spec["restartPolicy"].as_str().unwrap_or("Always");
    if !["Always", "OnFailure", "Never"].contains(&rp) {
        out.push(Cause::unsupported(
            format!("{path}.restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            let n = c["name"].as_str().unwrap_or("");
            if n.is_empty() {
                out.push(Cause::required(format!("{p}.name")));
            } else if !valid_label(n) {
                out.push(Cause::invalid(format!("{p}.name"), &json!(n), LABEL_MSG));
            } else if names.contains(&n) {
                out.push(Cause::duplicate(format!("{p}.name"), &json!(n)));
            }
            names.push(n);
            if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
                out.push(Cause::required(format!("{p}.image")));
            }
            for (j, m) in c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let mn = m["name"].as_str().unwrap_or("");
                if !volumes.contains(&mn) {
                    out.push(Cause {
                        reason: "FieldValueNotFound",
                        field: format!("{p}.volumeMounts[{j}].name"),
                        message: format!("Not found: {mn:?}"),
                    });
                }
                if m["mountPath"].as_str().is_none_or(str::is_empty) {
                    out.push(Cause::required(format!("{p}.volumeMounts[{j}].mountPath")));
                }
            }
            for (j, port) in c["ports"].as_array().into_iter().flatten().enumerate() {
                if port["containerPort"]
                    .as_i64()
                    .is_none_or(|n| !(1..=65535).contains(&n))
                {
                    out.push(Cause::invalid(
                        format!("{p}.ports[{j}].containerPort"),
                        &port["containerPort"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
}

/// The default service account of a namespace.
pub fn default_service_account(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "default",
            "namespace": ns,
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": crate::machinery::meta::now_rfc3339(),
        }
    })
}

/// The objects a fresh sandbox starts with.
pub fn bootstrap_objects() -> Vec<Value> {
    let mut v: Vec<Value> = [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kubetutor",
    ]
    .iter()
    .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
    .collect();
    v.push(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""
            }
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": MAX_PODS.to_string(), "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": MAX_PODS.to_string(), "ephemeral-storage": "100Gi"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME}
            ],
            "nodeInfo": {
                "machineID": "kubetutor", "systemUUID": "kubetutor", "bootID": "kubetutor",
                "kernelVersion": "6.0.0", "osImage": "kubetutor sandbox",
                "containerRuntimeVersion": "kubetutor://0.1.0",
                "kubeletVersion": "v1.34.0", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64"
            }
        }
    }));
    v.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
    }));
    // What the API server keeps for its own Service.
    v.push(json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                     "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    }));
    v.push(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
    }));
    v.push(json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS,
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubetutor.dev/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"
    }));
    v.push(json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": IMMEDIATE_CLASS},
        "provisioner": "kubetutor.dev/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate"
    }));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    #[test]
    fn pod_defaults() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "d", "image": "nginx:1.27"}]}});
        apply(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(validate(&resources::PODS, &p, None).is_empty());
    }

    #[test]
    fn templates_get_pod_spec_defaults_only() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx:1.25",
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]});
        let mut d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}});
        apply(&resources::DEPLOYMENTS, &mut d);
        let t = &d["spec"]["template"]["spec"];
        for k in [
            "restartPolicy",
            "dnsPolicy",
            "schedulerName",
            "terminationGracePeriodSeconds",
            "securityContext",
        ] {
            assert!(!t[k].is_null(), "{k}");
        }
        for k in [
            "serviceAccountName",
            "serviceAccount",
            "priority",
            "preemptionPolicy",
            "enableServiceLinks",
            "tolerations",
            "volumes",
            "initContainers",
        ] {
            assert!(t.get(k).is_none(), "{k} in {t}");
        }
        assert_eq!(
            t["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert!(t["containers"][0].get("ports").is_none());

        let mut p = json!({"metadata": {"name": "p"}, "spec": spec.clone()});
        p["spec"]["tolerations"] = json!([{"key": "x", "operator": "Exists"}]);
        apply(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["spec"]["enableServiceLinks"], true);
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 3);
        assert!(p["spec"].get("volumes").is_none());
        admit_pod(&mut p);
        let vol = &p["spec"]["volumes"][0];
        assert!(
            vol["name"]
                .as_str()
                .unwrap()
                .starts_with("kube-api-access-")
        );
        assert_eq!(
            vol["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0],
            json!({"name": vol["name"], "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT})
        );
        let mut opted_out = json!({"metadata": {"name": "p"}, "spec": {"automountServiceAccountToken": false, "containers": [{"name": "c", "image": "i"}]}});
        admit_pod(&mut opted_out);
        assert!(opted_out["spec"].get("volumes").is_none());

        let mut pv = json!({"metadata": {"name": "v"}, "spec": {"hostPath": {"path": "/mnt/x"}}});
        apply(&resources::PVS, &mut pv);
        assert_eq!(pv["spec"]["hostPath"]["type"], "");
    }

    #[test]
    fn names_and_required_fields() {
        let p = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}});
        let causes = validate(&resources::PODS, &p, None);
        assert_eq!(causes[0].field, "metadata.name");
        assert!(causes.iter().any(|c| c.field == "spec.containers[0].image"));
        let pvc = json!({"metadata": {"name": "c"}, "spec": {}});
        let causes = validate(&resources::PVCS, &pvc, None);
        assert_eq!(causes.len(), 2);
    }
}
