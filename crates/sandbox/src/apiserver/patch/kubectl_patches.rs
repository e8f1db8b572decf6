//! Applies the patches real kubectl (v1.32; v1.34.5 sends the same) sent
//! for `label`, `annotate`, `set env`, `rollout restart` and a re-`apply`,
//! captured against a stub server holding the fixture's `original` Deployment.

use super::formats::{json_merge, strategic_merge};
use serde_json::{Value, json};

fn fixture() -> Value {
    let path = format!(
        "{}/tests/fixtures/patch/kubectl-v1.32-deployment.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Applies the captured patch whose command starts with `command`.
fn apply(command: &str) -> Value {
    let f = fixture();
    let entry = f["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["command"].as_str().unwrap().starts_with(command))
        .unwrap()
        .clone();
    match entry["contentType"].as_str().unwrap() {
        "application/merge-patch+json" => json_merge(&f["original"], &entry["patch"]),
        "application/strategic-merge-patch+json" => {
            strategic_merge(&f["original"], &entry["patch"], "apps/v1, Kind=Deployment").unwrap()
        }
        other => panic!("unexpected content type {other}"),
    }
}

fn env_of(d: &Value, container: usize) -> Value {
    d["spec"]["template"]["spec"]["containers"][container]["env"].clone()
}

#[test]
fn label_annotate_unlabel() {
    assert_eq!(
        apply("kubectl label deploy web tier")["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        apply("kubectl annotate")["metadata"]["annotations"]["note"],
        "x"
    );
    assert_eq!(
        apply("kubectl label deploy web app-")["metadata"]["labels"],
        json!({})
    );
}

#[test]
fn set_env_adds_to_every_container_and_removes() {
    let d = apply("kubectl set env deploy/web C=3");
    assert_eq!(
        env_of(&d, 0),
        json!([{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}])
    );
    assert_eq!(env_of(&d, 1), json!([{"name":"C","value":"3"}]));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["image"],
        "busybox"
    );

    let d = apply("kubectl set env deploy/web B-");
    assert_eq!(env_of(&d, 0), json!([{"name":"A","value":"1"}]));
}

#[test]
fn rollout_restart_annotates_the_template() {
    let d = apply("kubectl rollout restart");
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["kubectl.kubernetes.io/restartedAt"].is_string());
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
}

#[test]
fn reapply_removes_what_the_manifest_dropped() {
    let d = apply("kubectl apply");
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["image"], "nginx:1.28");
    assert_eq!(env_of(&d, 0), json!([{"name":"A","value":"1"}]));
    assert_eq!(
        containers[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    let last = d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap();
    assert!(last.contains("nginx:1.28"));
}
