//! `kubetutor classroom provision` and `teardown`: a shared cluster made
//! ready for a class, and cleaned after it.
//!
//! Per learner `ana` of classroom `ws`:
//!
//! - namespace `ws-ana` (Pod Security `baseline` enforced: no hostPath or
//!   privileged pods);
//! - ServiceAccount `learner`, bound to the built-in ClusterRole `admin`
//!   by a RoleBinding in that namespace only;
//! - read access to what the storage lessons look at cluster-wide:
//!   PersistentVolumes, StorageClasses and Nodes (get, list, watch: one
//!   ClusterRole for the classroom, a ClusterRoleBinding per learner);
//! - the cluster-scoped objects the course's manifests create, which a
//!   namespace admin cannot (lesson 7's hostPath PersistentVolume), made
//!   for the learner under its own name (`local-pv-1-ana`, on
//!   `/tmp/pg-disk-ana`), reserved for the learner's claim
//!   (`spec.claimRef`), with get/update/patch/delete on that name only;
//! - a ResourceQuota (pods, claims, storage, CPU and memory) and a
//!   LimitRange (container defaults and bounds, claim sizes): the budget;
//! - a token (TokenRequest) and a kubeconfig file to hand out (mode 0600).
//!
//! Everything carries `kubetutor.dev/classroom=ws`; `teardown` deletes by
//! that label and nothing else. Both are idempotent.

use super::names::{self, CLASSROOM_LABEL, KUBECONFIG_EXTENSION};
use crate::course::Course;
use crate::lesson::vars::Vars;
use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, PersistentVolume, ResourceQuota, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The ServiceAccount each learner gets.
pub const SERVICE_ACCOUNT: &str = "learner";

/// What each learner may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub pods: u32,
    pub claims: u32,
    /// Total storage requested by the learner's claims.
    pub storage: String,
    /// Largest single claim.
    pub claim_max: String,
    pub cpu: String,
    pub memory: String,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            pods: 20,
            claims: 6,
            storage: "20Gi".into(),
            claim_max: "5Gi".into(),
            cpu: "4".into(),
            memory: "8Gi".into(),
        }
    }
}

/// What `provision` needs besides the cluster.
#[derive(Debug, Clone)]
pub struct Plan {
    pub classroom: String,
    pub learners: Vec<String>,
    /// Where the kubeconfig files go.
    pub out_dir: PathBuf,
    pub token_hours: u32,
    pub budget: Budget,
    /// The API server URL learners use (default: the instructor's).
    pub server: Option<String>,
}

/// The cluster as the instructor's kubeconfig names it: URL and CA for
/// the learners' kubeconfigs.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    pub server: String,
    /// Base64 PEM, as in a kubeconfig.
    pub ca_data: Option<String>,
    pub insecure: bool,
}

impl ClusterAccess {
    /// From a resolved kubeconfig context.
    pub fn of(resolved: &crate::cluster::connection::Resolved) -> Result<ClusterAccess> {
        use base64::Engine as _;
        let k = &resolved.kubeconfig;
        let ctx = k
            .contexts
            .iter()
            .find(|c| c.name == resolved.info.context)
            .and_then(|c| c.context.as_ref())
            .context("the context has no cluster")?;
        let cluster = k
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.cluster.as_ref())
            .context("the context's cluster is not in the kubeconfig")?;
        let ca_data = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(file)) => {
                let pem = std::fs::read(file)
                    .with_context(|| format!("cannot read the cluster's CA file {file}"))?;
                Some(base64::engine::general_purpose::STANDARD.encode(pem))
            }
            (None, None) => None,
        };
        Ok(ClusterAccess {
            server: cluster
                .server
                .clone()
                .context("the cluster has no server URL")?,
            ca_data,
            insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        })
    }
}

fn meta(name: &str, ns: Option<&str>, classroom: &str, learner: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": names::labels(classroom, learner)});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn typed<K: DeserializeOwned>(v: Value) -> Result<K> {
    serde_json::from_value(v).context("an object kubetutor builds did not decode (a bug)")
}

/// Creates `obj`, or brings the existing one to it (merge patch).
async fn ensure<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(obj))
                .await
                .with_context(|| {
                    format!("cannot update {} {name}", K::kind(&Default::default()))
                })?;
            Ok(())
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot create {} {name}", K::kind(&Default::default())))
        }
    }
}

/// The classroom's ClusterRole: what the storage lessons read cluster-wide.
fn read_role(classroom: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": meta(&format!("kubetutor-classroom-{classroom}-read"), None, classroom, None),
        "rules": [
            {"apiGroups": [""], "resources": ["persistentvolumes", "nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
        ]
    })
}

fn subject(ns: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}])
}

/// The PersistentVolumes of the course's manifests, as a learner gets
/// them (their variables set), each reserved for the claim of the same
/// manifests that selects it.
pub fn course_volumes(course: &Course) -> Vec<Value> {
    let mut docs = Vec::new();
    for (path, bytes) in course.assets() {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        for doc in split_documents(text) {
            if let Ok(v) = serde_saphyr::from_str::<Value>(doc)
                && v.is_object()
            {
                docs.push(v);
            }
        }
    }
    let claims: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "PersistentVolumeClaim")
        .collect();
    docs.iter()
        .filter(|d| d["kind"] == "PersistentVolume")
        .map(|pv| {
            let mut pv = pv.clone();
            let claim = claims.iter().find(|c| claim_selects(c, &pv));
            if let Some(c) = claim {
                pv["spec"]["claimRef"] = json!({
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "name": c["metadata"]["name"],
                    "namespace": course.vars().namespace,
                });
            }
            pv
        })
        .collect()
}

/// Whether a claim of the manifests would bind to this volume: same class,
/// and its selector's labels on the volume.
fn claim_selects(claim: &Value, pv: &Value) -> bool {
    let class = |v: &Value| {
        v["spec"]["storageClassName"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let labels = &pv["metadata"]["labels"];
    let matches = claim["spec"]["selector"]["matchLabels"]
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v));
    class(claim) == class(pv) && matches
}

fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices("\n---") {
        out.push(&text[start..i]);
        start = i + 4;
    }
    out.push(&text[start..]);
    out
}

/// One learner's result.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub learner: String,
    pub namespace: String,
    pub kubeconfig: PathBuf,
}

/// Provisions every learner; prints one line per learner to `out`.
pub async fn provision(
    client: &Client,
    access: &ClusterAccess,
    course_files: &crate::course::CourseFiles,
    plan: &Plan,
    out: &mut dyn Write,
) -> Result<Vec<Provisioned>> {
    let classroom = &plan.classroom;
    ensure(
        &Api::<ClusterRole>::all(client.clone()),
        &typed(read_role(classroom))?,
    )
    .await?;
    create_private_dir(&plan.out_dir)?;
    let mut done = Vec::new();
    for learner in &plan.learners {
        let ns = names::namespace(classroom, learner);
        let vars = Vars {
            namespace: ns.clone(),
            learner_suffix: names::suffix(learner),
        };
        let course = Course::load_with(course_files, &vars).map_err(|d| {
            anyhow::anyhow!(
                "the course has errors ({} problem(s)): run `kubetutor lint`",
                d.len()
            )
        })?;
        provision_namespace(client, classroom, learner, &ns, &plan.budget).await?;
        provision_cluster_objects(client, classroom, learner, &ns, &course).await?;
        let token = request_token(client, &ns, plan.token_hours).await?;
        let path = plan.out_dir.join(format!("{learner}.kubeconfig"));
        let server = plan.server.clone().unwrap_or_else(|| access.server.clone());
        let kc = kubeconfig(
            &ClusterAccess {
                server,
                ..access.clone()
            },
            classroom,
            learner,
            &ns,
            &token,
        );
        crate::paths::write_private(&path, serde_json::to_string_pretty(&kc)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(
            out,
            "{learner}: namespace {ns}, kubeconfig {}",
            path.display()
        )?;
        done.push(Provisioned {
            learner: learner.clone(),
            namespace: ns,
            kubeconfig: path,
        });
    }
    Ok(done)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// The namespace and what lives in it.
async fn provision_namespace(
    client: &Client,
    classroom: &str,
    learner: &str,
    ns: &str,
    b: &Budget,
) -> Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    if let Some(existing) = nss
        .get_opt(ns)
        .await
        .with_context(|| format!("cannot read namespace {ns}"))?
    {
        let ours = existing
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CLASSROOM_LABEL))
            .is_some_and(|c| c == classroom);
        if !ours {
            bail!(
                "namespace {ns} exists and is not classroom {classroom}'s: choose another --classroom, or delete it yourself if it is a leftover"
            );
        }
    }
    let mut m = meta(ns, None, classroom, Some(learner));
    m["labels"]["pod-security.kubernetes.io/enforce"] = json!("baseline");
    ensure(
        &nss,
        &typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": m}))?,
    )
    .await?;
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta(SERVICE_ACCOUNT, Some(ns), classroom, Some(learner))});
    ensure(
        &Api::<ServiceAccount>::namespaced(client.clone(), ns),
        &typed(sa)?,
    )
    .await?;
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": meta("kubetutor-learner-admin", Some(ns), classroom, Some(learner)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": subject(ns)});
    ensure(
        &Api::<RoleBinding>::namespaced(client.clone(), ns),
        &typed(rb)?,
    )
    .await?;
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
    "metadata": meta("kubetutor-budget", Some(ns), classroom, Some(learner)),
    "spec": {"hard": {
        "pods": b.pods.to_string(),
        "persistentvolumeclaims": b.claims.to_string(),
        "requests.storage": b.storage,
        "requests.cpu": b.cpu,
        "requests.memory": b.memory,
        "limits.cpu": b.cpu,
        "limits.memory": b.memory,
    }}});
    ensure(
        &Api::<ResourceQuota>::namespaced(client.clone(), ns),
        &typed(quota)?,
    )
    .await?;
    let limits = json!({"apiVersion": "v1", "kind": "LimitRange",
    "metadata": meta("kubetutor-limits", Some(ns), classroom, Some(learner)),
    "spec": {"limits": [
        {"type": "Container",
         "default": {"cpu": "500m", "memory": "512Mi"},
         "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
         "max": {"cpu": "2", "memory": "2Gi"}},
        {"type": "PersistentVolumeClaim",
         "min": {"storage": "1Mi"},
         "max": {"storage": b.claim_max}},
    ]}});
    ensure(
        &Api::<LimitRange>::namespaced(client.clone(), ns),
        &typed(limits)?,
    )
    .await?;
    Ok(())
}

/// Read access cluster-wide, and the learner's own cluster-scoped
/// objects with rights on them by name.
async fn provision_cluster_objects(
    client: &Client,
    classroom: &str,
    learner: &str,
    ns: &str,
    course: &Course,
) -> Result<()> {
    let read = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": meta(&format!("kubetutor-classroom-{classroom}-{learner}-read"), None, classroom, Some(learner)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": format!("kubetutor-classroom-{classroom}-read")},
        "subjects": subject(ns)});
    ensure(
        &Api::<ClusterRoleBinding>::all(client.clone()),
        &typed(read)?,
    )
    .await?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut owned = Vec::new();
    for mut pv in course_volumes(course) {
        let name = pv["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() {
            continue;
        }
        // The manifest's labels stay (a learner's `kubectl apply` keeps
        // them); the classroom's are added.
        for (k, v) in names::labels(classroom, Some(learner)) {
            if k != names::PART_OF_LABEL || pv["metadata"]["labels"][&k].is_null() {
                pv["metadata"]["labels"][&k] = json!(v);
            }
        }
        // What `kubectl apply` of the same file compares with: applying
        // it changes nothing and warns about nothing.
        let mut applied = pv.clone();
        if let Some(spec) = applied["spec"].as_object_mut() {
            spec.remove("claimRef");
        }
        if let Some(labels) = applied["metadata"]["labels"].as_object_mut() {
            labels.remove(CLASSROOM_LABEL);
            labels.remove(names::LEARNER_LABEL);
        }
        pv["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!(format!("{}\n", serde_json::to_string(&applied)?));
        ensure(&pvs, &typed(pv)?).await?;
        owned.push(name);
    }
    if !owned.is_empty() {
        let role_name = format!("kubetutor-classroom-{classroom}-{learner}-own");
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": meta(&role_name, None, classroom, Some(learner)),
            "rules": [{"apiGroups": [""], "resources": ["persistentvolumes"],
                       "resourceNames": owned, "verbs": ["get", "update", "patch", "delete"]}]});
        ensure(&Api::<ClusterRole>::all(client.clone()), &typed(role)?).await?;
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": meta(&role_name, None, classroom, Some(learner)),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            "subjects": subject(ns)});
        ensure(
            &Api::<ClusterRoleBinding>::all(client.clone()),
            &typed(binding)?,
        )
        .await?;
    }
    Ok(())
}

async fn request_token(client: &Client, ns: &str, hours: u32) -> Result<String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let req = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(i64::from(hours) * 3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let got = api
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &req)
        .await
        .with_context(|| format!("cannot get a token for {ns}/{SERVICE_ACCOUNT} (TokenRequest)"))?;
    got.status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .with_context(|| format!("the cluster gave no token for {ns}/{SERVICE_ACCOUNT}"))
}

/// A learner's kubeconfig: one context, its namespace, the classroom
/// extension kubetutor recognises.
pub fn kubeconfig(
    access: &ClusterAccess,
    classroom: &str,
    learner: &str,
    ns: &str,
    token: &str,
) -> Value {
    let name = format!("{classroom}-{learner}");
    let mut cluster = json!({"server": access.server});
    if let Some(ca) = &access.ca_data {
        cluster["certificate-authority-data"] = json!(ca);
    }
    if access.insecure {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": classroom, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {
            "cluster": classroom,
            "user": name,
            "namespace": ns,
            "extensions": [{"name": KUBECONFIG_EXTENSION,
                            "extension": {"classroom": classroom, "learner": learner, "namespace": ns}}],
        }}],
        "current-context": name,
        "preferences": {},
    })
}

/// What teardown removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub namespaces: Vec<String>,
    pub cluster_objects: Vec<String>,
}

async fn delete_labelled<K>(client: &Client, selector: &str, out: &mut Vec<String>) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let kind = K::kind(&Default::default()).to_string();
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .with_context(|| format!("cannot list {kind} objects labelled {selector}"))?;
    for o in list {
        let name = o.meta().name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => out.push(format!("{kind}/{name}")),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {kind} {name}")),
        }
    }
    Ok(())
}

/// Deletes everything labelled with the classroom: its namespaces (and
/// all they hold), PersistentVolumes, ClusterRoles and bindings.
pub async fn teardown(client: &Client, classroom: &str) -> Result<Removed> {
    let selector = names::selector(classroom);
    let mut removed = Removed::default();
    delete_labelled::<Namespace>(client, &selector, &mut removed.namespaces).await?;
    delete_labelled::<PersistentVolume>(client, &selector, &mut removed.cluster_objects).await?;
    delete_labelled::<ClusterRoleBinding>(client, &selector, &mut removed.cluster_objects).await?;
    delete_labelled::<ClusterRole>(client, &selector, &mut removed.cluster_objects).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_the_learners_and_reserved() {
        let files = crate::course::CourseFiles::embedded();
        let vars = Vars {
            namespace: "ws-ana".into(),
            learner_suffix: "-ana".into(),
        };
        let course = Course::load_with(&files, &vars).unwrap();
        let pvs = course_volumes(&course);
        assert_eq!(pvs.len(), 1, "{pvs:?}");
        let pv = &pvs[0];
        assert_eq!(pv["metadata"]["name"], "local-pv-1-ana");
        assert_eq!(pv["spec"]["hostPath"]["path"], "/tmp/pg-disk-ana");
        assert_eq!(pv["spec"]["claimRef"]["namespace"], "ws-ana");
        assert_eq!(pv["spec"]["claimRef"]["name"], "pg-pv-claim");
    }

    #[test]
    fn a_kubeconfig_names_the_learner() {
        let access = ClusterAccess {
            server: "https://10.0.0.1:6443".into(),
            ca_data: Some("Q0E=".into()),
            insecure: false,
        };
        let kc = kubeconfig(&access, "ws", "ana", "ws-ana", "tok");
        assert_eq!(kc["contexts"][0]["context"]["namespace"], "ws-ana");
        assert_eq!(kc["users"][0]["user"]["token"], "tok");
        assert_eq!(
            kc["contexts"][0]["context"]["extensions"][0]["extension"]["learner"],
            "ana"
        );
        assert_eq!(split_documents("a\n---\nb").len(), 2);
    }
}
