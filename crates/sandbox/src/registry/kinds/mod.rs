//! Each kind's registry rules and printer, one file per kind.

mod configmap;
mod controllerrevision;
mod cronjob;
mod daemonset;
mod deployment;
mod endpoints;
mod endpointslice;
mod event;
mod job;
mod lease;
mod limitrange;
mod namespace;
mod node;
mod persistentvolume;
mod persistentvolumeclaim;
mod pod;
mod rbac;
mod replicaset;
mod resourcequota;
mod secret;
mod service;
mod serviceaccount;
mod statefulset;
mod storageclass;

use crate::machinery::resources::{self, ResourceDef};

use super::Strategy;

pub(crate) use daemonset::template_generation;

/// What every kind file uses.
mod prelude {
    pub(crate) use serde_json::{Value, json};

    pub(crate) use crate::machinery::meta::quantity;
    pub(crate) use crate::registry::podspec::*;
    pub(crate) use crate::registry::podvalidation::{one_of, validate_pod_update, volume_source};
    pub(crate) use crate::registry::printing::*;
    pub(crate) use crate::registry::validation::*;
    pub(crate) use crate::registry::{Cause, NameRule, Strategy, set_default};
}

/// A kind with no rules of its own (the common metadata checks only).
struct Plain;

impl Strategy for Plain {}

/// The strategy of a resource.
pub(crate) fn strategy(res: &ResourceDef) -> &'static dyn Strategy {
    static KINDS: &[(&ResourceDef, &dyn Strategy)] = &[
        (&resources::PODS, &pod::Pods),
        (&resources::NAMESPACES, &namespace::Namespaces),
        (&resources::NODES, &node::Nodes),
        (&resources::SERVICES, &service::Services),
        (&resources::ENDPOINTS, &endpoints::Endpoints),
        (&resources::CONFIG_MAPS, &configmap::ConfigMaps),
        (&resources::SECRETS, &secret::Secrets),
        (
            &resources::SERVICE_ACCOUNTS,
            &serviceaccount::ServiceAccounts,
        ),
        (&resources::EVENTS, &event::Events),
        (&resources::PVS, &persistentvolume::PersistentVolumes),
        (
            &resources::PVCS,
            &persistentvolumeclaim::PersistentVolumeClaims,
        ),
        (&resources::STORAGE_CLASSES, &storageclass::StorageClasses),
        (&resources::DEPLOYMENTS, &deployment::Deployments),
        (&resources::REPLICA_SETS, &replicaset::ReplicaSets),
        (&resources::JOBS, &job::Jobs),
        (&resources::STATEFUL_SETS, &statefulset::StatefulSets),
        (&resources::DAEMON_SETS, &daemonset::DaemonSets),
        (
            &resources::CONTROLLER_REVISIONS,
            &controllerrevision::ControllerRevisions,
        ),
        (&resources::CRON_JOBS, &cronjob::CronJobs),
        (&resources::ENDPOINT_SLICES, &endpointslice::EndpointSlices),
        (&resources::RESOURCE_QUOTAS, &resourcequota::ResourceQuotas),
        (&resources::LIMIT_RANGES, &limitrange::LimitRanges),
        (&resources::LEASES, &lease::Leases),
        (&resources::ROLES, &rbac::Roles),
        (&resources::CLUSTER_ROLES, &rbac::Roles),
        (&resources::ROLE_BINDINGS, &rbac::Bindings),
        (&resources::CLUSTER_ROLE_BINDINGS, &rbac::Bindings),
    ];
    KINDS
        .iter()
        .find(|(r, _)| std::ptr::eq(*r, res))
        .map_or(&Plain, |(_, s)| *s)
}
