//! Provisioning a shared cluster: filled in with the sandbox's RBAC.
