//! Lesson 02 on the embedded sandbox with real kubectl: the crawler is
//! emulated, so the lesson's solutions play out as on a real cluster. Three
//! crawlers on one port crash-loop with the bind error; with ports 8081 and
//! 8082 the pod is 3/3 and the Service serves books from the shared emptyDir.

use crate::runtime_env;

use runtime_env::start;

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The manifests the lesson's solutions write with `cat > crawler.yaml`.
fn solution_manifests() -> Vec<String> {
    let lesson = repo_file("lessons/en/02-emptydir-shared.md");
    let marker = "cat > crawler.yaml <<'EOF'\n";
    lesson
        .match_indices(marker)
        .map(|(i, _)| {
            let rest = &lesson[i + marker.len()..];
            let end = rest.find("\nEOF\n").expect("a heredoc ends with EOF");
            rest[..end].to_string()
        })
        .collect()
}

/// The one crawler pod's line in `kubectl get pods` (the old ones gone).
fn single_pod_line(out: &str) -> Option<&str> {
    let lines: Vec<&str> = out.lines().skip(1).collect();
    match lines.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_crawlers_crash_loop_then_share_the_cache() {
    let Some(env) = start().await else { return };
    let solutions = solution_manifests();
    assert!(solutions.len() >= 2, "the lesson's two solutions");
    for f in ["script-configmap.yaml", "configmap.yaml", "service.yaml"] {
        env.apply(&repo_file(&format!("assets/02-emptydir/{f}")))
            .await;
    }
    // As the lesson's solution; a short interval for crawler-1 (envFrom) so
    // the test sees books soon.
    env.k(&[
        "patch",
        "configmap",
        "crawler-config",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"CRAWLER_DB_PATH":"/cache/db","CRAWLER_INTERVAL":"1"}}"#,
    ])
    .await;

    env.apply(&solutions[0]).await;
    let out = env
        .k_until(&["get", "pods", "-l", "app=crawler"], |o| {
            o.contains("CrashLoopBackOff")
        })
        .await;
    assert!(out.contains("crawler-"), "{out}");
    let logs = env
        .k_until(
            &["logs", "deployment/crawler", "--all-containers", "--prefix"],
            |o| o.contains("listen tcp :8080: bind: address already in use"),
        )
        .await;
    assert!(
        logs.contains("crawler on :8080: one book every 1s"),
        "{logs}"
    );

    env.k(&[
        "patch",
        "configmap",
        "crawler-config",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"CRAWLER_PORT_2":"8081","CRAWLER_PORT_3":"8082"}}"#,
    ])
    .await;
    env.apply(&solutions[1]).await;
    let out = env
        .k_until(&["get", "pods", "-l", "app=crawler"], |o| {
            single_pod_line(o).is_some_and(|l| l.contains(" 3/3     Running "))
        })
        .await;
    assert!(!out.contains("CrashLoopBackOff"), "{out}");

    // crawler-1, behind the Service, serves what the crawlers saved.
    let books = env
        .k_until(
            &[
                "get",
                "--raw",
                "/api/v1/namespaces/kubetutor/services/crawler:80/proxy/books",
            ],
            |o| o.contains(r#""crawler_port": 8080"#),
        )
        .await;
    assert!(books.starts_with(r#"{"books": [{"id": ""#), "{books}");
    let logs = env
        .k_until(
            &["logs", "deployment/crawler", "--all-containers", "--prefix"],
            |o| o.contains("crawler on :8082: one book every 15s"),
        )
        .await;
    assert!(
        logs.contains("CRAWLER_DB_PATH is set: books are saved in /cache/db"),
        "{logs}"
    );
    assert!(!logs.contains("address already in use"), "{logs}");
}
