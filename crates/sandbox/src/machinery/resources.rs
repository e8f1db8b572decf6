//! The kinds the sandbox serves: one table drives discovery, routing,
//! OpenAPI, tables and typed validation, so they can never disagree.
//! The build script (build/main.rs) includes this file as is to generate
//! the OpenAPI documents: it must keep to plain data (no `crate::` paths).

/// One served resource (a group/version/resource triple and what it supports).
#[derive(Debug)]
pub(crate) struct ResourceDef {
    /// API group, empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural lower-case name, as in URLs.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

/// A subresource such as `status`, `scale` or `log`.
#[derive(Debug)]
pub(crate) struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    /// Group/version of the subresource's kind when it differs (scale).
    pub group: &'static str,
    pub version: &'static str,
    pub verbs: &'static [&'static str],
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
const ALL: &[&str] = &["all"];

const fn status(kind: &'static str) -> Subresource {
    Subresource {
        name: "status",
        kind,
        group: "",
        version: "",
        verbs: STATUS_VERBS,
    }
}

const fn scale() -> Subresource {
    Subresource {
        name: "scale",
        kind: "Scale",
        group: "autoscaling",
        version: "v1",
        verbs: STATUS_VERBS,
    }
}

const fn plain(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group: "",
        version: "",
        verbs,
    }
}

#[allow(clippy::too_many_arguments)]
const fn def(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
        verbs: ALL_VERBS,
        subresources,
    }
}

pub(crate) static CONFIG_MAPS: ResourceDef = def(
    "",
    "v1",
    "configmaps",
    "configmap",
    "ConfigMap",
    true,
    &["cm"],
    &[],
    &[],
);

pub(crate) static ENDPOINTS: ResourceDef = def(
    "",
    "v1",
    "endpoints",
    "endpoints",
    "Endpoints",
    true,
    &["ep"],
    &[],
    &[],
);

pub(crate) static EVENTS: ResourceDef = def(
    "",
    "v1",
    "events",
    "event",
    "Event",
    true,
    &["ev"],
    &[],
    &[],
);

pub(crate) static NAMESPACES: ResourceDef = def(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    false,
    &["ns"],
    &[],
    &[
        status("Namespace"),
        plain("finalize", "Namespace", &["update"]),
    ],
);

pub(crate) static NODES: ResourceDef = def(
    "",
    "v1",
    "nodes",
    "node",
    "Node",
    false,
    &["no"],
    &[],
    &[
        status("Node"),
        plain(
            "proxy",
            "NodeProxyOptions",
            &["create", "delete", "get", "patch", "update"],
        ),
    ],
);

pub(crate) static PVCS: ResourceDef = def(
    "",
    "v1",
    "persistentvolumeclaims",
    "persistentvolumeclaim",
    "PersistentVolumeClaim",
    true,
    &["pvc"],
    &[],
    &[status("PersistentVolumeClaim")],
);

pub(crate) static PVS: ResourceDef = def(
    "",
    "v1",
    "persistentvolumes",
    "persistentvolume",
    "PersistentVolume",
    false,
    &["pv"],
    &[],
    &[status("PersistentVolume")],
);

pub(crate) static PODS: ResourceDef = def(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    true,
    &["po"],
    ALL,
    &[
        plain("attach", "PodAttachOptions", &["create", "get"]),
        plain("ephemeralcontainers", "Pod", &["get", "patch", "update"]),
        plain("exec", "PodExecOptions", &["create", "get"]),
        plain("log", "Pod", &["get"]),
        plain("portforward", "PodPortForwardOptions", &["create", "get"]),
        plain(
            "proxy",
            "PodProxyOptions",
            &["create", "delete", "get", "patch", "update"],
        ),
        status("Pod"),
    ],
);

pub(crate) static SECRETS: ResourceDef =
    def("", "v1", "secrets", "secret", "Secret", true, &[], &[], &[]);

pub(crate) static SERVICE_ACCOUNTS: ResourceDef = def(
    "",
    "v1",
    "serviceaccounts",
    "serviceaccount",
    "ServiceAccount",
    true,
    &["sa"],
    &[],
    &[Subresource {
        name: "token",
        kind: "TokenRequest",
        group: "authentication.k8s.io",
        version: "v1",
        verbs: &["create"],
    }],
);

pub(crate) static SERVICES: ResourceDef = def(
    "",
    "v1",
    "services",
    "service",
    "Service",
    true,
    &["svc"],
    ALL,
    &[
        plain(
            "proxy",
            "ServiceProxyOptions",
            &["create", "delete", "get", "patch", "update"],
        ),
        status("Service"),
    ],
);

pub(crate) static DEPLOYMENTS: ResourceDef = def(
    "apps",
    "v1",
    "deployments",
    "deployment",
    "Deployment",
    true,
    &["deploy"],
    ALL,
    &[scale(), status("Deployment")],
);

pub(crate) static REPLICA_SETS: ResourceDef = def(
    "apps",
    "v1",
    "replicasets",
    "replicaset",
    "ReplicaSet",
    true,
    &["rs"],
    ALL,
    &[scale(), status("ReplicaSet")],
);

pub(crate) static STATEFUL_SETS: ResourceDef = def(
    "apps",
    "v1",
    "statefulsets",
    "statefulset",
    "StatefulSet",
    true,
    &["sts"],
    ALL,
    &[scale(), status("StatefulSet")],
);

pub(crate) static DAEMON_SETS: ResourceDef = def(
    "apps",
    "v1",
    "daemonsets",
    "daemonset",
    "DaemonSet",
    true,
    &["ds"],
    ALL,
    &[status("DaemonSet")],
);

pub(crate) static CONTROLLER_REVISIONS: ResourceDef = def(
    "apps",
    "v1",
    "controllerrevisions",
    "controllerrevision",
    "ControllerRevision",
    true,
    &[],
    &[],
    &[],
);

pub(crate) static CRON_JOBS: ResourceDef = def(
    "batch",
    "v1",
    "cronjobs",
    "cronjob",
    "CronJob",
    true,
    &["cj"],
    ALL,
    &[status("CronJob")],
);

pub(crate) static JOBS: ResourceDef = def(
    "batch",
    "v1",
    "jobs",
    "job",
    "Job",
    true,
    &[],
    ALL,
    &[status("Job")],
);

pub(crate) static ENDPOINT_SLICES: ResourceDef = def(
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    "endpointslice",
    "EndpointSlice",
    true,
    &[],
    &[],
    &[],
);

pub(crate) static RESOURCE_QUOTAS: ResourceDef = def(
    "",
    "v1",
    "resourcequotas",
    "resourcequota",
    "ResourceQuota",
    true,
    &["quota"],
    &[],
    &[status("ResourceQuota")],
);

pub(crate) static LIMIT_RANGES: ResourceDef = def(
    "",
    "v1",
    "limitranges",
    "limitrange",
    "LimitRange",
    true,
    &["limits"],
    &[],
    &[],
);

pub(crate) static LEASES: ResourceDef = def(
    "coordination.k8s.io",
    "v1",
    "leases",
    "lease",
    "Lease",
    true,
    &[],
    &[],
    &[],
);

pub(crate) static STORAGE_CLASSES: ResourceDef = def(
    "storage.k8s.io",
    "v1",
    "storageclasses",
    "storageclass",
    "StorageClass",
    false,
    &["sc"],
    &[],
    &[],
);

pub(crate) static SELF_SUBJECT_ACCESS_REVIEWS: ResourceDef = ResourceDef {
    group: "authorization.k8s.io",
    version: "v1",
    plural: "selfsubjectaccessreviews",
    singular: "selfsubjectaccessreview",
    kind: "SelfSubjectAccessReview",
    namespaced: false,
    short_names: &[],
    categories: &[],
    verbs: &["create"],
    subresources: &[],
};

pub(crate) static ROLES: ResourceDef = def(
    "rbac.authorization.k8s.io",
    "v1",
    "roles",
    "role",
    "Role",
    true,
    &[],
    &[],
    &[],
);

pub(crate) static CLUSTER_ROLES: ResourceDef = def(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterroles",
    "clusterrole",
    "ClusterRole",
    false,
    &[],
    &[],
    &[],
);

pub(crate) static ROLE_BINDINGS: ResourceDef = def(
    "rbac.authorization.k8s.io",
    "v1",
    "rolebindings",
    "rolebinding",
    "RoleBinding",
    true,
    &[],
    &[],
    &[],
);

pub(crate) static CLUSTER_ROLE_BINDINGS: ResourceDef = def(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterrolebindings",
    "clusterrolebinding",
    "ClusterRoleBinding",
    false,
    &[],
    &[],
    &[],
);

/// A resource that only answers `create` (reviews): nothing is stored.
const fn review(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: &["create"],
        subresources: &[],
    }
}

pub(crate) static SUBJECT_ACCESS_REVIEWS: ResourceDef = review(
    "authorization.k8s.io",
    "subjectaccessreviews",
    "subjectaccessreview",
    "SubjectAccessReview",
    false,
);

pub(crate) static LOCAL_SUBJECT_ACCESS_REVIEWS: ResourceDef = review(
    "authorization.k8s.io",
    "localsubjectaccessreviews",
    "localsubjectaccessreview",
    "LocalSubjectAccessReview",
    true,
);

pub(crate) static SELF_SUBJECT_RULES_REVIEWS: ResourceDef = review(
    "authorization.k8s.io",
    "selfsubjectrulesreviews",
    "selfsubjectrulesreview",
    "SelfSubjectRulesReview",
    false,
);

pub(crate) static SELF_SUBJECT_REVIEWS: ResourceDef = review(
    "authentication.k8s.io",
    "selfsubjectreviews",
    "selfsubjectreview",
    "SelfSubjectReview",
    false,
);

pub(crate) static TOKEN_REVIEWS: ResourceDef = review(
    "authentication.k8s.io",
    "tokenreviews",
    "tokenreview",
    "TokenReview",
    false,
);

/// Every resource the sandbox serves, in discovery order.
pub(crate) static RESOURCES: &[&ResourceDef] = &[
    &CONFIG_MAPS,
    &ENDPOINTS,
    &EVENTS,
    &NAMESPACES,
    &NODES,
    &PVCS,
    &PVS,
    &PODS,
    &SECRETS,
    &SERVICE_ACCOUNTS,
    &SERVICES,
    &CONTROLLER_REVISIONS,
    &DAEMON_SETS,
    &DEPLOYMENTS,
    &REPLICA_SETS,
    &STATEFUL_SETS,
    &CRON_JOBS,
    &JOBS,
    &ENDPOINT_SLICES,
    &RESOURCE_QUOTAS,
    &LIMIT_RANGES,
    &LEASES,
    &STORAGE_CLASSES,
    &SELF_SUBJECT_ACCESS_REVIEWS,
    &SUBJECT_ACCESS_REVIEWS,
    &LOCAL_SUBJECT_ACCESS_REVIEWS,
    &SELF_SUBJECT_RULES_REVIEWS,
    &ROLES,
    &CLUSTER_ROLES,
    &ROLE_BINDINGS,
    &CLUSTER_ROLE_BINDINGS,
    &SELF_SUBJECT_REVIEWS,
    &TOKEN_REVIEWS,
];

/// API groups in discovery order (core excluded), each with its one version.
pub(crate) const GROUPS: &[&str] = &[
    "apps",
    "batch",
    "discovery.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
    "authorization.k8s.io",
    "rbac.authorization.k8s.io",
    "authentication.k8s.io",
];

impl ResourceDef {
    /// `v1` or `apps/v1`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`: how upstream names the resource in errors.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether objects of this resource are kept in the store.
    pub(crate) fn stored(&self) -> bool {
        self.verbs.contains(&"get")
    }

    pub(crate) fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }
}

/// Finds a resource by group, version and plural.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .copied()
}

/// Finds a resource by group and kind (for owner references and objects in bodies).
pub(crate) fn find_kind(group: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
        .copied()
}

/// Looks up a resource by its qualified name (`pods`, `deployments.apps`).
pub(crate) fn by_qualified(name: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.qualified() == name).copied()
}

/// A resource by qualified name, for tests that name it as a learner would.
#[cfg(test)]
pub(crate) fn get(name: &str) -> &'static ResourceDef {
    by_qualified(name).unwrap_or_else(|| panic!("no resource {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_groups_listed() {
        for r in RESOURCES {
            assert_eq!(
                RESOURCES
                    .iter()
                    .filter(|o| o.qualified() == r.qualified())
                    .count(),
                1
            );
            assert!(
                r.group.is_empty() || GROUPS.contains(&r.group),
                "{}",
                r.group
            );
        }
        assert_eq!(by_qualified("pods").map(|r| r.kind), Some("Pod"));
        assert_eq!(
            by_qualified("deployments.apps").map(|r| r.kind),
            Some("Deployment")
        );
        assert!(by_qualified("nope").is_none());
    }
}
