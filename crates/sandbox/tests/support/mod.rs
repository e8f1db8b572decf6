//! What the sandbox's integration tests share: finding the real clients
//! they drive ([`clients`]), running one against a sandbox
//! ([`kube`]), and a small HTTPS client for raw API requests ([`http`]).
//! Each test binary uses part of it.
#![allow(dead_code)]

pub mod clients;
pub mod http;
pub mod kube;
