//! Endpoints and EndpointSlices of services with a selector: the pods it
//! selects, ready or not, with each service port resolved against them.

use crate::machinery::resources;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::{name_of, namespace_of};
use crate::machinery::meta::{owner_ref, pod_ready};
use crate::network::services::target_port;
use crate::registry::deletion::DeleteOptions;
use crate::runtime::Runtime;

const MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
const SLICE_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SERVICE_NAME: &str = "kubernetes.io/service-name";

pub fn reconcile(rt: &Arc<Runtime>) {
    let (services, _) = rt.store.list(&resources::SERVICES, None);
    let ep_res = &resources::ENDPOINTS;
    for svc in &services {
        if svc["spec"]["selector"]
            .as_object()
            .is_none_or(|m| m.is_empty())
        {
            continue;
        }
        sync(rt, svc);
    }
    // Endpoints of services that are gone.
    let (eps, _) = rt.store.list(ep_res, None);
    for ep in eps {
        if ep["metadata"]["labels"][MANAGED_BY].is_string()
            && !services
                .iter()
                .any(|s| name_of(s) == name_of(&ep) && namespace_of(s) == namespace_of(&ep))
        {
            let _ = rt.delete(
                ep_res,
                namespace_of(&ep),
                name_of(&ep),
                &DeleteOptions::default(),
            );
        }
    }
}

fn sync(rt: &Runtime, svc: &Value) {
    let ns = namespace_of(svc);
    let name = name_of(svc);
    let pods = crate::network::services::selected_pods(&rt.store, svc);
    let svc_ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut ports = Vec::new();
    let mut slice_eps = Vec::new();
    for p in &pods {
        let target = json!({"kind": "Pod", "namespace": ns, "name": name_of(p),
                            "uid": p["metadata"]["uid"]});
        let mut addr = json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                          "targetRef": target});
        // A pod that names this service as its subdomain is published
        // under its hostname (a StatefulSet's `db-0.db`).
        let hostname = p["spec"]["hostname"]
            .as_str()
            .filter(|h| !h.is_empty() && p["spec"]["subdomain"].as_str() == Some(name));
        if let Some(h) = hostname {
            addr["hostname"] = json!(h);
        }
        let is_ready = pod_ready(p);
        if is_ready {
            ready.push(addr);
        } else {
            not_ready.push(addr);
        }
        let mut slice_ep = json!({
            "addresses": [p["status"]["podIP"]],
            "conditions": {"ready": is_ready, "serving": is_ready, "terminating": false},
            "nodeName": p["spec"]["nodeName"],
            "targetRef": target,
        });
        if let Some(h) = hostname {
            slice_ep["hostname"] = json!(h);
        }
        slice_eps.push(slice_ep);
    }
    if let Some(first) = pods.first() {
        for sp in &svc_ports {
            if let Some(port) = target_port(sp, first) {
                let mut e =
                    json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
                if let Some(n) = sp["name"].as_str() {
                    e["name"] = json!(n);
                }
                ports.push(e);
            }
        }
    }
    let mut labels = svc["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    // Endpoints.
    let ep_res = &resources::ENDPOINTS;
    let mut subsets = Vec::new();
    if !pods.is_empty() {
        let mut s = json!({"ports": ports});
        if !ready.is_empty() {
            s["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            s["notReadyAddresses"] = json!(not_ready);
        }
        subsets.push(s);
    }
    let mut ep_labels = labels.clone();
    ep_labels[MANAGED_BY] = json!("endpoint-controller");
    match rt.store.get(ep_res, ns, name) {
        Some(old) => {
            let mut n = (*old).clone();
            if subsets.is_empty() {
                if let Some(m) = n.as_object_mut() {
                    m.remove("subsets");
                }
            } else {
                n["subsets"] = json!(subsets);
            }
            n["metadata"]["labels"] = ep_labels;
            if n != *old {
                rt.put(ep_res, n);
            }
        }
        None => {
            let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": ep_labels}});
            if !subsets.is_empty() {
                ep["subsets"] = json!(subsets);
            }
            rt.create(ep_res, ep);
        }
    }
    // EndpointSlice.
    let Some(slice_res) =
        crate::machinery::resources::by_qualified("endpointslices.discovery.k8s.io")
    else {
        return;
    };
    let (slices, _) = rt.store.list(slice_res, Some(ns));
    let existing = slices
        .iter()
        .find(|s| s["metadata"]["labels"][SERVICE_NAME].as_str() == Some(name));
    let mut slice_labels = labels;
    slice_labels[SERVICE_NAME] = json!(name);
    slice_labels[SLICE_MANAGED_BY] = json!("endpointslice-controller.k8s.io");
    let slice_ports: Vec<Value> = svc_ports
        .iter()
        .filter_map(|sp| {
            let port = pods.first().and_then(|p| target_port(sp, p));
            let mut e = json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
            e["name"] = sp["name"].clone().as_str().map_or(json!(""), |n| json!(n));
            port.map(|_| e)
        })
        .collect();
    match existing {
        Some(old) => {
            let mut n = (**old).clone();
            n["endpoints"] = json!(slice_eps);
            n["ports"] = json!(slice_ports);
            n["metadata"]["labels"] = slice_labels;
            if n != **old {
                rt.put(slice_res, n);
            }
        }
        None => {
            rt.create(
                slice_res,
                json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"generateName": format!("{name}-"), "namespace": ns,
                                 "labels": slice_labels, "ownerReferences": [owner_ref(svc)]},
                    "addressType": "IPv4",
                    "endpoints": slice_eps,
                    "ports": slice_ports,
                }),
            );
        }
    }
}
