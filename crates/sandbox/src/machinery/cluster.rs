//! Facts of the sandbox's cluster that every part shares: its one node,
//! its storage classes, and where service-account credentials go.

/// The sandbox's one node.
pub(crate) const NODE_NAME: &str = "kubetutor-node";
/// How many unfinished pods the node runs (a kind node's kubelet maxPods).
pub(crate) const MAX_PODS: usize = 110;
/// The default storage class (binds when the first pod uses a claim).
pub(crate) const DEFAULT_CLASS: &str = "standard";
/// The storage class that binds claims at once.
pub(crate) const IMMEDIATE_CLASS: &str = "immediate";
/// Where the service account admission plugin mounts the API credentials.
pub(crate) const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap with the cluster's CA, published into every namespace.
pub(crate) const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
