//! The kinds of Kubernetes object the tutor watches (the cluster pane,
//! the checker and the lessons' facts all read these).

use serde::Deserialize;

/// The kinds of object the tutor watches and its checks can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Kind {
    Pod,
    Deployment,
    ReplicaSet,
    PersistentVolumeClaim,
    PersistentVolume,
    StorageClass,
    ConfigMap,
    Secret,
    Service,
    Job,
    StatefulSet,
    CronJob,
    Event,
    /// Metadata only: lessons use the node count.
    Node,
}

impl Kind {
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            Kind::PersistentVolume | Kind::StorageClass | Kind::Node
        )
    }

    /// `apiVersion` of the kind (`v1`, `apps/v1`...).
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet => "apps/v1",
            Kind::StorageClass => "storage.k8s.io/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
            _ => "v1",
        }
    }

    /// The resource name in API paths (`pods`, `persistentvolumeclaims`...).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::PersistentVolume => "persistentvolumes",
            Kind::StorageClass => "storageclasses",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Service => "services",
            Kind::Job => "jobs",
            Kind::StatefulSet => "statefulsets",
            Kind::CronJob => "cronjobs",
            Kind::Event => "events",
            Kind::Node => "nodes",
        }
    }

    /// Kinds whose objects carry a pod template (or are pods).
    pub fn has_pod_spec(self) -> bool {
        matches!(
            self,
            Kind::Pod | Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::StatefulSet
        )
    }
}
