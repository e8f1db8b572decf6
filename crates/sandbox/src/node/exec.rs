//! `kubectl exec` for an API server without a node (tests): the WebSocket
//! upgrade (v5/v4.channel.k8s.io) on `pods/<name>/exec`, then the command
//! run as a process of the container's image against its filesystem (its
//! writable layer plus its volume mounts).

use std::collections::BTreeMap;

use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use crate::hostfs::{self, SandboxRoot, VolumeBacking};
use crate::machinery::http::{self as h, Body};
use crate::machinery::resources::{self, ResourceDef};
use crate::machinery::status::ApiError;
use crate::node::streams::{self, ExecRequest, Protocol};
use crate::shell::Container;
use crate::storage::store::Store;

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The container an exec or log request means: `container=` or the
/// default-container annotation or the first container.
pub fn pick_container(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    let wanted = match asked.filter(|a| !a.is_empty()) {
        Some(a) => a.to_string(),
        None => pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
            .as_str()
            .or_else(|| pod["spec"]["containers"][0]["name"].as_str())
            .unwrap_or("")
            .to_string(),
    };
    if names.contains(&wanted.as_str()) {
        Ok(wanted)
    } else {
        Err(ApiError::bad_request(format!(
            "container {wanted} is not valid for pod {pod_name}"
        )))
    }
}

/// Answers `pods/<name>/exec`.
pub fn handle(
    store: &Store,
    root: &SandboxRoot,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    match start(store, root, ns, name, req) {
        Ok(r) => r,
        Err(e) => h::error(&e),
    }
}

fn start(
    store: &Store,
    root: &SandboxRoot,
    ns: &str,
    name: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pods = &resources::PODS;
    let pod = store
        .get(pods, ns, name)
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let exec = ExecRequest::from_query(req.uri().query().unwrap_or(""));
    let container = pick_container(&pod, exec.container.as_deref())?;
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container.as_str() && c["state"]["running"].is_object());
    if !running {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    if exec.command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let upgrade = header_str(&req, header::UPGRADE).eq_ignore_ascii_case("websocket");
    let key = header_str(&req, header::SEC_WEBSOCKET_KEY).to_string();
    let protocol = Protocol::negotiate(header_str(&req, header::SEC_WEBSOCKET_PROTOCOL));
    let (true, false, Some(protocol)) = (upgrade, key.is_empty(), protocol) else {
        return Err(ApiError::bad_request(
            "exec needs a WebSocket upgrade with the v5.channel.k8s.io or v4.channel.k8s.io subprotocol",
        ));
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let store = store.clone();
    let root = root.clone();
    let pod = (*pod).clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        match container_of(&store, &root, &pod, &container) {
            Ok(c) => {
                let _ =
                    streams::run_process(ws, protocol, &exec, c, CancellationToken::new()).await;
            }
            Err(msg) => {
                let mut ws = ws;
                use futures::SinkExt as _;
                let status = serde_json::json!({"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError", "code": 500});
                let _ = ws
                    .send(tokio_tungstenite::tungstenite::Message::Binary(
                        streams::encode(streams::STATUS, status.to_string().as_bytes()).into(),
                    ))
                    .await;
                let _ = ws.close(None).await;
            }
        }
    });
    let mut resp = Response::new(h::full(Vec::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = resp.headers_mut();
    hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(
        &tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
    ) {
        hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    hs.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.name()),
    );
    Ok(resp)
}

/// Resolves what backs a pod volume from the API objects.
pub fn backing(store: &Store, ns: &str, volume: &Value) -> VolumeBacking {
    if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
        let Some(pvc) = store.get(&resources::PVCS, ns, claim) else {
            return VolumeBacking::Unavailable(format!(
                "persistentvolumeclaim \"{claim}\" not found"
            ));
        };
        let pv_name = pvc["spec"]["volumeName"].as_str().unwrap_or("");
        if pvc["status"]["phase"] != "Bound" || pv_name.is_empty() {
            return VolumeBacking::Unavailable(format!(
                "persistentvolumeclaim \"{claim}\" is not bound"
            ));
        }
        let capacity = store
            .get(&resources::PVS, "", pv_name)
            .and_then(|pv| {
                pv["spec"]["capacity"]["storage"]
                    .as_str()
                    .map(str::to_string)
            })
            .and_then(|q| hostfs::parse_quantity(&q));
        return VolumeBacking::PersistentVolume {
            pv_name: pv_name.to_string(),
            capacity,
        };
    }
    for (field, plural, key, binary) in [
        ("configMap", &resources::CONFIG_MAPS, "name", false),
        ("secret", &resources::SECRETS, "secretName", true),
    ] {
        let src = &volume[field];
        if !src.is_object() {
            continue;
        }
        let name = src[key].as_str().unwrap_or("");
        let Some(obj) = store.get(plural, ns, name) else {
            if src["optional"] == Value::Bool(true) {
                return VolumeBacking::Files(BTreeMap::new());
            }
            let noun = if binary { "secret" } else { "configmap" };
            return VolumeBacking::Unavailable(format!("{noun} \"{name}\" not found"));
        };
        let mut files = BTreeMap::new();
        for (k, v) in obj["data"].as_object().into_iter().flatten() {
            let text = v.as_str().unwrap_or("");
            let bytes = if binary {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            files.insert(k.clone(), bytes);
        }
        return VolumeBacking::Files(files);
    }
    VolumeBacking::Unavailable("this volume type is not supported by the sandbox".to_string())
}

/// The container's environment (plain values and ConfigMap/Secret keys).
pub fn container_env(store: &Store, pod: &Value, container: &str) -> Vec<(String, String)> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let c = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().into_iter().flatten())
        .find(|c| c["name"] == container)
        .cloned()
        .unwrap_or(Value::Null);
    let lookup = |res: &ResourceDef, name: &str, key: &str, binary: bool| -> Option<String> {
        let obj = store.get(res, ns, name)?;
        let v = obj["data"][key].as_str()?;
        if binary {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
            Some(String::from_utf8_lossy(&raw).into_owned())
        } else {
            Some(v.to_string())
        }
    };
    let mut out = Vec::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("").to_string();
        let from = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            Some(v.to_string())
        } else if from["configMapKeyRef"].is_object() {
            let r = &from["configMapKeyRef"];
            lookup(
                &resources::CONFIG_MAPS,
                r["name"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
                false,
            )
        } else if from["secretKeyRef"].is_object() {
            let r = &from["secretKeyRef"];
            lookup(
                &resources::SECRETS,
                r["name"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
                true,
            )
        } else if from["fieldRef"]["fieldPath"].is_string() {
            let path = from["fieldRef"]["fieldPath"].as_str().unwrap_or("");
            let mut v = pod;
            for seg in path.split('.') {
                v = &v[seg];
            }
            v.as_str().map(str::to_string)
        } else {
            None
        };
        out.push((name, value.unwrap_or_default()));
    }
    out
}

/// The container's process view: its files, env and image.
fn container_of(
    store: &Store,
    root: &SandboxRoot,
    pod: &Value,
    container: &str,
) -> Result<Container, String> {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let fs = hostfs::container_fs(root, pod, container, |_, v| backing(store, &ns, v))
        .map_err(|e| format!("error: {e}"))?;
    let env = container_env(store, pod, container);
    let hostname = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    let image = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().into_iter().flatten())
        .find(|c| c["name"] == container)
        .and_then(|c| c["image"].as_str())
        .unwrap_or("")
        .to_string();
    Ok(Container::new(fs, crate::images::userland(&image), &hostname).with_env(env))
}
