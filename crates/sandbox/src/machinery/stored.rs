//! What the store keeps of each object: its JSON bytes, exactly as written
//! to the database, and the few facts the controllers filter on.
//!
//! Bytes rather than a parsed `serde_json::Value` is what keeps the
//! sandbox small: a pod is about 3 kB of JSON but about 25 kB as a `Value`
//! tree (each of its ~35 maps is a `BTreeMap` whose first node alone takes
//! ~630 bytes). Readers parse what they use; controllers look at
//! [`Facts`] first so that a pass over 5,000 pods parses only the few it
//! has to act on.

use serde_json::Value;

use crate::machinery::meta::FINALIZER_FOREGROUND;

/// One stored version of an object.
#[derive(Debug)]
pub struct Obj {
    /// `metadata.namespace` ("" for cluster-scoped objects).
    pub ns: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    pub facts: Facts,
    json: Box<[u8]>,
}

/// What controllers need to know of an object before parsing it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts {
    pub uid: Box<str>,
    /// It has ownerReferences.
    pub owned: bool,
    /// The uid of its controller ownerReference.
    pub controller: Option<Box<str>>,
    /// It has a deletionTimestamp.
    pub terminating: bool,
    /// It has the `foregroundDeletion` finalizer.
    pub foreground: bool,
    /// Pods: `spec.nodeName` ("" while unscheduled).
    pub node: Box<str>,
    /// Pods: phase Succeeded or Failed.
    pub finished: bool,
    /// Pods: a volume refers to a PersistentVolumeClaim.
    pub claims: bool,
    /// Pods: `spec.schedulerName` is the default scheduler's.
    pub default_scheduler: bool,
    /// Pods: the message of a `PodScheduled=False` condition with reason
    /// `Unschedulable` (and no lastProbeTime), while the phase is Pending:
    /// what the scheduler wrote the last time it could not place the pod.
    pub unschedulable: Option<Box<str>>,
}

impl Facts {
    pub fn of(obj: &Value) -> Facts {
        let meta = &obj["metadata"];
        let refs = meta["ownerReferences"].as_array();
        let mut facts = Facts {
            uid: meta["uid"].as_str().unwrap_or("").into(),
            owned: refs.is_some_and(|r| !r.is_empty()),
            controller: refs
                .into_iter()
                .flatten()
                .find(|o| o["controller"].as_bool() == Some(true))
                .and_then(|o| o["uid"].as_str())
                .map(Into::into),
            terminating: !meta["deletionTimestamp"].is_null(),
            foreground: meta["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == FINALIZER_FOREGROUND)),
            ..Facts::default()
        };
        if obj["kind"] == "Pod" && obj["apiVersion"] == "v1" {
            let spec = &obj["spec"];
            let status = &obj["status"];
            let phase = status["phase"].as_str().unwrap_or("");
            facts.node = spec["nodeName"].as_str().unwrap_or("").into();
            facts.finished = matches!(phase, "Succeeded" | "Failed");
            facts.claims = spec["volumes"].as_array().is_some_and(|vs| {
                vs.iter()
                    .any(|v| v["persistentVolumeClaim"]["claimName"].is_string())
            });
            facts.default_scheduler = spec["schedulerName"]
                .as_str()
                .is_none_or(|s| s == "default-scheduler");
            facts.unschedulable = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "PodScheduled")
                .filter(|c| {
                    phase == "Pending"
                        && c["status"] == "False"
                        && c["reason"] == "Unschedulable"
                        && c["lastProbeTime"].is_null()
                })
                .and_then(|c| c["message"].as_str())
                .map(Into::into);
        }
        facts
    }
}

impl Obj {
    /// Serialises `obj` (serialising a `Value` cannot fail).
    #[cfg(test)]
    pub fn of(obj: &Value) -> Obj {
        Obj::from_parts(obj, serde_json::to_vec(obj).unwrap_or_default())
    }

    /// `json` must be `obj` serialised (as read back from the database).
    pub fn from_parts(obj: &Value, json: Vec<u8>) -> Obj {
        Obj {
            ns: obj["metadata"]["namespace"].as_str().unwrap_or("").into(),
            name: obj["metadata"]["name"].as_str().unwrap_or("").into(),
            facts: Facts::of(obj),
            json: json.into_boxed_slice(),
        }
    }

    /// The object, parsed. The bytes are the store's own serialisation, so
    /// this does not fail; `null` stands in should it ever.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The object as JSON.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_round_trips_through_its_bytes() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "uid": "u"}, "data": {"k": "v"}});
        let o = Obj::of(&v);
        assert_eq!(o.value(), v);
        assert_eq!((&*o.ns, &*o.name, &*o.facts.uid), ("n", "c", "u"));
        assert_eq!(o.facts.node, "".into());
        assert!(!o.facts.default_scheduler, "pod facts only for pods");
    }

    #[test]
    fn pod_facts() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "uid": "u",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["foregroundDeletion"],
                "ownerReferences": [{"uid": "a"}, {"uid": "rs", "controller": true}]},
            "spec": {"nodeName": "node", "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}]},
            "status": {"phase": "Failed"}});
        let f = Facts::of(&pod);
        assert!(f.owned && f.terminating && f.foreground && f.finished && f.claims);
        assert!(f.default_scheduler);
        assert_eq!(f.controller.as_deref(), Some("rs"));
        assert_eq!(&*f.node, "node");
        assert_eq!(f.unschedulable, None);

        let pending = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"schedulerName": "other"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable", "lastProbeTime": null,
                "message": "0/1 nodes are available: 1 Too many pods."}]}});
        let f = Facts::of(&pending);
        assert!(!f.owned && !f.terminating && !f.finished && !f.claims && !f.default_scheduler);
        assert_eq!(
            f.unschedulable.as_deref(),
            Some("0/1 nodes are available: 1 Too many pods.")
        );
    }
}
