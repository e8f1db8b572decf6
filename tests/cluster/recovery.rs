//! Watchers against a tiny fake API server that misbehaves the ways real
//! ones do: a 403 on one kind, a 410 on a watch, and going away entirely.
//! The watchers must say "reconnecting…" and the view must repair itself
//! when the server is back, without anyone restarting anything.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::{Request, Response};
use kubetutor::cluster::connection::ConnectionState;
use kubetutor::cluster::state::{ClusterState, ClusterUpdate};
use kubetutor::cluster::watch::spawn_watchers;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// What the fake server answers.
struct Behaviour {
    /// The store's resource version; a watch from another one gets 410
    /// Gone, as from a server that lost its history.
    rv: &'static str,
    pods: Vec<&'static str>,
    forbid_services: AtomicBool,
    expire_configmaps_once: AtomicBool,
}

fn pod_json(name: &str, rv: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"kubetutor","uid":"uid-{name}","resourceVersion":"{rv}"}}}}"#
    )
}

const GONE: &str = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}
"#;

fn body_once(text: String) -> Body {
    StreamBody::new(
        futures::stream::once(async move { Ok(Frame::data(Bytes::from(text))) }).boxed(),
    )
}

fn handle(req: &Request<hyper::body::Incoming>, b: &Behaviour) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let resource = path.rsplit('/').next().unwrap_or("").to_string();
    let json = |code: u16, text: String| {
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(body_once(text))
            .unwrap_or_else(|_| Response::new(body_once(String::new())))
    };
    if query.contains("watch=true") {
        let from_elsewhere = !query.contains(&format!("resourceVersion={}", b.rv));
        if from_elsewhere
            || (resource == "configmaps" && b.expire_configmaps_once.swap(false, Ordering::SeqCst))
        {
            return json(200, GONE.into());
        }
        // Stay open without events, like a quiet namespace.
        let stream = futures::stream::pending::<Result<Frame<Bytes>, Infallible>>().boxed();
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(StreamBody::new(stream))
            .unwrap_or_else(|_| Response::new(body_once(String::new())));
    }
    if path == "/version" {
        return json(
            200,
            r#"{"major":"1","minor":"34","gitVersion":"v1.34.0","gitCommit":"x","gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"go1.24","compiler":"gc","platform":"linux/amd64"}"#.into(),
        );
    }
    if resource == "selfsubjectaccessreviews" {
        return json(
            201,
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","metadata":{},"spec":{},"status":{"allowed":true}}"#.into(),
        );
    }
    if path == "/api/v1/namespaces/kubetutor" {
        return json(
            404,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"kubetutor\" not found","reason":"NotFound","code":404}"#.into(),
        );
    }
    if resource == "services" && b.forbid_services.load(Ordering::SeqCst) {
        return json(
            403,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services is forbidden: User \"ana\" cannot list resource \"services\"","reason":"Forbidden","code":403}"#.into(),
        );
    }
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let items = if resource == "nodes" {
        r#"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"node-1","resourceVersion":"1"}}"#.to_string()
    } else if resource == "pods" {
        b.pods
            .iter()
            .map(|p| pod_json(p, b.rv))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        String::new()
    };
    let kind = if accept.contains("PartialObjectMetadata") {
        r#""kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1""#
    } else {
        r#""kind":"List","apiVersion":"v1""#
    };
    json(
        200,
        format!(
            r#"{{{kind},"metadata":{{"resourceVersion":"{}"}},"items":[{items}]}}"#,
            b.rv
        ),
    )
}

/// Serve on `addr` until the returned task is aborted (which also drops
/// every open connection).
async fn serve(addr: SocketAddr, b: Arc<Behaviour>) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let b = b.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let resp = handle(&req, &b);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// Apply updates until `done` says the state is as expected.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<ClusterUpdate>,
    state: &mut ClusterState,
    what: &str,
    done: impl Fn(&ClusterState) -> bool,
) {
    let r = tokio::time::timeout(Duration::from_secs(60), async {
        while !done(state) {
            let u = rx.recv().await.expect("the watchers ended");
            state.apply(u);
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "timed out waiting for: {what}; connection {:?}",
        state.connection
    );
}

fn reason(state: &ClusterState) -> String {
    match &state.connection {
        ConnectionState::Reconnecting { reason } => reason.clone(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_expired_and_lost_server_all_recover() {
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let first = Arc::new(Behaviour {
        rv: "5",
        pods: vec!["pod-a"],
        forbid_services: AtomicBool::new(true),
        expire_configmaps_once: AtomicBool::new(true),
    });
    let server = serve(addr, first.clone()).await;
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _watchers = spawn_watchers(client, "kubetutor", tx);
    let mut state = ClusterState::new("kubetutor");

    // 403 on services: reconnecting, saying what is missing.
    until(&mut rx, &mut state, "403 reported", |s| {
        reason(s).contains("not allowed to watch services")
    })
    .await;
    until(&mut rx, &mut state, "pods listed", |s| {
        s.pod("kubetutor", "pod-a").is_some()
    })
    .await;
    // RBAC fixed: the next retry succeeds and the state says connected.
    first.forbid_services.store(false, Ordering::SeqCst);
    until(&mut rx, &mut state, "connected after 403", |s| {
        s.connection == ConnectionState::Connected
    })
    .await;
    assert!(
        !first.expire_configmaps_once.load(Ordering::SeqCst),
        "the 410 was served"
    );

    // The server goes away: reconnecting, and the view keeps what it had.
    server.abort();
    let _ = server.await;
    until(&mut rx, &mut state, "lost server reported", |s| {
        reason(s).contains("cannot reach the API server")
    })
    .await;
    assert!(state.pod("kubetutor", "pod-a").is_some());

    // It comes back with a new store and different pods: resumed watches
    // get 410 Gone, the relists repair the view (pod-a disappears, as a
    // tombstone; pod-b appears).
    let second = Arc::new(Behaviour {
        rv: "9",
        pods: vec!["pod-b"],
        forbid_services: AtomicBool::new(false),
        expire_configmaps_once: AtomicBool::new(false),
    });
    let server = serve(addr, second).await;
    until(&mut rx, &mut state, "view repaired", |s| {
        s.connection == ConnectionState::Connected
            && s.pod("kubetutor", "pod-b").is_some()
            && s.pod("kubetutor", "pod-a").is_none()
    })
    .await;
    server.abort();
}

#[tokio::test]
async fn session_reports_a_missing_namespace_and_watches() {
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = serve(
        addr,
        Arc::new(Behaviour {
            rv: "5",
            pods: vec!["pod-a"],
            forbid_services: AtomicBool::new(false),
            expire_configmaps_once: AtomicBool::new(false),
        }),
    )
    .await;
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let info = kubetutor::cluster::ConnectionInfo {
        context: "kubetutor-sandbox".into(),
        kubeconfig_path: None,
        namespace: "kubetutor".into(),
        server: format!("http://{addr}"),
        state: ConnectionState::Connected,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let session = kubetutor::cluster::Session::with_client(client, info, tx)
        .await
        .unwrap();
    assert!(!session.namespace_exists);
    let mut state = ClusterState::new("kubetutor");
    until(&mut rx, &mut state, "pods listed", |s| {
        s.pod("kubetutor", "pod-a").is_some() && s.connection == ConnectionState::Connected
    })
    .await;
    drop(session);
    server.abort();
}

#[tokio::test]
async fn doctor_reports_on_a_reachable_cluster() {
    use kubetutor::cluster::doctor::{Status, run_doctor};
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = serve(
        addr,
        Arc::new(Behaviour {
            rv: "5",
            pods: vec![],
            forbid_services: AtomicBool::new(false),
            expire_configmaps_once: AtomicBool::new(false),
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-test\nclusters:\n- name: c\n  cluster: {{server: 'http://{addr}'}}\ncontexts:\n- name: kind-test\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .unwrap();
    let opts = kubetutor::cluster::ConnectOptions {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    };
    let findings = run_doctor(&opts, Some(&dir.path().join("no-kubectl"))).await;
    let by = |c: &str| {
        findings
            .iter()
            .find(|f| f.check == c)
            .unwrap_or_else(|| panic!("no {c} in {findings:?}"))
    };
    assert_eq!(by("kubectl").status, Status::Fail);
    assert_eq!(by("kubeconfig").status, Status::Ok);
    assert!(by("cluster").detail.contains("v1.34.0"), "{findings:?}");
    assert_eq!(by("namespace").status, Status::Warn);
    assert_eq!(by("permissions").status, Status::Ok, "{findings:?}");
    assert_eq!(by("storage").status, Status::Warn);
    assert_eq!(by("nodes").detail, "1 node");
    server.abort();
}
