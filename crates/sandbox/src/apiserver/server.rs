//! The HTTP/1.1 server on loopback: authentication and authorization
//! ([`crate::apiserver::auth`]), the
//! non-resource endpoints (version, health, discovery, OpenAPI) and the
//! hand-off of resource requests to [`crate::apiserver::handlers`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apiserver::auth;
use crate::apiserver::conns;
use crate::apiserver::discovery;
use crate::apiserver::handlers;
use crate::apiserver::openapi;
use crate::machinery::http::{self as h, Body};
use crate::machinery::status::ApiError;
use crate::node::podapi;
use crate::storage::store::Store;

/// Bodies above this are refused with 413, as upstream's
/// `MaxRequestBodyBytes` (3 MiB).
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
    /// Connection timeouts and caps.
    pub limits: conns::ServerLimits,
}

/// Accepts TLS connections until `cancel` fires, then stops every
/// connection. Timeouts and caps: [`crate::apiserver::conns`].
pub async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    ctx: Arc<Ctx>,
    cancel: CancellationToken,
) {
    let admitted = Arc::new(conns::Conns::new(&ctx.limits));
    let mut tasks = tokio::task::JoinSet::new();
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok((stream, peer)) => (stream, peer),
                    Err(e) => {
                        // Out of descriptors: close the oldest unproven
                        // connection, and pause rather than spin.
                        if conns::out_of_resources(&e) {
                            admitted.make_room();
                        }
                        failures = failures.saturating_add(1);
                        tokio::select! {
                            _ = tokio::time::sleep(conns::backoff(failures)) => {}
                            _ = cancel.cancelled() => break,
                        }
                        continue;
                    }
                };
                failures = 0;
                let Some(ticket) = admitted.admit() else { continue };
                let _ = stream.set_nodelay(true);
                tasks.spawn(connection(stream, peer, tls.clone(), ctx.clone(), ticket, cancel.clone()));
            }
            // Reap finished connections so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// One connection: TLS, then HTTP/1.1 until it closes, is evicted or the
/// server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    tls: tokio_rustls::TlsAcceptor,
    ctx: Arc<Ctx>,
    ticket: conns::Ticket,
    cancel: CancellationToken,
) {
    let stream = tokio::select! {
        s = tokio::time::timeout(ctx.limits.handshake_timeout, tls.accept(stream)) => match s {
            Ok(Ok(s)) => s,
            _ => return,
        },
        _ = ticket.evicted().cancelled() => return,
        _ = cancel.cancelled() => return,
    };
    let evicted = ticket.evicted().clone();
    let header_read_timeout = ctx.limits.header_read_timeout;
    let svc = service_fn(move |mut req: Request<Incoming>| {
        let ctx = ctx.clone();
        if auth::authenticate(&ctx.store, &ctx.token, req.headers()).is_some() {
            ticket.prove();
        }
        // Streaming sessions are counted per client.
        req.extensions_mut()
            .insert(crate::node::sessions::ClientAddr(peer));
        async move { Ok::<_, Infallible>(route(&ctx, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        _ = evicted.cancelled() => {}
        _ = cancel.cancelled() => {}
    }
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
    let Some(user) = auth::authenticate(&ctx.store, &ctx.token, req.headers()) else {
        return h::error(&ApiError::unauthorized());
    };
    let target = handlers::parse_target(&segs);
    if target.is_none()
        && let Err(e) = auth::authorize_path(&ctx.store, &user, req.method(), &path)
    {
        return h::error(&e);
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
        ["openapi", "v2"] => return openapi::v2(req.headers()),
        ["openapi", "v3"] => return openapi::v3_root(req.headers()),
        ["openapi", "v3", gv @ ..] => {
            return openapi::v3_doc(&gv.join("/"), req.uri().query(), req.headers())
                .unwrap_or_else(|| h::error(&ApiError::path_not_found()));
        }
        _ => {}
    }
    let Some(target) = target else {
        return h::error(&ApiError::path_not_found());
    };
    if let Err(e) = auth::authorize(&ctx.store, &user, &target, req.method(), req.uri().query()) {
        return h::error(&e);
    }
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
    let read = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(ctx.limits.body_read_timeout, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            return h::error(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {MAX_BODY}"),
            ));
        }
        Ok(Err(e)) => {
            return h::error(&ApiError::bad_request(format!(
                "the request body could not be read: {e}"
            )));
        }
        Err(_) => {
            return h::error(&ApiError::new(
                504,
                "Timeout",
                "Timeout: request did not complete within the allotted timeout",
            ));
        }
    };
    if let Some(r) = auth::respond(
        &ctx.store,
        &ctx.token,
        &user,
        &target,
        &method,
        &content_type,
        &body,
    ) {
        return r;
    }
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
