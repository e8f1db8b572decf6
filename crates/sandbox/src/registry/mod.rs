//! The registry: what the API server does to an object between decoding
//! it and storing it, for every kind — defaulting, validation and
//! admission — and the typed schemas that decoding checks against.

pub(crate) mod defaults;
pub(crate) mod typed;
