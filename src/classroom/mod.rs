//! Classroom workshops: an instructor follows every learner live, from one
//! terminal, with no hosted service.
//!
//! Two ways to follow a class, one picture of it (the [`roster::Roster`]):
//!
//! - **the classroom server** (`kubetutor classroom serve`): learners
//!   join with `kubetutor --join CODE@HOST:PORT`, each on their own
//!   cluster (the built-in sandbox, or any); their kubetutor reports
//!   progress over TLS and receives the instructor's messages and holds;
//! - **a shared cluster** (`kubetutor classroom provision`): each learner
//!   gets a namespace, a ServiceAccount, RBAC, a quota and a kubeconfig;
//!   their kubetutor also writes its progress into a ConfigMap of their
//!   namespace, which `classroom serve --cluster` follows without any
//!   server.
//!
//! Files, by what they do:
//!
//! - `code`: the join code and `CODE@HOST:PORT`;
//! - `protocol`: the framed, versioned JSON messages;
//! - `tls`, `handshake`: the TLS session and the join-code proofs bound to it;
//! - `report`: a learner's progress report (from `status --json`'s model), bounded;
//! - `roster`: the instructor's picture of the class;
//! - `server`: the classroom server;
//! - `learner`, `membership`, `learner_state`, `words`: the learner's side
//!   (connection, remembered classrooms and tokens, hold and messages in
//!   the front ends, their sentences);
//! - `files`: the instructor's classroom directory (code, certificate,
//!   roster, live status), private;
//! - `grid`, `grid_ui`, `instructor`: the instructor's grid and `classroom serve`;
//! - `status`: `classroom status [--json]`;
//! - `commands`: the command line of both sides;
//! - `names`, `provision`: learners' names and namespaces; shared-cluster
//!   provisioning and teardown;
//! - `shared`: progress in ConfigMaps (learner) and the grid that follows them.

pub mod code;
pub mod commands;
pub mod files;
pub mod grid;
pub mod grid_ui;
pub mod handshake;
pub mod instructor;
pub mod learner;
pub mod learner_state;
pub mod membership;
pub mod names;
pub mod protocol;
pub mod provision;
pub mod report;
pub mod roster;
pub mod server;
pub mod shared;
pub mod status;
pub mod tls;
pub mod words;

pub use learner::{ClassroomEvent, Reporter};
pub use learner_state::{ClassroomState, Say};
