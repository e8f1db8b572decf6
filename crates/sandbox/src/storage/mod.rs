//! Storage: every object version as its JSON bytes, persisted in redb
//! before a write is acknowledged, indexed in memory, with compare-and-swap
//! writes on versions and preconditions (uid, resourceVersion), and the
//! change feed (the bounded ring of recent changes) that watches replay
//! and the controllers follow. It knows nothing of kinds' rules: those are
//! the registry's, which writes through it.

pub(crate) mod feed;
pub(crate) mod store;

pub(crate) use store::Store;
