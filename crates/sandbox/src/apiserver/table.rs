//! Server-side printing: `meta.k8s.io/v1` Tables with upstream's columns
//! (priority 1 = only with `-o wide`) and cell formats for every kind.

use serde_json::{Value, json};

use crate::machinery::resources::ResourceDef;
use crate::registry::strategy;

fn column_definitions(res: &ResourceDef) -> Value {
    strategy(res)
        .columns()
        .iter()
        .map(|(name, ty, prio)| {
            let mut c = json!({"name": name, "type": ty, "format": "", "description": "", "priority": prio});
            if *name == "Name" && !(res.plural == "events" && res.group.is_empty()) {
                c["format"] = json!("name");
            }
            c
        })
        .collect()
}

/// A `meta.k8s.io/v1` Table of `items`, written one row at a time: each
/// object is consumed as its row is serialised, so a page of 500 pods is
/// never held parsed all at once. `columns: false` leaves out the column
/// definitions (a watch sends them with its first row only).
pub fn table(
    res: &ResourceDef,
    items: impl IntoIterator<Item = Value>,
    rv: &str,
    cont: Option<&str>,
    include_object: bool,
    columns: bool,
) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let mut out = Vec::with_capacity(4096);
    // Keys in the order serde_json writes a map (sorted), as before.
    out.extend_from_slice(b"{\"apiVersion\":\"meta.k8s.io/v1\",");
    if columns {
        out.extend_from_slice(b"\"columnDefinitions\":");
        write_json(&mut out, &column_definitions(res));
        out.push(b',');
    }
    out.extend_from_slice(b"\"kind\":\"Table\",\"metadata\":");
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    write_json(&mut out, &meta);
    out.extend_from_slice(b",\"rows\":[");
    for (i, mut o) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        write_json(&mut out, &strategy(res).cells(&o, now));
        if include_object {
            out.extend_from_slice(
                b",\"object\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"PartialObjectMetadata\",\"metadata\":",
            );
            write_json(&mut out, &o["metadata"].take());
            out.push(b'}');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// Serialising a `Value` into a Vec cannot fail.
fn write_json(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn pod_and_pv_rows() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": "2020-01-01T00:00:00Z"}}}]}});
        let t = parse(table(&resources::PODS, [pod], "7", None, true, true));
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert!(cells[3].as_str().unwrap().starts_with("3 ("));
        assert_eq!(cells[5], "10.0.0.1");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let pv = json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "d", "name": "c"}, "storageClassName": "standard", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        let t = parse(table(&resources::PVS, [pv], "7", None, false, true));
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "v",
                "1Gi",
                "RWO,ROX",
                "Retain",
                "Bound",
                "d/c",
                "standard",
                "<unset>",
                "",
                "<unknown>",
                "Filesystem"
            ])
        );
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 11);
    }
}
