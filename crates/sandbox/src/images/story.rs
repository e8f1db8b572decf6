//! The course's story told with the sandbox building blocks alone, the way
//! the kubelet emulation will wire them: a pod's filesystem from its spec
//! (`fsroot::container_fs`), the emulated message API (`apps`) on the pod's
//! network namespace (`netns`), `kubectl exec` through the container's shell.
//! Messages saved in the container layer die with the pod; messages saved on
//! a persistent volume outlive it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hostfs::{SandboxRoot, VolumeBacking, container_fs};
use crate::images::{self, AppContext};
use crate::network::netns::NetNamespaces;
use crate::shell::Container;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SCRIPT: &[u8] = b"# the course's msg_api.py (content not interpreted by the sandbox)\n";

fn pod(uid: &str, db_path: &str) -> Value {
    json!({
        "metadata": {"uid": uid, "name": format!("msg-api-{uid}")},
        "spec": {
            "containers": [{
                "name": "api",
                "image": "python:3.12-alpine",
                "command": ["python3", "/opt/msg-api/msg_api.py"],
                "env": [{"name": "API_DB_FILEPATH", "value": db_path}],
                "volumeMounts": [
                    {"name": "code", "mountPath": "/opt/msg-api", "readOnly": true},
                    {"name": "persist", "mountPath": "/persist"}
                ]
            }],
            "volumes": [
                {"name": "code", "configMap": {"name": "msg-api-script"}},
                {"name": "persist", "persistentVolumeClaim": {"claimName": "msg-db"}}
            ]
        }
    })
}

fn backing(name: &str, _: &Value) -> VolumeBacking {
    match name {
        "persist" => VolumeBacking::PersistentVolume {
            pv_name: "pv-msg-db".into(),
            capacity: Some(1 << 30),
        },
        _ => VolumeBacking::Files(BTreeMap::from([("msg_api.py".into(), SCRIPT.to_vec())])),
    }
}

struct Running {
    handle: images::AppHandle,
    addr: std::net::SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

async fn run_pod(root: &SandboxRoot, netns: &NetNamespaces, pod: &Value) -> Running {
    let container = &pod["spec"]["containers"][0];
    let fs = container_fs(root, pod, "api", backing).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let ctx = AppContext {
        pod_uid: uid.into(),
        pod_name: pod["metadata"]["name"].as_str().unwrap().into(),
        container: "api".into(),
        image: container["image"].as_str().unwrap().into(),
        command: strings(&container["command"]),
        args: Vec::new(),
        env: container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().into(),
                    e["value"].as_str().unwrap().into(),
                )
            })
            .collect(),
        fs,
        netns: netns.clone(),
        network: crate::network::podnet::PodNetwork::isolated(netns.clone(), uid),
        log: Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string())),
        procs: crate::process::ProcessTable::new(crate::process::MemBudget::standalone(
            crate::process::DEFAULT_CONTAINER_MEMORY,
        )),
        stdin: false,
        tty: false,
        console: crate::process::Console::new(),
    };
    let handle = images::start(images::select(&ctx.image, &ctx.command, &ctx.args), ctx);
    let mut addr = None;
    for _ in 0..500 {
        addr = netns.lookup(uid, 8080);
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Running {
        handle,
        addr: addr.expect("the message API never listened"),
        log,
    }
}

async fn http(addr: std::net::SocketAddr, method: &str, body: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} /messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    raw.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Deletes a pod the way the kubelet will: stop its processes, drop its
/// network namespace and its directory (layers and emptyDirs).
async fn delete_pod(root: &SandboxRoot, netns: &NetNamespaces, pod: &Value, running: Running) {
    running.handle.stop().await;
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    netns.release_pod(uid);
    root.remove_pod(uid).unwrap();
}

#[tokio::test]
async fn messages_in_the_container_layer_die_with_the_pod_but_not_on_a_volume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = SandboxRoot::new(tmp.path()).unwrap();
    let netns = NetNamespaces::new();

    // 1. The file is on the container's own filesystem.
    let first = pod("a", "/var/lib/msg-api/db.json");
    let running = run_pod(&root, &netns, &first).await;
    http(running.addr, "POST", r#"{"author":"ana","text":"hello"}"#).await;
    assert!(http(running.addr, "GET", "").await.contains("hello"));
    assert_eq!(
        running.log.lock().unwrap()[0],
        "API_DB_FILEPATH is set: messages are saved to /var/lib/msg-api/db.json"
    );
    // The learner can see the file with kubectl exec.
    let shell = Container::new(
        container_fs(&root, &first, "api", backing).unwrap(),
        crate::images::userland("python:3.12-alpine"),
        "a",
    );
    let out = shell.run(&["cat".into(), "/var/lib/msg-api/db.json".into()], b"");
    assert_eq!(
        out.stdout_text(),
        r#"{"messages": [{"author": "ana", "text": "hello"}]}"#
    );
    delete_pod(&root, &netns, &first, running).await;

    // The replacement pod starts from a fresh layer: the message is gone.
    let second = pod("b", "/var/lib/msg-api/db.json");
    let running = run_pod(&root, &netns, &second).await;
    assert_eq!(http(running.addr, "GET", "").await, r#"{"messages": []}"#);
    delete_pod(&root, &netns, &second, running).await;

    // 2. The file is on the persistent volume: it outlives the pod.
    let third = pod("c", "/persist/db.json");
    let running = run_pod(&root, &netns, &third).await;
    http(running.addr, "POST", r#"{"author":"ana","text":"kept"}"#).await;
    delete_pod(&root, &netns, &third, running).await;
    assert!(root.volume("pv-msg-db").unwrap().join("db.json").is_file());

    let fourth = pod("d", "/persist/db.json");
    let running = run_pod(&root, &netns, &fourth).await;
    assert!(http(running.addr, "GET", "").await.contains("kept"));
    let shell = Container::new(
        container_fs(&root, &fourth, "api", backing).unwrap(),
        crate::images::userland("python:3.12-alpine"),
        "d",
    );
    let out = shell.run(
        &[
            "sh".into(),
            "-c".into(),
            "df -h /persist | tail -n 1".into(),
        ],
        b"",
    );
    assert!(
        out.stdout_text()
            .starts_with("/dev/vda1                 1.0G"),
        "{}",
        out.stdout_text()
    );
    delete_pod(&root, &netns, &fourth, running).await;
}
