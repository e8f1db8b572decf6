//! The tutor's cluster side against the sandbox with kube-rs: watchers, recovery, identity, and the sandbox through kube-rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod identity;
mod kube;
mod recovery;
mod runtime_kube;
mod sandbox;
mod watch;
