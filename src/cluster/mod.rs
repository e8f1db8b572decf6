//! Connection to a cluster (the embedded sandbox or a kubeconfig context) and
//! the watchers that feed the cluster pane. Filled by the cluster issue.
