//! The HTTP/1.1 server on loopback: bearer-token authentication, the
//! non-resource endpoints (version, health, discovery, OpenAPI) and the
//! hand-off of resource requests to [`crate::apiserver::handlers`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apiserver::discovery;
use crate::apiserver::handlers;
use crate::apiserver::http::{self as h, Body};
use crate::apiserver::openapi;
use crate::machinery::status::ApiError;
use crate::node::podapi;
use crate::storage::store::Store;

/// Bodies above this are refused: upstream's `MaxRequestBodyBytes`.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// What every request handler needs.
pub struct Ctx {
    pub store: Store,
    /// The request pipeline writes go through.
    pub registry: crate::registry::pipeline::Registry,
    /// The watches each client holds (bounded per client).
    pub watches: Arc<crate::apiserver::watch::WatchSlots>,
    /// The data directory's layout (container layers, volumes).
    pub root: crate::hostfs::SandboxRoot,
    pub token: String,
    pub addr: SocketAddr,
    /// Running pods (logs, exec, proxy); None serves objects only.
    pub node: Option<Arc<crate::node::Node>>,
}

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts TLS connections until `cancel` fires, then stops every connection.
pub async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    ctx: Arc<Ctx>,
    cancel: CancellationToken,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                let cancel = cancel.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await else {
                        return;
                    };
                    let svc = service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(route(&ctx, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades();
                    tokio::select! {
                        _ = conn => {}
                        _ = cancel.cancelled() => {}
                    }
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(ctx: &Ctx, req: &Request<Incoming>) -> bool {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(v) = v.to_str() else { return false };
    if let Some(t) = v.strip_prefix("Bearer ") {
        return constant_time_eq(t.trim().as_bytes(), ctx.token.as_bytes());
    }
    false
}

fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "34",
        "emulationMajor": "1",
        "emulationMinor": "34",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "33",
        "gitVersion": "v1.34.0",
        "gitCommit": "kubetutor-sandbox",
        "gitTreeState": "clean",
        "buildDate": "2025-08-27T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Routes one request.
pub async fn route(ctx: &Ctx, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => return h::json(200, &version()),
        ["healthz" | "livez" | "readyz", ..] => return h::with_type(200, "text/plain", "ok"),
        _ => {}
    }
    if !authorized(ctx, &req) {
        return h::error(&ApiError::unauthorized());
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match segs.as_slice() {
        ["api"] => {
            return if discovery::wants_aggregated(&accept) {
                h::with_type(
                    200,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    serde_json::to_vec(&discovery::aggregated(true)).unwrap_or_default(),
                )
            } else {
                h::json(200, &discovery::api_versions(&ctx.addr.to_string()))
            };
        }
        ["apis"] => {
            return if discovery::wants_aggregated(&accept) {
                h::with_type(
                    200,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    serde_json::to_vec(&discovery::aggregated(false)).unwrap_or_default(),
                )
            } else {
                h::json(200, &discovery::api_group_list())
            };
        }
        ["api", v] => return found(discovery::resource_list("", v)),
        ["apis", g] => return found(discovery::api_group_doc(g)),
        ["apis", g, v] => return found(discovery::resource_list(g, v)),
        ["openapi", "v3"] => return h::json(200, &openapi::root()),
        ["openapi", "v3", "api", v] => return found(openapi::group_doc("", v)),
        ["openapi", "v3", "apis", g, v] => return found(openapi::group_doc(g, v)),
        _ => {}
    }
    let Some(target) = handlers::parse_target(&segs) else {
        return h::error(&ApiError::path_not_found());
    };
    if podapi::handles(&target) {
        if let Some(node) = &ctx.node {
            return podapi::handle(node, target, req).await;
        }
        if target.sub.as_deref() == Some("exec")
            && let (Some(ns), Some(name)) = (target.ns.clone(), target.name.clone())
        {
            return crate::node::exec::handle(&ctx.store, &ctx.root, &ns, &name, req);
        }
        return h::error(&ApiError::path_not_found());
    }
    let method = req.method().clone();
    let query = h::parse_query(req.uri().query());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return h::error(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {MAX_BODY}"),
            ));
        }
        Err(e) => {
            return h::error(&ApiError::bad_request(format!(
                "the request body could not be read: {e}"
            )));
        }
    };
    handlers::handle(
        &ctx.registry,
        target,
        handlers::Req {
            method: &method,
            query: &query,
            accept: &accept,
            content_type: &content_type,
            user_agent: &user_agent,
            client: &ctx.token,
            watches: &ctx.watches,
            body,
        },
    )
    .await
}

fn found(doc: Option<serde_json::Value>) -> Response<Body> {
    match doc {
        Some(d) => h::json(200, &d),
        None => h::error(&ApiError::path_not_found()),
    }
}
