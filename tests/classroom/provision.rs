//! Provisioning a shared cluster, against the sandbox with its RBAC: two
//! learners get their namespace, token and kubeconfig; each is admin of
//! their own namespace and nothing else (learner A cannot read learner
//! B's namespace, nor bind themselves to cluster-admin); `kubectl auth
//! can-i` answers as RBAC says; teardown removes it all and the tokens
//! stop working.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams, PostParams};
use sandbox::{Sandbox, SandboxConfig};

use crate::support;

async fn client_of(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

async fn can_i(client: &kube::Client, verb: &str, resource: &str, ns: &str) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                namespace: Some(ns.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let out = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    out.status.unwrap().allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_are_admins_of_their_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
        .await
        .unwrap();
    let admin_kc = sandbox.kubeconfig_path().to_path_buf();
    let data = dir.path().join("instructor");
    let out = support::run(
        &data,
        &[
            "classroom",
            "provision",
            "--names",
            "ana,bob",
            "--classroom",
            "ws",
            "--kubeconfig",
            admin_kc.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let kc_dir = data.join("classroom/kubeconfigs/ws");
    let (ana_kc, bob_kc) = (kc_dir.join("ana.kubeconfig"), kc_dir.join("bob.kubeconfig"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&ana_kc).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a learner's kubeconfig holds a token");
    }
    let ana = client_of(&ana_kc).await;
    let bob = client_of(&bob_kc).await;

    // Ana works in her namespace...
    let cms = Api::<ConfigMap>::namespaced(ana.clone(), "ws-ana");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "notes"}, "data": {"k": "v"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(can_i(&ana, "create", "pods", "ws-ana").await);
    // ...and cannot read Bob's.
    let e = api_error(
        Api::<Pod>::namespaced(ana.clone(), "ws-bob")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "pods is forbidden: User \"system:serviceaccount:ws-ana:learner\" cannot list resource \"pods\" in API group \"\" in the namespace \"ws-bob\""
    );
    let e = api_error(
        Api::<ConfigMap>::namespaced(bob.clone(), "ws-ana")
            .get("notes")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert!(!can_i(&ana, "get", "secrets", "ws-bob").await);
    assert!(!can_i(&ana, "list", "namespaces", "").await);
    // No way up: binding herself to cluster-admin is refused.
    let crb: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "mine"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "learner", "namespace": "ws-ana"}]
    }))
    .unwrap();
    let e = api_error(
        Api::<ClusterRoleBinding>::all(ana.clone())
            .create(&PostParams::default(), &crb)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);

    // kubectl's view of it, as a learner would see it.
    if let Some(kubectl) = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL")) {
        let can = |kc: &Path, args: &[&str]| {
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(kc)
                .args(["auth", "can-i"])
                .args(args)
                .output()
                .unwrap()
        };
        let yes = can(&ana_kc, &["create", "deployments", "-n", "ws-ana"]);
        assert_eq!(String::from_utf8_lossy(&yes.stdout).trim(), "yes");
        let no = can(&ana_kc, &["get", "pods", "-n", "ws-bob"]);
        assert_eq!(String::from_utf8_lossy(&no.stdout).trim(), "no");
        assert!(!no.status.success());
        let read = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&ana_kc)
            .args(["get", "configmaps", "-n", "ws-bob"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&read.stderr).contains("Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:ws-ana:learner\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"ws-bob\""),
            "{}",
            String::from_utf8_lossy(&read.stderr)
        );
    }

    // Teardown removes the namespaces, and with their ServiceAccounts the
    // tokens stop working.
    let out = support::run(
        &data,
        &[
            "classroom",
            "teardown",
            "--classroom",
            "ws",
            "--yes",
            "--kubeconfig",
            admin_kc.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let admin = client_of(&admin_kc).await;
    let namespaces = Api::<Namespace>::all(admin.clone());
    for ns in ["ws-ana", "ws-bob"] {
        // Gone, or going (Terminating while its objects are deleted).
        if let Some(n) = namespaces.get_opt(ns).await.unwrap() {
            assert!(n.metadata.deletion_timestamp.is_some(), "{ns} is kept");
        }
    }
    let crbs = Api::<ClusterRoleBinding>::all(admin)
        .list(&ListParams::default().labels("kubetutor.dev/classroom=ws"))
        .await
        .unwrap();
    assert!(crbs.items.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match Api::<ConfigMap>::namespaced(ana.clone(), "ws-ana")
            .list(&ListParams::default())
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 401 => break,
            other => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the token still works after teardown: {other:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    drop(sandbox);
}
