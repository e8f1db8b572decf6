//! Storage: every object version as its JSON bytes, persisted in redb
//! before a write is acknowledged, indexed in memory, with the ring of
//! recent changes that watches replay and the feed the controllers follow.
//! It knows nothing of kinds' rules (that is the registry's job).

pub(crate) mod store;
pub(crate) mod stored;

pub(crate) use store::Store;
