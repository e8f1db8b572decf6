//! Connection to a cluster (the embedded sandbox or a kubeconfig context),
//! the watchers that follow it, the snapshot they maintain, and what the
//! cluster pane shows of it (rows and storage lineage).

pub mod connection;
pub mod doctor;
pub mod lineage;
pub mod printers;
pub mod session;
pub mod state;
pub mod view;
pub mod watch;

pub use connection::{ConnectOptions, ConnectionInfo, ConnectionState};
pub use session::Session;
pub use state::{ClusterState, ClusterUpdate, Object};
