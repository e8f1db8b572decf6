//! Connection to a cluster (the embedded sandbox or a kubeconfig context),
//! the watchers that follow it, the snapshot they maintain, and what the
//! cluster pane shows of it (rows and storage lineage).
//!
//! - `connection`: kubeconfig resolution as kubectl does it, the
//!   local-cluster guard (`--allow-remote`), reachability, the namespace;
//! - `session`: connect + watch in one call (`Session::start`);
//! - `watch`: one kube-runtime watcher per kind → `ClusterUpdate`s, with
//!   `Reconnecting { reason }` while anything fails;
//! - `state`: the snapshot (`ClusterState::apply` one update at a time),
//!   tombstones of deleted objects;
//! - `printers`, `view`, `lineage`: kubectl-like rows, the pane's model,
//!   the storage lineage of a pod;
//! - `doctor`: `kubetutor doctor`'s checks.

pub mod connection;
pub mod doctor;
pub mod kinds;
pub mod lineage;
pub mod printers;
pub mod session;
pub mod state;
pub mod view;
pub mod watch;

pub use connection::{ConnectOptions, ConnectionInfo, ConnectionState};
pub use session::Session;
pub use state::{ClusterState, ClusterUpdate, Object};
