//! The pipeline's tests: creates, updates and deletes as upstream's
//! registry does them, admission, and dry runs that store nothing.

use super::*;
use crate::machinery::cluster::SERVICE_ACCOUNT_MOUNT;
use crate::machinery::resources;
use crate::storage::store::Preconditions;

fn reg() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::for_test(&dir.path().join("db"));
    (dir, r)
}

fn api() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        manager: "kubectl".into(),
        scope: Scope::Main,
    }
}

fn dry() -> WriteOptions {
    WriteOptions {
        dry_run: true,
        ..api()
    }
}

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn put(r: &Registry, res: &'static ResourceDef, obj: Value) -> Result<Arc<Value>, ApiError> {
    let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
    let make = |_: Option<&Value>| Ok(obj.clone());
    r.update(res, &ns, &name, &make, false, &api())
        .map(|u| u.object)
}

#[test]
fn create_update_conflict_and_no_op() {
    let (_d, r) = reg();
    let pods = &resources::PODS;
    let created = r.create(pods, pod("a"), &api()).unwrap();
    assert!(created["metadata"]["uid"].is_string());
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        r.create(pods, pod("a"), &api()).unwrap_err().reason,
        "AlreadyExists"
    );
    let mut stale = (*created).clone();
    stale["metadata"]["labels"] = json!({"x": "1"});
    let updated = put(&r, pods, stale.clone()).unwrap();
    assert_eq!(updated["metadata"]["labels"]["x"], "1");
    // Metadata changes do not bump the generation.
    assert_eq!(updated["metadata"]["generation"], 1);
    let err = put(&r, pods, stale).unwrap_err();
    assert_eq!(err.reason, "Conflict");
    // The same object again writes nothing.
    let again = put(&r, pods, (*updated).clone()).unwrap();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );
    // A client's resourceVersion on create is refused (not a dry run).
    let mut with_rv = pod("b");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let e = r.create(pods, with_rv, &api()).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            500,
            "resourceVersion should not be set on objects to be created"
        )
    );
}

#[test]
fn admission_on_new_pods_and_claims() {
    let (_d, r) = reg();
    let mut p = pod("p");
    p["spec"]["tolerations"] = json!([{"key": "x", "operator": "Exists"}]);
    let p = r.create(&resources::PODS, p, &api()).unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert_eq!(p["spec"]["priority"], 0);
    assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 3);
    let vol = &p["spec"]["volumes"][0];
    assert!(
        vol["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(
        vol["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3607
    );
    assert_eq!(
        p["spec"]["containers"][0]["volumeMounts"][0],
        json!({"name": vol["name"], "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT})
    );
    let mut opted_out = pod("q");
    opted_out["spec"]["automountServiceAccountToken"] = json!(false);
    let q = r.create(&resources::PODS, opted_out, &api()).unwrap();
    assert!(q["spec"].get("volumes").is_none());

    let claim = json!({"metadata": {"name": "c", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let c = r.create(&resources::PVCS, claim.clone(), &api()).unwrap();
    assert_eq!(
        c["spec"]["storageClassName"],
        crate::machinery::cluster::DEFAULT_CLASS
    );
    assert_eq!(
        c["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert_eq!(c["status"]["phase"], "Pending");
    let mut no_class = claim;
    no_class["metadata"]["name"] = json!("d");
    no_class["spec"]["storageClassName"] = json!("");
    let d = r.create(&resources::PVCS, no_class, &api()).unwrap();
    assert_eq!(d["spec"]["storageClassName"], "");
}

#[test]
fn namespaces_missing_terminating_and_immortal() {
    let (_d, r) = reg();
    let mut p = pod("x");
    p["metadata"]["namespace"] = json!("nope");
    let e = r.create(&resources::PODS, p, &api()).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
    let e = r
        .delete(
            &resources::NAMESPACES,
            "",
            "default",
            &DeleteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            403,
            "namespaces \"default\" is forbidden: this namespace may not be deleted"
        )
    );

    let ns = &resources::NAMESPACES;
    r.create(ns, json!({"metadata": {"name": "t"}}), &api())
        .unwrap();
    let d = r.delete(ns, "", "t", &DeleteOptions::default()).unwrap();
    assert!(!d.removed);
    let t = r.store().get(ns, "", "t").unwrap();
    assert_eq!(t["status"]["phase"], "Terminating");
    let mut p = pod("x");
    p["metadata"]["namespace"] = json!("t");
    let err = r.create(&resources::PODS, p, &api()).unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods \"x\" is forbidden: unable to create new content in namespace t because it is being terminated"
    );
    assert_eq!(
        err.details.unwrap()["causes"][0]["reason"],
        "NamespaceTerminating"
    );
    // Finalized (spec.finalizers emptied by the namespace controller), it goes.
    let mut n = (*t).clone();
    n["spec"]["finalizers"] = json!([]);
    let make = |_: Option<&Value>| Ok(n.clone());
    r.update(ns, "", "t", &make, false, &WriteOptions::component("test"))
        .unwrap();
    assert!(r.store().get(ns, "", "t").is_none());
}

#[test]
fn owners_go_at_once_and_orphans_lose_their_reference() {
    let (_d, r) = reg();
    let cms = &resources::CONFIG_MAPS;
    let owner = r
        .create(
            cms,
            json!({"metadata": {"name": "o", "namespace": "default"}}),
            &api(),
        )
        .unwrap();
    let mut p = pod("child");
    p["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap",
        "name": "o", "uid": owner["metadata"]["uid"]}]);
    r.create(&resources::PODS, p, &api()).unwrap();
    let orphan = DeleteOptions {
        propagation: Some(Propagation::Orphan),
        ..DeleteOptions::default()
    };
    assert!(r.delete(cms, "default", "o", &orphan).unwrap().removed);
    let child = r.store().get(&resources::PODS, "default", "child").unwrap();
    assert_eq!(child["metadata"]["ownerReferences"], json!([]));

    let fg = DeleteOptions {
        propagation: Some(Propagation::Foreground),
        ..DeleteOptions::default()
    };
    r.create(
        cms,
        json!({"metadata": {"name": "f", "namespace": "default"}}),
        &api(),
    )
    .unwrap();
    let d = r.delete(cms, "default", "f", &fg).unwrap();
    assert!(!d.removed);
    assert_eq!(
        d.object["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
}

#[test]
fn finalizers_and_graceful_pod_deletion() {
    let (_d, r) = reg();
    let pods = &resources::PODS;
    let mut held = pod("held");
    held["metadata"]["finalizers"] = json!(["example.com/keep"]);
    r.create(pods, held, &api()).unwrap();
    let d = r
        .delete(pods, "default", "held", &DeleteOptions::default())
        .unwrap();
    assert!(!d.removed);
    let o = r.store().get(pods, "default", "held").unwrap();
    assert_eq!(o["metadata"]["deletionGracePeriodSeconds"], 0);
    let mut c = (*o).clone();
    c["metadata"]["finalizers"] = json!([]);
    put(&r, pods, c).unwrap();
    assert!(r.store().get(pods, "default", "held").is_none());

    let mut run = pod("run");
    run["spec"]["nodeName"] = json!("kubetutor-node");
    r.create(pods, run, &api()).unwrap();
    let d = r
        .delete(pods, "default", "run", &DeleteOptions::default())
        .unwrap();
    assert!(!d.removed);
    assert_eq!(d.object["metadata"]["deletionGracePeriodSeconds"], 30);
    // A longer period changes nothing; 0 ends it.
    let longer = DeleteOptions {
        grace_period_seconds: Some(60),
        ..DeleteOptions::default()
    };
    let d = r.delete(pods, "default", "run", &longer).unwrap();
    assert_eq!(d.object["metadata"]["deletionGracePeriodSeconds"], 30);
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Preconditions {
            uid: Some("wrong".into()),
            ..Preconditions::default()
        },
        ..DeleteOptions::default()
    };
    let e = r.delete(pods, "default", "run", &now).unwrap_err();
    assert_eq!(e.code, 409);
    assert!(e.message.starts_with("Operation cannot be fulfilled on pods \"run\": StorageError: invalid object, Code: 4, Key: /registry/pods/default/run"), "{}", e.message);
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    assert!(r.delete(pods, "default", "run", &now).unwrap().removed);
}

#[test]
fn dry_runs_run_everything_and_store_nothing() {
    let (_d, r) = reg();
    let pods = &resources::PODS;
    let rv = r.store().resource_version();
    let mut feed = r.store().subscribe();
    let out = r.create(pods, pod("dry"), &dry()).unwrap();
    assert!(out["metadata"]["uid"].is_string());
    assert!(out["metadata"].get("resourceVersion").is_none());
    assert_eq!(out["spec"]["serviceAccountName"], "default");
    assert!(r.store().get(pods, "default", "dry").is_none());
    // Validation still answers.
    let bad =
        json!({"metadata": {"name": "Bad", "namespace": "default"}, "spec": {"containers": []}});
    assert_eq!(r.create(pods, bad, &dry()).unwrap_err().code, 422);

    let real = r.create(pods, pod("real"), &api()).unwrap();
    let rv_real = r.store().resource_version();
    let mut changed = (*real).clone();
    changed["metadata"]["labels"] = json!({"a": "b"});
    let make = |_: Option<&Value>| Ok(changed.clone());
    let u = r
        .update(pods, "default", "real", &make, false, &dry())
        .unwrap();
    assert_eq!(u.object["metadata"]["labels"]["a"], "b");
    assert_eq!(
        u.object["metadata"]["resourceVersion"],
        real["metadata"]["resourceVersion"]
    );
    assert!(r.store().get(pods, "default", "real").unwrap()["metadata"]["labels"].is_null());
    let d = r
        .delete(
            pods,
            "default",
            "real",
            &DeleteOptions {
                dry_run: true,
                ..DeleteOptions::default()
            },
        )
        .unwrap();
    assert!(d.removed);
    assert!(r.store().contains(pods, "default", "real"));
    assert_eq!(r.store().resource_version(), rv_real);
    assert!(rv_real > rv);
    // The only event is the real create.
    let ev = feed.try_recv().unwrap();
    assert_eq!(&*ev.object.name, "real");
    assert!(feed.try_recv().is_err());
}

#[test]
fn secrets_fold_string_data_into_data() {
    let (_d, r) = reg();
    let s = r
        .create(
            &resources::SECRETS,
            json!({"metadata": {"name": "s", "namespace": "default"},
                "data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "hello", "c": "x"}}),
            &api(),
        )
        .unwrap();
    assert!(s.get("stringData").is_none());
    assert_eq!(
        s["data"],
        json!({"a": "eA==", "b": "aGVsbG8=", "c": "eA=="})
    );
    assert_eq!(s["type"], "Opaque");
}

#[test]
fn controllers_bind_claims_through_the_pipeline() {
    let (_d, r) = reg();
    let pvcs = &resources::PVCS;
    let claim = json!({"metadata": {"name": "c", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let c = r.create(pvcs, claim, &api()).unwrap();
    let ctl = WriteOptions::component("kube-controller-manager");
    let mut n = (*c).clone();
    n["metadata"]["annotations"] = json!({"volume.kubernetes.io/selected-node": "kubetutor-node"});
    let make = |_: Option<&Value>| Ok(n.clone());
    let c = r
        .update(pvcs, "default", "c", &make, false, &ctl)
        .unwrap()
        .object;
    let mut b = (*c).clone();
    b["spec"]["volumeName"] = json!("pv-1");
    b["status"] =
        json!({"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]});
    let make = |_: Option<&Value>| Ok(b.clone());
    let c = r
        .update(pvcs, "default", "c", &make, false, &ctl)
        .unwrap()
        .object;
    assert_eq!(c["status"]["phase"], "Bound");
}
