//! The official Python client (`pip install kubernetes`, in a venv the
//! test makes under target/) against the sandbox: list, a watch that ends
//! at its timeout, a PersistentVolumeClaim created with its defaults, a
//! pod watched until it runs, and exec into it
//! (`tests/fixtures/python_client.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use std::time::Duration;

use support::clients;
use support::kube::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_watch_create_and_exec() {
    let Some(python) = tokio::task::spawn_blocking(clients::python).await.unwrap() else {
        return;
    };
    let env = Env::start().await;
    let script = clients::root().join("crates/sandbox/tests/fixtures/python_client.py");
    let out = env
        .run_for(
            &python,
            &[script.to_str().unwrap()],
            None,
            Duration::from_secs(180),
        )
        .await;
    assert!(out.ok(), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "pods 0",
            "pvc data standard Pending",
            "watched Running",
            "exec hello",
            "watch-ended 1",
        ],
        "{}",
        out.stderr
    );
    env.stop().await;
}
