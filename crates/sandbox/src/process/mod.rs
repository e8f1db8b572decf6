//! The process model of emulated containers.
//!
//! The sandbox runs no real processes: a container's programs (its shell,
//! `sleep`, `psql`...) run on threads of the sandbox. This module gives
//! them what processes have:
//!
//! - [`pipe`]: stdin, stdout and stderr as bounded pipes that block, so
//!   output streams as it is produced and input arrives over time, with EOF
//!   when the other side closes;
//! - [`Signal`] and a per-process [`Mailbox`]: TERM, INT, KILL... are looked
//!   at in sleeps, reads, writes and loops; [`ExitStatus`] says how a
//!   process ended (a code, a signal, or the OOM killer);
//! - [`ProcessTable`]: a container's processes (PID 1 plus exec sessions
//!   and their children), shared by the kubelet, `kubectl exec` and `ps`;
//! - [`MemBudget`]: the container's memory limit, nested in the node's;
//! - [`tty`]: the terminal line discipline for `-it` sessions;
//! - [`Console`]: what `kubectl attach` reaches of a container's PID 1.

pub mod console;
pub mod memory;
pub mod pipe;
pub mod signal;
pub mod table;
pub mod tty;

pub use console::{Console, Stream};
pub use memory::{Charge, DEFAULT_CONTAINER_MEMORY, MemBudget, NODE_MEMORY, OutOfMemory};
pub use pipe::{PipeReader, PipeWriter};
pub use signal::{ExitStatus, Signal};
pub use table::{NoSuchProcess, Process, ProcessTable, TooManyProcesses};
pub use tty::{LineDiscipline, TtyState};
