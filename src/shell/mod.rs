//! The course's shell: a real shell whose kubectl is aimed at the course's
//! cluster and namespace, started in the lab directory, with a prompt
//! marker. The TUI runs it in its shell pane (a pseudo-terminal emulated
//! by `term`, fed by `session`, typed into through `keys`); `kubetutor
//! shell` runs it in the learner's own terminal (`command`).

pub mod command;
pub mod env;
pub mod keys;
pub mod session;
pub mod term;

pub use env::{MARKER, ShellSpec, Target, prepare};
pub use session::ShellSession;
