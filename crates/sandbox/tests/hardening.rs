//! Issue 14's attacks replayed against the sandbox: a small JSON patch
//! that copies itself into gigabytes, rewrites of a large object that
//! each left a version behind, a flood of watches, and a damaged
//! database. Memory is measured from /proc/self/status (the sandbox runs
//! in this process) and printed; no assertion depends on time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use sandbox::{Sandbox, SandboxConfig, StartError};
use serde_json::{Value, json};
use support::http::Api;
use support::kube::Env;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// The resident set size of this process, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Runs blocking HTTP work off the runtime the sandbox serves on.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_patch_copy_bomb_stays_bounded() {
    let env = Env::start().await;
    let api = Api::of(env.sandbox());
    let before = rss_mib();
    let (code, body, ops_code, ops_body) = blocking(move || {
        let cm = json!({"metadata": {"name": "bomb"}, "data": {"a": "x"}});
        assert_eq!(api.json("POST", CMS, &cm).code, 201);
        // A list appended to itself doubles: 40 copies would be 2^40 KB.
        let mut ops = vec![json!({"op": "add", "path": "/list", "value": ["x".repeat(1000)]})];
        for _ in 0..40 {
            ops.push(json!({"op": "copy", "from": "/list", "path": "/list/-"}));
        }
        let patch = serde_json::to_string(&ops).unwrap();
        assert!(patch.len() < 4096, "{}", patch.len());
        let a = api.patch(
            &format!("{CMS}/bomb"),
            "application/json-patch+json",
            &patch,
        );
        let many: Vec<Value> = (0..10_001)
            .map(|_| json!({"op": "test", "path": "/metadata/name", "value": "bomb"}))
            .collect();
        let b = api.patch(
            &format!("{CMS}/bomb"),
            "application/json-patch+json",
            &serde_json::to_string(&many).unwrap(),
        );
        (a.code, a.json(), b.code, b.json())
    })
    .await;
    let after = rss_mib();
    eprintln!("copy bomb: RSS {before} MiB -> {after} MiB");
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["reason"], "Invalid");
    assert_eq!(
        body["message"],
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(ops_code, 413, "{ops_body}");
    assert_eq!(
        ops_body["message"],
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
    // 3 MiB of copies at most: far below what 40 doublings would take.
    assert!(
        after.saturating_sub(before) < 256,
        "{before} -> {after} MiB"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_a_large_object_keeps_bounded_history() {
    let env = Env::start().await;
    let api = Api::of(env.sandbox());
    let before = rss_mib();
    let (too_large, too_big_body) = blocking(move || {
        // Over 3 MiB: refused before it is read in full (a client still
        // sending 15 MB may see the connection close instead).
        let over = json!({"metadata": {"name": "huge"}, "data": {"a": "x".repeat(4_000_000)}});
        let a = api.json("POST", CMS, &over);
        assert_eq!(a.code, 413, "{}", a.body);
        assert_eq!(
            a.json()["message"],
            "Request entity too large: limit is 3145728"
        );
        let huge = json!({"metadata": {"name": "huge"}, "data": {"a": "x".repeat(15_000_000)}});
        let a = api.json("POST", CMS, &huge);
        assert_ne!(a.code / 100, 2, "a 15 MB object was accepted");
        // Over etcd's 1.5 MiB (a pod has no size rule of its own):
        // refused as etcd refuses it.
        let env = json!([{"name": "A", "value": "x".repeat(1_700_000)}]);
        let pod = json!({"metadata": {"name": "big"}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "env": env}]}});
        let b = api.json("POST", "/api/v1/namespaces/default/pods", &pod);
        // Within every limit (1 MiB of data), rewritten 64 times: ~128 MB
        // of versions (each event keeps the new and the old one) if the
        // watch history were unbounded.
        let ok = json!({"metadata": {"name": "big"}, "data": {"a": "x".repeat(1_000_000)}});
        assert_eq!(api.json("POST", CMS, &ok).code, 201);
        for i in 0..64 {
            let mut n = ok.clone();
            n["data"]["a"] = json!(format!("{i}{}", "y".repeat(1_000_000)));
            let a = api.json("PUT", &format!("{CMS}/big"), &n);
            assert_eq!(a.code, 200, "rewrite {i}: {}", a.body);
        }
        (b.code, b.json())
    })
    .await;
    let after = rss_mib();
    let history = env.sandbox().watch_history_bytes();
    eprintln!(
        "64 rewrites of a 1 MB object: RSS {before} MiB -> {after} MiB, watch history {} MiB",
        history / (1024 * 1024)
    );
    assert!(history <= 32 * 1024 * 1024, "{history}");
    assert_eq!(too_large, 500, "{too_big_body}");
    assert_eq!(too_big_body["message"], "etcdserver: request is too large");
    assert!(
        after.saturating_sub(before) < 160,
        "{before} -> {after} MiB"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_watches_is_bounded_per_client() {
    use std::io::{Read as _, Write as _};
    // One watch per HTTP/1.1 connection: the server's connection cap
    // (512, tested in hardening_server.rs) would come first, so it is
    // raised here to reach the watch bound.
    let env = Env::start_with(|cfg| cfg.limits.max_connections = 1_200).await;
    let sb = env.sandbox();
    let (addr, token, ca) = (
        sb.addr().to_string(),
        sb.token().to_string(),
        sb.ca_pem().to_string(),
    );
    let before = rss_mib();
    let (refused, after_release) = blocking(move || {
        let tls = support::http::client_tls(&ca);
        let open = |i: usize| {
            let tcp = std::net::TcpStream::connect(&addr).unwrap();
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = tokio_rustls::rustls::ClientConnection::new(tls.clone(), name).unwrap();
            let mut s = tokio_rustls::rustls::StreamOwned::new(conn, tcp);
            write!(
                s,
                "GET {CMS}?watch=1&labelSelector=n%3D{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .unwrap();
            s.flush().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let code: u16 = String::from_utf8_lossy(&head)
                .get(9..12)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            (code, s)
        };
        let mut held = Vec::new();
        for i in 0..1_000 {
            let (code, s) = open(i);
            assert_eq!(code, 200, "watch {i}");
            held.push(s);
        }
        let peak = rss_mib();
        let (refused, _) = open(1_000);
        drop(held);
        // The slots come back once the server sees the connections close.
        let mut again = 0;
        for _ in 0..100 {
            let (code, _s) = open(2_000);
            again = code;
            if code == 200 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("1000 watches: RSS peak {peak} MiB");
        (refused, again)
    })
    .await;
    let after = rss_mib();
    eprintln!("watch flood: RSS {before} MiB before, {after} MiB after release");
    assert_eq!(refused, 429);
    assert_eq!(after_release, 200);
    env.stop().await;
}

#[tokio::test]
async fn a_damaged_database_is_moved_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join(sandbox::DB_FILE);
    std::fs::write(&db, vec![0x5a; 256 * 1024]).unwrap();
    let err = match Sandbox::start(SandboxConfig::new(&data)).await {
        Err(e) => e,
        Ok(_) => panic!("started on a damaged database"),
    };
    let StartError::Damaged {
        moved_to: Some(aside),
        ..
    } = &err
    else {
        panic!("{err}");
    };
    let text = err.to_string();
    assert!(
        text.starts_with("the sandbox database is damaged"),
        "{text}"
    );
    assert!(text.contains("kubetutor sandbox --reset"), "{text}");
    assert!(text.contains(&aside.display().to_string()), "{text}");
    assert!(aside.exists() && !db.exists());
    // The next start begins with an empty sandbox.
    let sb = Sandbox::start(SandboxConfig::new(&data)).await.unwrap();
    sb.shutdown().await;
}
