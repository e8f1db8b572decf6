//! helm against the sandbox with a local chart (a Deployment, a
//! PersistentVolumeClaim and a Service, `tests/fixtures/chart`): install
//! --wait, upgrade, list, uninstall --wait and install again under the
//! same name — helm 4 with its default (server-side apply) and with
//! `--server-side=false`, and helm 3.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use std::path::Path;

use support::clients;
use support::kube::Env;

/// The whole life of a release, with `extra` flags on install and upgrade.
async fn release(env: &Env, helm: &Path, name: &str, extra: &[&str]) {
    let chart = clients::root().join("crates/sandbox/tests/fixtures/chart");
    let chart = chart.to_str().unwrap();
    let kubectl = clients::kubectls().pop().map(|k| k.path);
    let with = |base: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        env.ok(helm, &refs, None).await
    };
    let mut install = vec!["install".to_string(), name.to_string(), chart.to_string()];
    install.extend(with(&["--wait", "--timeout", "90s"]));
    let out = run(install.clone()).await;
    assert!(out.contains("STATUS: deployed"), "{out}");
    let mut upgrade = vec!["upgrade".to_string(), name.to_string(), chart.to_string()];
    upgrade.extend(with(&[
        "--set",
        "replicas=2",
        "--set",
        "image=nginx:1.28",
        "--wait",
        "--timeout",
        "90s",
    ]));
    let out = run(upgrade).await;
    assert!(
        out.contains("STATUS: deployed") && out.contains("REVISION: 2"),
        "{out}"
    );
    let list = run(vec!["list".into()]).await;
    let row = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not listed: {list}"));
    assert!(
        row.contains("deployed") && row.split_whitespace().nth(2) == Some("2"),
        "{row}"
    );
    if let Some(k) = &kubectl {
        let deploy = format!("deploy/{name}-web");
        let replicas = env
            .ok(
                k,
                &[
                    "get",
                    &deploy,
                    "-o",
                    "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
                ],
                None,
            )
            .await;
        assert_eq!(replicas, "2 nginx:1.28");
    }
    let out = run(vec!["uninstall".into(), name.into(), "--wait".into()]).await;
    assert!(
        out.contains(&format!("release \"{name}\" uninstalled")),
        "{out}"
    );
    if let Some(k) = &kubectl {
        let left = env
            .ok(k, &["get", "deploy,pvc,svc,secret", "-o", "name"], None)
            .await;
        assert!(!left.contains(name), "left behind: {left}");
    }
    let out = run(install).await;
    assert!(out.contains("STATUS: deployed"), "install again: {out}");
    run(vec!["uninstall".into(), name.into(), "--wait".into()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_with_server_side_apply_and_without() {
    let Some(helm) = clients::helm4() else {
        return;
    };
    let env = Env::start().await;
    release(&env, &helm, "ssa", &[]).await;
    release(&env, &helm, "csa", &["--server-side=false"]).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3() {
    let Some(helm) = clients::helm3() else {
        return;
    };
    let env = Env::start().await;
    release(&env, &helm, "three", &[]).await;
    env.stop().await;
}
