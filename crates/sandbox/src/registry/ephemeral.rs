//! The update rules of `pods/<name>/ephemeralcontainers` (how `kubectl
//! debug POD` adds a debugging container), upstream's
//! `ValidatePodEphemeralContainersUpdate`: ephemeral containers can only
//! be added, never changed or removed; their names are unique among all
//! the pod's containers; ports, probes, lifecycle and resources are
//! forbidden; `targetContainerName` must name a container. The pipeline
//! has already kept everything but `spec.ephemeralContainers` as stored.

use serde_json::{Value, json};

use crate::registry::Cause;

/// Fields an ephemeral container may not set.
const FORBIDDEN: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
];

fn containers<'a>(spec: &'a Value, list: &str) -> &'a [Value] {
    spec[list].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Upstream's checks of an ephemeral containers update of `old` to `new`.
pub(crate) fn validate_update(new: &Value, old: &Value, out: &mut Vec<Cause>) {
    let list = containers(&new["spec"], "ephemeralContainers");
    let before = containers(&old["spec"], "ephemeralContainers");
    for o in before {
        let oname = o["name"].as_str().unwrap_or("");
        match list.iter().find(|n| n["name"].as_str() == Some(oname)) {
            Some(n) if n == o => {}
            Some(_) => out.push(Cause::forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers \"{oname}\" may not be changed"),
            )),
            None => out.push(Cause::forbidden(
                "spec.ephemeralContainers",
                &format!("existing ephemeral containers \"{oname}\" may not be removed"),
            )),
        }
    }
    let regular: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| containers(&new["spec"], l))
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut names = regular.clone();
    for (i, c) in list.iter().enumerate() {
        let field = format!("spec.ephemeralContainers[{i}]");
        let name = c["name"].as_str().unwrap_or("");
        if name.is_empty() {
            out.push(Cause::required(format!("{field}.name")));
        } else if names.contains(&name) {
            out.push(Cause::duplicate(format!("{field}.name"), &json!(name)));
        } else {
            names.push(name);
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            out.push(Cause::required(format!("{field}.image")));
        }
        let is_new = !before.iter().any(|o| o["name"].as_str() == Some(name));
        if is_new {
            for f in FORBIDDEN {
                let set = match &c[*f] {
                    Value::Null => false,
                    Value::Object(m) => !m.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                };
                if set {
                    out.push(Cause::forbidden(
                        format!("{field}.{f}"),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
        if let Some(target) = c["targetContainerName"].as_str()
            && !target.is_empty()
            && !regular.contains(&target)
        {
            out.push(Cause::invalid(
                format!("{field}.targetContainerName"),
                &json!(target),
                "must be the name of a container in the pod",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(eph: Value) -> Value {
        json!({"spec": {"containers": [{"name": "app", "image": "nginx"}],
            "ephemeralContainers": eph}})
    }

    #[test]
    fn only_additions_of_valid_containers() {
        let old = pod(json!([{"name": "debugger-a", "image": "busybox"}]));
        let check = |eph: Value| {
            let mut out = Vec::new();
            validate_update(&pod(eph), &old, &mut out);
            out
        };
        assert!(
            check(json!([{"name": "debugger-a", "image": "busybox"},
                {"name": "debugger-b", "image": "busybox", "targetContainerName": "app", "stdin": true, "tty": true}]))
            .is_empty()
        );
        let changed = check(json!([{"name": "debugger-a", "image": "alpine"}]));
        assert_eq!(changed.len(), 1);
        assert!(changed[0].message.contains("may not be changed"));
        let removed = check(json!([]));
        assert!(removed[0].message.contains("may not be removed"));
        let bad = check(json!([{"name": "debugger-a", "image": "busybox"},
            {"name": "app", "image": "busybox", "ports": [{"containerPort": 80}], "targetContainerName": "nope"}]));
        assert_eq!(bad.len(), 3, "{bad:?}");
    }
}
