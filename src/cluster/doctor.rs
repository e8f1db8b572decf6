//! `kubetutor doctor`: is this machine and this cluster ready for the
//! course? Each finding says what was found and, when something is wrong,
//! how to fix it.

use crate::cluster::connection::{self, ConnectOptions, short_error};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked (`kubectl`, `cluster`, `permissions`...).
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it (for `warn` and `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &str, detail: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn bad(
        check: &str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check: check.into(),
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// One permission the course needs: verb on (group, resource[/sub]),
/// namespaced or cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    pub namespaced: bool,
}

const fn ns(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
        namespaced: true,
    }
}

const fn sub(verb: &'static str, resource: &'static str, subresource: &'static str) -> Need {
    Need {
        verb,
        group: "",
        resource,
        subresource,
        namespaced: true,
    }
}

const fn cluster(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
        namespaced: false,
    }
}

/// What the learner's kubectl commands and kubetutor's watchers and probes
/// need.
pub const NEEDS: &[Need] = &[
    ns("list", "", "pods"),
    ns("watch", "", "pods"),
    ns("delete", "", "pods"),
    sub("get", "pods", "log"),
    sub("create", "pods", "exec"),
    sub("get", "pods", "proxy"),
    sub("get", "services", "proxy"),
    ns("create", "apps", "deployments"),
    ns("patch", "apps", "deployments"),
    ns("delete", "apps", "deployments"),
    ns("watch", "apps", "deployments"),
    ns("watch", "apps", "replicasets"),
    ns("create", "", "services"),
    ns("watch", "", "services"),
    ns("create", "", "configmaps"),
    ns("patch", "", "configmaps"),
    ns("watch", "", "configmaps"),
    ns("create", "", "secrets"),
    ns("watch", "", "secrets"),
    ns("create", "", "persistentvolumeclaims"),
    ns("delete", "", "persistentvolumeclaims"),
    ns("watch", "", "persistentvolumeclaims"),
    ns("create", "batch", "jobs"),
    ns("watch", "batch", "jobs"),
    ns("watch", "", "events"),
    cluster("watch", "", "persistentvolumes"),
    cluster("create", "", "persistentvolumes"),
    cluster("delete", "", "persistentvolumes"),
    cluster("watch", "storage.k8s.io", "storageclasses"),
];

impl Need {
    /// `pods/log`, `deployments.apps`...
    pub fn resource_text(&self) -> String {
        let mut r = self.resource.to_string();
        if !self.group.is_empty() {
            r = format!("{r}.{}", self.group);
        }
        if !self.subresource.is_empty() {
            r = format!("{}/{}", self.resource, self.subresource);
        }
        r
    }
}

/// How long each cluster call of the doctor may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Run every check. `kubectl` is the program to ask for its version
/// (`kubectl` on PATH unless given).
pub async fn run_doctor(opts: &ConnectOptions, kubectl: Option<&Path>) -> Vec<Finding> {
    let mut out = vec![kubectl_finding(kubectl).await];
    let resolved = match connection::resolve(opts) {
        Ok(r) => r,
        Err(e) => {
            out.push(Finding::bad(
                "kubeconfig",
                Status::Fail,
                "cannot use the kubeconfig",
                e.to_string(),
            ));
            return out;
        }
    };
    let info = resolved.info.clone();
    out.push(Finding::ok(
        "kubeconfig",
        format!(
            "context {} ({}){}",
            info.context,
            info.server,
            info.kubeconfig_path
                .as_ref()
                .map(|p| format!(" from {}", p.display()))
                .unwrap_or_default()
        ),
    ));
    let client = match connection::client_for(&resolved).await {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::bad(
                "cluster",
                Status::Fail,
                "cannot build a client",
                e.to_string(),
            ));
            return out;
        }
    };
    match tokio::time::timeout(STEP_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(v)) => out.push(Finding::ok(
            "cluster",
            format!("reachable, Kubernetes {}", v.git_version),
        )),
        Ok(Err(e)) => {
            let err = connection::check_reachable(&client, &info).await.err();
            out.push(Finding::bad(
                "cluster",
                Status::Fail,
                format!("not reachable: {}", short_error(&e)),
                err.map(|e| e.to_string()).unwrap_or_else(|| {
                    "start the cluster, then run `kubetutor doctor` again".into()
                }),
            ));
            return out;
        }
        Err(_) => {
            out.push(Finding::bad(
                "cluster",
                Status::Fail,
                format!(
                    "no answer from {} within {} s",
                    info.server,
                    STEP_TIMEOUT.as_secs()
                ),
                "start the cluster (or check the network), then run `kubetutor doctor` again",
            ));
            return out;
        }
    }
    out.push(match connection::namespace_exists(&client, &info.namespace).await {
        Ok(true) => Finding::ok("namespace", format!("{} exists", info.namespace)),
        Ok(false) => Finding::bad(
            "namespace",
            Status::Warn,
            format!("{} does not exist yet", info.namespace),
            format!(
                "kubetutor offers to create it when you start; or run `kubectl create namespace {}`",
                info.namespace
            ),
        ),
        Err(e) => Finding::bad("namespace", Status::Warn, e.to_string(), "check your permissions on namespaces"),
    });
    out.push(permissions(&client, &info.namespace).await);
    out.push(storage_classes(&client).await);
    out.push(nodes(&client).await);
    out
}

async fn kubectl_finding(kubectl: Option<&Path>) -> Finding {
    let program = kubectl.map_or_else(
        || std::ffi::OsString::from("kubectl"),
        |p| p.as_os_str().to_owned(),
    );
    let run = tokio::process::Command::new(&program)
        .args(["version", "--client", "-o", "json"])
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(STEP_TIMEOUT, run).await {
        Ok(Ok(o)) if o.status.success() => {
            match kubectl_version(&String::from_utf8_lossy(&o.stdout)) {
                Some(v) => Finding::ok("kubectl", format!("kubectl {v}")),
                None => Finding::bad(
                    "kubectl",
                    Status::Warn,
                    "kubectl answered, but not with a version",
                    "check that `kubectl version --client` works",
                ),
            }
        }
        Ok(Ok(o)) => Finding::bad(
            "kubectl",
            Status::Fail,
            format!(
                "`kubectl version --client` failed: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
            "reinstall kubectl: https://kubernetes.io/docs/tasks/tools/",
        ),
        Ok(Err(e)) => Finding::bad(
            "kubectl",
            Status::Fail,
            format!("cannot run {}: {e}", program.to_string_lossy()),
            "install kubectl and put it on your PATH: https://kubernetes.io/docs/tasks/tools/",
        ),
        Err(_) => Finding::bad(
            "kubectl",
            Status::Warn,
            "kubectl did not answer within 10 s",
            "check that `kubectl version --client` works",
        ),
    }
}

/// `v1.34.1` from `kubectl version --client -o json`.
pub fn kubectl_version(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.pointer("/clientVersion/gitVersion")?
        .as_str()
        .map(str::to_string)
}

async fn permissions(client: &Client, namespace: &str) -> Finding {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = Vec::new();
    for need in NEEDS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(need.verb.into()),
                    group: Some(need.group.into()),
                    resource: Some(need.resource.into()),
                    subresource: (!need.subresource.is_empty()).then(|| need.subresource.into()),
                    namespace: need.namespaced.then(|| namespace.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match tokio::time::timeout(STEP_TIMEOUT, api.create(&PostParams::default(), &review)).await
        {
            Ok(Ok(r)) if r.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(Ok(_)) => denied.push(*need),
            Ok(Err(e)) => {
                return Finding::bad(
                    "permissions",
                    Status::Warn,
                    format!("cannot ask the server what you may do: {}", short_error(&e)),
                    "the course may still work; if a step fails with `forbidden`, ask for access",
                );
            }
            Err(_) => {
                return Finding::bad(
                    "permissions",
                    Status::Warn,
                    "the access review did not answer",
                    "run `kubetutor doctor` again",
                );
            }
        }
    }
    permissions_finding(&denied, namespace)
}

/// Summarise denied permissions, with the commands an admin would run.
pub fn permissions_finding(denied: &[Need], namespace: &str) -> Finding {
    if denied.is_empty() {
        return Finding::ok(
            "permissions",
            format!("everything the course needs ({} checks)", NEEDS.len()),
        );
    }
    let list: Vec<String> = denied
        .iter()
        .map(|n| format!("{} {}", n.verb, n.resource_text()))
        .collect();
    let in_ns: Vec<&Need> = denied.iter().filter(|n| n.namespaced).collect();
    let cluster_wide: Vec<&Need> = denied.iter().filter(|n| !n.namespaced).collect();
    let mut fix = Vec::new();
    let verbs = |ns: &[&Need]| {
        let mut v: Vec<&str> = ns.iter().map(|n| n.verb).collect();
        v.sort_unstable();
        v.dedup();
        v.join(",")
    };
    let resources = |ns: &[&Need]| {
        let mut r: Vec<String> = ns.iter().map(|n| n.resource_text()).collect();
        r.sort_unstable();
        r.dedup();
        r.join(",")
    };
    if !in_ns.is_empty() {
        fix.push(format!(
            "kubectl create role kubetutor -n {namespace} --verb={} --resource={}",
            verbs(&in_ns),
            resources(&in_ns)
        ));
    }
    if !cluster_wide.is_empty() {
        fix.push(format!(
            "kubectl create clusterrole kubetutor --verb={} --resource={}",
            verbs(&cluster_wide),
            resources(&cluster_wide)
        ));
    }
    Finding::bad(
        "permissions",
        Status::Fail,
        format!("not allowed to {}", list.join(", ")),
        format!(
            "ask your cluster admin to grant them and bind them to you, e.g. {}; or use a local cluster (kind, minikube) or the built-in sandbox (no `--context`)",
            fix.join(" and ")
        ),
    )
}

async fn storage_classes(client: &Client) -> Finding {
    let api: Api<StorageClass> = Api::all(client.clone());
    match tokio::time::timeout(STEP_TIMEOUT, api.list(&ListParams::default())).await {
        Ok(Ok(list)) => storage_class_finding(&list.items),
        Ok(Err(e)) => Finding::bad(
            "storage",
            Status::Warn,
            format!("cannot list StorageClasses: {}", short_error(&e)),
            "the lessons on dynamic provisioning need to see them",
        ),
        Err(_) => Finding::bad(
            "storage",
            Status::Warn,
            "no answer listing StorageClasses",
            "run `kubetutor doctor` again",
        ),
    }
}

/// The default StorageClass and its binding mode.
pub fn storage_class_finding(classes: &[StorageClass]) -> Finding {
    let defaults: Vec<&StorageClass> = classes
        .iter()
        .filter(|c| {
            c.metadata.annotations.as_ref().is_some_and(|a| {
                a.get("storageclass.kubernetes.io/is-default-class")
                    .is_some_and(|v| v == "true")
            })
        })
        .collect();
    match defaults.as_slice() {
        [] => Finding::bad(
            "storage",
            Status::Warn,
            if classes.is_empty() {
                "no StorageClass".to_string()
            } else {
                format!("{} StorageClass(es), none is the default", classes.len())
            },
            "lessons that provision volumes dynamically need a default StorageClass: use kind or minikube (they have one), or install rancher's local-path-provisioner and mark it default",
        ),
        [one] => {
            let mode = one.volume_binding_mode.as_deref().unwrap_or("Immediate");
            let note = if mode == "WaitForFirstConsumer" {
                ": a new claim stays Pending until a pod uses it"
            } else {
                ": a new claim binds at once"
            };
            Finding::ok(
                "storage",
                format!(
                    "default StorageClass {} ({}), binding mode {mode}{note}",
                    one.metadata.name.as_deref().unwrap_or("?"),
                    one.provisioner
                ),
            )
        }
        many => Finding::bad(
            "storage",
            Status::Warn,
            format!(
                "{} default StorageClasses ({})",
                many.len(),
                many.iter()
                    .filter_map(|c| c.metadata.name.as_deref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "keep one default: `kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=false --overwrite`",
        ),
    }
}

async fn nodes(client: &Client) -> Finding {
    let api: Api<Node> = Api::all(client.clone());
    match tokio::time::timeout(STEP_TIMEOUT, api.list_metadata(&ListParams::default())).await {
        Ok(Ok(list)) => {
            let n = list.items.len();
            if n == 0 {
                Finding::bad(
                    "nodes",
                    Status::Fail,
                    "no node",
                    "the cluster has no node to run pods on: recreate it",
                )
            } else {
                Finding::ok(
                    "nodes",
                    format!(
                        "{n} node{}{}",
                        if n == 1 { "" } else { "s" },
                        if n > 1 {
                            ": hostPath lessons assume one node, their pods may land on different nodes"
                        } else {
                            ""
                        }
                    ),
                )
            }
        }
        Ok(Err(e)) => Finding::bad(
            "nodes",
            Status::Warn,
            format!("cannot list nodes: {}", short_error(&e)),
            "lessons that need a given number of nodes cannot check it",
        ),
        Err(_) => Finding::bad(
            "nodes",
            Status::Warn,
            "no answer listing nodes",
            "run `kubetutor doctor` again",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_versions() {
        let json = r#"{"clientVersion": {"major": "1", "minor": "34", "gitVersion": "v1.34.1"}, "kustomizeVersion": "v5"}"#;
        assert_eq!(kubectl_version(json).as_deref(), Some("v1.34.1"));
        assert_eq!(kubectl_version("nope"), None);
    }

    #[test]
    fn permissions_say_what_to_grant() {
        assert_eq!(permissions_finding(&[], "kubetutor").status, Status::Ok);
        let denied = [
            ns("create", "apps", "deployments"),
            sub("get", "pods", "log"),
            cluster("create", "", "persistentvolumes"),
        ];
        let f = permissions_finding(&denied, "kubetutor");
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail
                .contains("create deployments.apps, get pods/log, create persistentvolumes"),
            "{}",
            f.detail
        );
        let fix = f.fix.unwrap();
        assert!(
            fix.contains("kubectl create role kubetutor -n kubetutor --verb=create,get --resource=deployments.apps,pods/log"),
            "{fix}"
        );
        assert!(
            fix.contains(
                "kubectl create clusterrole kubetutor --verb=create --resource=persistentvolumes"
            ),
            "{fix}"
        );
    }

    fn class(yaml: &str) -> StorageClass {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn default_storage_class() {
        let std = class(
            "metadata: {name: standard, annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}\nprovisioner: rancher.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n",
        );
        let f = storage_class_finding(std::slice::from_ref(&std));
        assert_eq!(f.status, Status::Ok);
        assert!(
            f.detail
                .contains("WaitForFirstConsumer: a new claim stays Pending"),
            "{}",
            f.detail
        );
        let other = class("metadata: {name: fast}\nprovisioner: x\n");
        let f = storage_class_finding(std::slice::from_ref(&other));
        assert_eq!(f.status, Status::Warn);
        assert!(f.detail.contains("none is the default"));
        let f = storage_class_finding(&[std.clone(), std]);
        assert!(f.fix.unwrap().contains("is-default-class=false"));
        assert_eq!(storage_class_finding(&[]).detail, "no StorageClass");
    }

    #[tokio::test]
    async fn missing_kubectl_and_kubeconfig_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = kubectl_finding(Some(&dir.path().join("no-kubectl"))).await;
        assert_eq!(f.status, Status::Fail);
        assert!(f.fix.unwrap().contains("install kubectl"));
        let opts = ConnectOptions {
            kubeconfig: Some(dir.path().join("missing")),
            ..ConnectOptions::default()
        };
        let all = run_doctor(&opts, Some(&dir.path().join("no-kubectl"))).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].check, "kubeconfig");
        assert_eq!(all[1].status, Status::Fail);
        let json = serde_json::to_string(&all).unwrap();
        assert!(json.contains("\"status\":\"fail\""), "{json}");
    }
}
