//! Field managers against upstream's documented behaviour: entries on
//! create and update, apply ownership, pruning, conflicts and force.

use super::*;
use crate::machinery::resources;

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

fn managers(o: &Value) -> Vec<(String, String)> {
    o["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_create_is_an_update_entry_without_struct_dots() {
    let mut d = deployment(1, "nginx");
    d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
    track_update(
        &resources::DEPLOYMENTS,
        Scope::Main,
        "kubectl-create",
        None,
        &mut d,
    );
    let e = &d["metadata"]["managedFields"][0];
    assert_eq!(e["manager"], "kubectl-create");
    assert_eq!(e["operation"], "Update");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    let f = &e["fieldsV1"];
    assert!(f["f:spec"].get(".").is_none());
    assert!(f["f:spec"]["f:strategy"].get(".").is_none());
    assert_eq!(f["f:spec"]["f:strategy"]["f:rollingUpdate"]["."], json!({}));
    assert_eq!(
        f["f:spec"]["f:template"]["f:metadata"]["f:labels"]["."],
        json!({})
    );
    assert!(f.get("f:apiVersion").is_none() && f["f:metadata"].get("f:name").is_none());
}

#[test]
fn updates_move_ownership_and_no_op_keeps_the_time() {
    let res = &resources::DEPLOYMENTS;
    let mut live = deployment(1, "nginx");
    track_update(res, Scope::Main, "kubectl-create", None, &mut live);
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(3);
    track_update(res, Scope::Main, "kubectl", Some(&live), &mut scaled);
    let fields = |o: &Value, m: &str| {
        o["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == m)
            .unwrap()["fieldsV1"]
            .clone()
    };
    assert_eq!(managers(&scaled).len(), 2);
    assert!(
        fields(&scaled, "kubectl-create")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        fields(&scaled, "kubectl"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    // The same object again: nothing changes.
    let mut again = scaled.clone();
    track_update(res, Scope::Main, "kubectl", Some(&scaled), &mut again);
    assert_eq!(
        again["metadata"]["managedFields"],
        scaled["metadata"]["managedFields"]
    );
    // Clients may reset managedFields with [].
    let mut reset = scaled.clone();
    reset["metadata"]["managedFields"] = json!([]);
    reset["metadata"]["labels"] = json!({"a": "b"});
    track_update(res, Scope::Main, "kubectl-label", Some(&scaled), &mut reset);
    assert_eq!(
        managers(&reset),
        vec![("kubectl-label".into(), "Update".into())]
    );
}

#[test]
fn status_writes_are_their_own_entries() {
    let res = &resources::DEPLOYMENTS;
    let live = deployment(1, "nginx");
    let mut n = live.clone();
    n["status"] = json!({"replicas": 1});
    n["spec"]["paused"] = json!(true);
    track_update(
        res,
        Scope::All,
        "kube-controller-manager",
        Some(&live),
        &mut n,
    );
    let list = n["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let status = list.iter().find(|e| e["subresource"] == "status").unwrap();
    assert_eq!(
        status["fieldsV1"],
        json!({"f:status": {".": {}, "f:replicas": {}}})
    );
}

#[test]
fn apply_owns_its_fields_prunes_and_conflicts() {
    let res = &resources::DEPLOYMENTS;
    let config = deployment(2, "nginx");
    let created = apply(res, Scope::Main, "helm", false, None, &config).unwrap();
    assert_eq!(managers(&created), vec![("helm".into(), "Apply".into())]);
    assert_eq!(created["spec"]["replicas"], 2);
    // Someone scales it with an update.
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(5);
    track_update(res, Scope::Main, "kubectl", Some(&created), &mut scaled);
    // Applying replicas 2 again conflicts with the scaler.
    let e = apply(res, Scope::Main, "helm", false, Some(&scaled), &config).unwrap_err();
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
    );
    assert_eq!(
        e.details.as_ref().unwrap()["causes"][0]["field"],
        ".spec.replicas"
    );
    assert_eq!(
        e.details.as_ref().unwrap()["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    // Forced, it takes the field over.
    let forced = apply(res, Scope::Main, "helm", true, Some(&scaled), &config).unwrap();
    assert_eq!(forced["spec"]["replicas"], 2);
    assert_eq!(managers(&forced), vec![("helm".into(), "Apply".into())]);
    // The same value as another owner is shared, not a conflict.
    let mut same = config.clone();
    same["spec"]["replicas"] = json!(5);
    let shared = apply(res, Scope::Main, "other", false, Some(&scaled), &same).unwrap();
    assert_eq!(shared["spec"]["replicas"], 5);
    // A field dropped from the configuration goes when nobody else owns it.
    let mut labelled = config.clone();
    labelled["metadata"]["labels"] = json!({"tier": "front"});
    let v1 = apply(res, Scope::Main, "helm", true, Some(&forced), &labelled).unwrap();
    assert_eq!(v1["metadata"]["labels"]["tier"], "front");
    let v2 = apply(res, Scope::Main, "helm", false, Some(&v1), &config).unwrap();
    assert!(v2["metadata"].get("labels").is_none(), "{v2}");
    // managedFields in the configuration are refused.
    let mut bad = config.clone();
    bad["metadata"]["managedFields"] = json!([]);
    let e = apply(res, Scope::Main, "helm", false, Some(&v2), &bad).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "metadata.managedFields must be nil")
    );
}

#[test]
fn several_conflicts_are_listed_by_manager() {
    let res = &resources::DEPLOYMENTS;
    let mut live = deployment(1, "nginx");
    track_update(
        res,
        Scope::Main,
        "kubectl-client-side-apply",
        None,
        &mut live,
    );
    let config = deployment(3, "nginx:2");
    let e = apply(res, Scope::Main, "helm", false, Some(&live), &config).unwrap_err();
    assert_eq!(
        e.message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn old_updates_are_merged_into_ancient_changes() {
    let res = &resources::CONFIG_MAPS;
    let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"}, "data": {}});
    for i in 0..12 {
        let mut n = live.clone();
        n["data"][format!("k{i}")] = json!("v");
        track_update(res, Scope::Main, &format!("m{i:02}"), Some(&live), &mut n);
        live = n;
    }
    let ms = managers(&live);
    assert_eq!(ms.len(), 10);
    assert!(ms.iter().any(|(m, _)| m == ANCIENT_CHANGES));
}
