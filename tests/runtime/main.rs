//! The sandbox's node running the course's apps, driven through kubectl and kube-rs: pods, storage, the crawler and the lessons end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod course_apps;
mod crawler;
mod lesson;
mod lesson01;
mod node;
mod pods;
mod runtime_env;
mod storage;
#[path = "../support/mod.rs"]
mod support;
