//! `kubetutor cleanup`: find and delete everything the course created.
//!
//! Every manifest of the course carries the label
//! `app.kubernetes.io/part-of=kubetutor`; cleanup lists the objects with it
//! in the course namespace, and the cluster-scoped PersistentVolumes and
//! StorageClasses with it, asks, deletes, and reports. Objects a controller
//! owns (the pods of a Deployment...) go with their owner and are not listed.

use crate::cluster::connection;
use crate::cluster::{ConnectOptions, ConnectionInfo};
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
use std::io::{BufRead, IsTerminal, Write};
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

/// `kubetutor cleanup [--yes]`: list, ask (a terminal is needed unless
/// `yes`), delete, report. `cluster` is `None` for the built-in sandbox.
pub fn run(
    cluster: Option<ConnectOptions>,
    namespace: &str,
    data_dir: &Path,
    yes: bool,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (client, info, sandbox) = connect(cluster, namespace, data_dir).await?;
        let result = clean(&client, &info, yes, out).await;
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
    out: &mut impl Write,
) -> Result<ExitCode> {
    let found = find(client, &info.namespace).await?;
    if found.is_empty() {
        writeln!(
            out,
            "Nothing to clean up: no object labelled {PART_OF_SELECTOR} in namespace {} of {} (nor PersistentVolumes or StorageClasses).",
            info.namespace, info.context
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "The course created these objects (context {}, namespace {}):",
        info.context, info.namespace
    )?;
    for f in &found {
        let scope = if f.namespace.is_some() {
            ""
        } else {
            "  (cluster-wide)"
        };
        writeln!(out, "  {}{scope}", f.label())?;
    }
    out.flush()?;
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("not asking without a terminal: run `kubetutor cleanup --yes` to delete them");
        }
        write!(out, "Delete these {} objects? [y/N] ", found.len())?;
        out.flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
            writeln!(out, "Nothing deleted.")?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let results = delete(client, &found).await;
    let mut failed = 0;
    for (f, r) in &results {
        match r {
            Ok(()) => writeln!(out, "deleted {}", f.label())?,
            Err(e) => {
                failed += 1;
                writeln!(out, "could not delete {}: {e}", f.label())?;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} object(s) could not be deleted (see above)");
    }
    writeln!(
        out,
        "Done: {} object(s) deleted; their pods and volumes go with them.",
        results.len()
    )?;
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
