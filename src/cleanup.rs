//! `kubetutor cleanup`: find and delete everything the course created.
//!
//! Every manifest of the course carries the label
//! `app.kubernetes.io/part-of=kubetutor`; cleanup lists the objects with it
//! in the course namespace, and the cluster-scoped PersistentVolumes and
//! StorageClasses with it, asks, deletes, and reports. Objects a controller
//! owns (the pods of a Deployment...) go with their owner and are not listed.

use crate::cluster::connection;
use crate::cluster::{ConnectOptions, ConnectionInfo};
use crate::text::{Lang, fill};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PropagationPolicy};
use sandbox::{Sandbox, SandboxConfig};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The label every object of the course carries.
pub const PART_OF_SELECTOR: &str = "app.kubernetes.io/part-of=kubetutor";

/// One object to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `Deployment`, `PersistentVolume`...
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    ar: ApiResource,
}

impl Found {
    /// `deployment/msg-api` (what kubectl would print).
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }
}

/// The kinds cleanup looks at, in deletion order: workloads first (so that
/// no controller recreates what follows), claims before volumes.
fn kinds() -> Vec<(ApiResource, bool)> {
    vec![
        (ApiResource::erase::<CronJob>(&()), true),
        (ApiResource::erase::<Job>(&()), true),
        (ApiResource::erase::<Deployment>(&()), true),
        (ApiResource::erase::<StatefulSet>(&()), true),
        (ApiResource::erase::<DaemonSet>(&()), true),
        (ApiResource::erase::<ReplicaSet>(&()), true),
        (ApiResource::erase::<Pod>(&()), true),
        (ApiResource::erase::<Service>(&()), true),
        (ApiResource::erase::<ConfigMap>(&()), true),
        (ApiResource::erase::<Secret>(&()), true),
        (ApiResource::erase::<PersistentVolumeClaim>(&()), true),
        (ApiResource::erase::<PersistentVolume>(&()), false),
        (ApiResource::erase::<StorageClass>(&()), false),
    ]
}

/// Everything with the course label: in `namespace`, plus cluster-scoped
/// volumes and classes. Objects with a controller owner are left to it.
pub async fn find(client: &Client, namespace: &str) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    let lp = ListParams::default().labels(PART_OF_SELECTOR);
    for (ar, namespaced) in kinds() {
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), namespace, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let list = match api.list(&lp).await {
            Ok(l) => l,
            // A cluster without this kind (or one we may not list) has none
            // of it to clean up.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 403 => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot list the {} of the course", ar.plural));
            }
        };
        for obj in list.items {
            let owned = obj
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|refs| refs.iter().any(|r| r.controller == Some(true)));
            if owned || obj.metadata.deletion_timestamp.is_some() {
                continue;
            }
            out.push(Found {
                kind: ar.kind.clone(),
                name: obj.metadata.name.unwrap_or_default(),
                namespace: namespaced.then(|| namespace.to_owned()),
                ar: ar.clone(),
            });
        }
    }
    Ok(out)
}

/// Delete each object (its dependents go with it); one result per object.
pub async fn delete(client: &Client, found: &[Found]) -> Vec<(Found, Result<(), String>)> {
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let mut out = Vec::new();
    for f in found {
        let api: Api<DynamicObject> = match &f.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &f.ar),
            None => Api::all_with(client.clone(), &f.ar),
        };
        let r = match api.delete(&f.name, &dp).await {
            Ok(_) => Ok(()),
            // Gone already (its owner took it): that is what we wanted.
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(connection::short_error(&e)),
        };
        out.push((f.clone(), r));
    }
    out
}

/// Connects to `cluster`, or to kubetutor's own sandbox: started here when
/// it is not running, reached through its kubeconfig when another kubetutor
/// runs it. The sandbox started here is returned, to be shut down.
async fn connect(
    cluster: Option<ConnectOptions>,
    namespace: &str,
    data_dir: &Path,
) -> Result<(Client, ConnectionInfo, Option<Sandbox>)> {
    if let Some(mut opts) = cluster {
        opts.namespace = Some(namespace.to_owned());
        let (client, info) = connection::connect(&opts).await?;
        return Ok((client, info, None));
    }
    let dir = crate::paths::sandbox_dir(data_dir);
    let (kubeconfig, sandbox) = match Sandbox::start(SandboxConfig::new(&dir)).await {
        Ok(sb) => (sb.kubeconfig_path().to_path_buf(), Some(sb)),
        Err(sandbox::StartError::InUse { .. }) => (dir.join(sandbox::KUBECONFIG_FILE), None),
        Err(e) => {
            return Err(anyhow::Error::from(e))
                .with_context(|| format!("cannot start the sandbox in {}", dir.display()));
        }
    };
    let opts = ConnectOptions {
        kubeconfig: Some(kubeconfig),
        namespace: Some(namespace.to_owned()),
        ..ConnectOptions::default()
    };
    match connection::connect(&opts).await {
        Ok((client, info)) => Ok((client, info, sandbox)),
        Err(e) => {
            if let Some(sb) = sandbox {
                sb.shutdown().await;
            }
            Err(e.into())
        }
    }
}

/// What `cleanup` says, in the course language.
struct Words {
    nothing: &'static str,
    created: &'static str,
    cluster_wide: &'static str,
    question: &'static str,
    no_terminal: &'static str,
    nothing_deleted: &'static str,
    deleted: &'static str,
    not_deleted: &'static str,
    some_failed: &'static str,
    done: &'static str,
}

static EN: Words = Words {
    nothing: "Nothing to clean up: no object labelled {0} in namespace {1} of {2} (nor PersistentVolumes or StorageClasses).",
    created: "The course created these objects (context {0}, namespace {1}):",
    cluster_wide: "  (cluster-wide)",
    question: "Delete these {0} object(s)?",
    no_terminal: "not asking without a terminal: run `kubetutor cleanup --yes` to delete them",
    nothing_deleted: "Nothing deleted.",
    deleted: "deleted {0}",
    not_deleted: "could not delete {0}: {1}",
    some_failed: "{0} object(s) could not be deleted (see above)",
    done: "Done: {0} object(s) deleted; their pods and volumes go with them.",
};

static FR: Words = Words {
    nothing: "Rien à nettoyer : aucun objet étiqueté {0} dans le namespace {1} de {2} (ni PersistentVolume ni StorageClass).",
    created: "Le cours a créé ces objets (contexte {0}, namespace {1}) :",
    cluster_wide: "  (tout le cluster)",
    question: "Supprimer ces {0} objet(s) ?",
    no_terminal: "pas de question sans terminal : lancez `kubetutor cleanup --yes` pour les supprimer",
    nothing_deleted: "Rien n'a été supprimé.",
    deleted: "supprimé : {0}",
    not_deleted: "impossible de supprimer {0} : {1}",
    some_failed: "{0} objet(s) n'ont pas pu être supprimés (voir ci-dessus)",
    done: "Terminé : {0} objet(s) supprimé(s) ; leurs pods et leurs volumes partent avec eux.",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// `kubetutor cleanup [--yes]`: list, ask (a terminal is needed unless
/// `yes`), delete, report. `cluster` is `None` for the built-in sandbox.
pub fn run(
    cluster: Option<ConnectOptions>,
    namespace: &str,
    data_dir: &Path,
    yes: bool,
    lang: Lang,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (client, info, sandbox) = connect(cluster, namespace, data_dir).await?;
        let result = clean(&client, &info, yes, words(lang), lang, out).await;
        if let Some(sb) = sandbox {
            sb.shutdown().await;
        }
        result
    })
}

async fn clean(
    client: &Client,
    info: &ConnectionInfo,
    yes: bool,
    w: &Words,
    lang: Lang,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let found = find(client, &info.namespace).await?;
    if found.is_empty() {
        writeln!(
            out,
            "{}",
            fill(
                w.nothing,
                &[&PART_OF_SELECTOR, &info.namespace, &info.context]
            )
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}",
        fill(w.created, &[&info.context, &info.namespace])
    )?;
    for f in &found {
        let scope = if f.namespace.is_some() {
            ""
        } else {
            w.cluster_wide
        };
        writeln!(out, "  {}{scope}", f.label())?;
    }
    out.flush()?;
    if !yes {
        match crate::prompt::confirm(lang, &fill(w.question, &[&found.len()]), out)? {
            None => bail!("{}", w.no_terminal),
            Some(false) => {
                writeln!(out, "{}", w.nothing_deleted)?;
                return Ok(ExitCode::SUCCESS);
            }
            Some(true) => {}
        }
    }
    let results = delete(client, &found).await;
    let mut failed = 0;
    for (f, r) in &results {
        match r {
            Ok(()) => writeln!(out, "{}", fill(w.deleted, &[&f.label()]))?,
            Err(e) => {
                failed += 1;
                writeln!(out, "{}", fill(w.not_deleted, &[&f.label(), e]))?;
            }
        }
    }
    if failed > 0 {
        bail!("{}", fill(w.some_failed, &[&failed]));
    }
    writeln!(out, "{}", fill(w.done, &[&results.len()]))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_ordered_workloads_first_volumes_last() {
        let k: Vec<String> = kinds().into_iter().map(|(ar, _)| ar.kind).collect();
        let pos = |kind: &str| k.iter().position(|x| x == kind).unwrap();
        assert!(pos("Deployment") < pos("PersistentVolumeClaim"));
        assert!(pos("PersistentVolumeClaim") < pos("PersistentVolume"));
        assert!(kinds().iter().filter(|(_, ns)| !ns).count() == 2);
    }
}
