//! PostgREST 12.2.3 (`postgrest/postgrest`), emulated: the HTTP API over
//! the tables of a PostgreSQL database that lessons 6 and 7 put in front of
//! the emulated PostgreSQL. Configuration from `PGRST_*` and the libpq
//! variables, the startup and reconnection log lines, the admin server's
//! `/live` and `/ready`, `GET`/`POST`/`PATCH`/`DELETE` on tables with the
//! usual filters, and PostgreSQL errors relayed with PostgREST's status
//! codes and JSON. It reaches the database over the wire protocol through
//! the pod's network, so a database pod that goes away is a lost
//! connection, and a changed password is a refused login.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value as J;
use tokio::task::JoinSet;

use super::{AppContext, EmulatedApp, LogSink, Stop};
use crate::network::podnet::PodNetwork;
use pgemu::clients::{self, ConnectFailure, Target};
use pgemu::sql::SqlType;
use pgemu::wire::{Client, Reply, ServerMessage};

const VERSION: &str = "12.2.3";
const MAX_BODY: usize = 1024 * 1024;

pub struct Postgrest;

impl EmulatedApp for Postgrest {
    fn name(&self) -> &'static str {
        "postgrest"
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(ctx, stop))
    }
}

/// PostgREST's configuration, from the environment.
#[derive(Debug, Clone)]
struct Conf {
    target: Target,
    anon_role: Option<String>,
    schema: String,
    server_port: u16,
    admin_port: Option<u16>,
    /// `error` (default), `warn`, `info`, `debug`: which requests are logged.
    log_level: String,
    channel: String,
}

impl Conf {
    fn from_env(ctx: &AppContext) -> Result<Conf, String> {
        let var = |k: &str| ctx.env_var(k).filter(|v| !v.is_empty()).map(str::to_string);
        let mut target = Target {
            host: var("PGHOST"),
            port: var("PGPORT").and_then(|p| p.parse().ok()).unwrap_or(5432),
            user: var("PGUSER").unwrap_or_else(|| "postgres".into()),
            database: var("PGDATABASE").unwrap_or_default(),
            password: var("PGPASSWORD"),
        };
        let uri = var("PGRST_DB_URI").unwrap_or_else(|| "postgresql://".into());
        apply_uri(&uri, &mut target)?;
        if target.database.is_empty() {
            target.database = target.user.clone();
        }
        let port = |k: &str, default: Option<u16>| -> Result<Option<u16>, String> {
            match var(k) {
                None => Ok(default),
                Some(v) => v.parse().map(Some).map_err(|_| {
                    format!("Error in config: {k}: could not parse \"{v}\" as a port number")
                }),
            }
        };
        Ok(Conf {
            target,
            anon_role: var("PGRST_DB_ANON_ROLE"),
            schema: var("PGRST_DB_SCHEMAS")
                .or_else(|| var("PGRST_DB_SCHEMA"))
                .map(|s| s.split(',').next().unwrap_or("public").trim().to_string())
                .unwrap_or_else(|| "public".into()),
            server_port: port("PGRST_SERVER_PORT", Some(3000))?.unwrap_or(3000),
            admin_port: port("PGRST_ADMIN_SERVER_PORT", None)?,
            log_level: var("PGRST_LOG_LEVEL").unwrap_or_else(|| "error".into()),
            channel: var("PGRST_DB_CHANNEL").unwrap_or_else(|| "pgrst".into()),
        })
    }
}

/// Reads a `postgresql://user:pass@host:port/db` URI (or a `key=value`
/// connection string) over the libpq defaults.
fn apply_uri(uri: &str, t: &mut Target) -> Result<(), String> {
    let rest = uri
        .strip_prefix("postgresql://")
        .or_else(|| uri.strip_prefix("postgres://"));
    let Some(rest) = rest else {
        for pair in uri.split_whitespace() {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(format!(
                    "missing \"=\" after \"{pair}\" in connection info string"
                ));
            };
            let v = v.trim_matches('\'').to_string();
            match k {
                "host" => t.host = Some(v),
                "port" => t.port = v.parse().unwrap_or(5432),
                "user" => t.user = v,
                "password" => t.password = Some(v),
                "dbname" => t.database = v,
                _ => {}
            }
        }
        return Ok(());
    };
    let rest = rest.split('?').next().unwrap_or("");
    let (auth, hostpart) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    if let Some(a) = auth {
        match a.split_once(':') {
            Some((u, p)) => {
                t.user = percent_decode(u);
                t.password = Some(percent_decode(p));
            }
            None => t.user = percent_decode(a),
        }
    }
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    if !db.is_empty() {
        t.database = percent_decode(db);
    }
    if !hostport.is_empty() {
        match hostport.rsplit_once(':') {
            Some((h, p)) => {
                t.host = Some(h.to_string());
                t.port = p
                    .parse()
                    .map_err(|_| format!("invalid port number: \"{p}\""))?;
            }
            None => t.host = Some(hostport.to_string()),
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A table as the schema cache knows it.
#[derive(Debug, Clone)]
struct CachedTable {
    columns: Vec<String>,
}

/// Everything the request handlers and the connection worker share.
struct State {
    conf: Conf,
    network: PodNetwork,
    log: LogSink,
    /// The schema cache: tables of the exposed schema, by name.
    cache: Mutex<Option<BTreeMap<String, CachedTable>>>,
    /// The listener connection is up (what `/ready` reports with the cache).
    connected: AtomicBool,
    /// The connection requests use (one at a time).
    pool: Arc<Mutex<Option<Client>>>,
}

/// `04/Dec/2026:13:00:00 +0000: ` prefixed lines, as PostgREST logs.
fn log(state_log: &LogSink, message: &str) {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    state_log(&format!(
        "{}: {message}",
        now.strftime("%d/%b/%Y:%H:%M:%S %z")
    ));
}

async fn run(ctx: AppContext, mut stop: Stop) -> i32 {
    let conf = match Conf::from_env(&ctx) {
        Ok(c) => c,
        Err(e) => {
            ctx.log(&e);
            return 1;
        }
    };
    let state = Arc::new(State {
        network: ctx.network.clone(),
        log: Arc::clone(&ctx.log),
        cache: Mutex::new(None),
        connected: AtomicBool::new(false),
        pool: Arc::new(Mutex::new(None)),
        conf,
    });
    log(&state.log, &format!("Starting PostgREST {VERSION}..."));
    let mut admin = None;
    if let Some(port) = state.conf.admin_port {
        match ctx.netns.bind(&ctx.pod_uid, &ctx.container, port).await {
            Ok(mut b) => {
                admin = b.take_listener().map(|l| (l, b));
                log(
                    &state.log,
                    &format!("Admin server listening on port {port}"),
                );
            }
            Err(e) => {
                log(
                    &state.log,
                    &format!("Network.Socket.bind: resource busy (Address in use) {e}"),
                );
                return 1;
            }
        }
    }
    let port = state.conf.server_port;
    let mut bound = match ctx.netns.bind(&ctx.pod_uid, &ctx.container, port).await {
        Ok(b) => b,
        Err(_) => {
            log(
                &state.log,
                "Network.Socket.bind: resource busy (Address in use)",
            );
            return 1;
        }
    };
    let Some(listener) = bound.take_listener() else {
        return 1;
    };
    log(&state.log, &format!("Listening on port {port}"));

    let worker_state = Arc::clone(&state);
    let worker_stop = stop.clone();
    let mut worker = tokio::spawn(connection_worker(worker_state, worker_stop));
    let mut connections = JoinSet::new();
    let (admin_listener, _admin_bound) = match admin {
        Some((l, b)) => (Some(l), Some(b)),
        None => (None, None),
    };
    let code = loop {
        tokio::select! {
            () = stop.wait() => break crate::images::EXIT_TERMINATED,
            code = &mut worker => {
                // The worker only ends on a refused login: PostgREST exits.
                break code.unwrap_or(1);
            }
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(state, req, peer).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            accepted = async {
                match &admin_listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => {
                let Ok((stream, _)) = accepted else { continue };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(admin_handle(state, req)) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    worker.abort();
    if let Ok(mut pool) = state.pool.lock()
        && let Some(c) = pool.take()
    {
        c.close();
    }
    drop(bound);
    code
}

/// A PostgREST error document (keys in aeson's alphabetical order).
fn error_json(code: &str, details: Option<&str>, hint: Option<&str>, message: &str) -> String {
    let s =
        |v: Option<&str>| v.map_or("null".to_string(), |t| J::String(t.to_string()).to_string());
    format!(
        "{{\"code\":{},\"details\":{},\"hint\":{},\"message\":{}}}",
        J::String(code.to_string()),
        s(details),
        s(hint),
        J::String(message.to_string())
    )
}

/// The JSON PostgREST logs after "Failed to ...".
fn connection_error_json(details: &str) -> String {
    error_json(
        "PGRST000",
        Some(&format!("{details}\n")),
        None,
        "Database connection error. Retrying the connection.",
    )
}

/// Keeps a listening connection to the database: connects with back-off,
/// loads the schema cache, reloads it on `NOTIFY pgrst`. Returns only when
/// the database refuses the login (PostgREST then exits with 1).
async fn connection_worker(state: Arc<State>, mut stop: Stop) -> i32 {
    let mut delay = 1u64;
    loop {
        let client = match connect_listener(&state).await {
            Ok(c) => c,
            Err(Some(code)) => return code,
            Err(None) => {
                log(
                    &state.log,
                    &format!("Attempting to reconnect to the database in {delay} seconds..."),
                );
                if !sleep_or_stop(Duration::from_secs(delay), &mut stop).await {
                    return 0;
                }
                delay = (delay * 2).min(32);
                continue;
            }
        };
        delay = 1;
        let client = match start_listening(&state, client).await {
            Ok(c) => c,
            Err(Some(code)) => return code,
            Err(None) => {
                if !sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                    return 0;
                }
                continue;
            }
        };
        state.connected.store(true, Ordering::Relaxed);
        let broke = match listen(&state, client, &mut stop).await {
            Ok(broke) => broke,
            Err(code) => return code,
        };
        state.connected.store(false, Ordering::Relaxed);
        if let Ok(mut pool) = state.pool.lock() {
            *pool = None;
        }
        log(
            &state.log,
            &format!(
                "Failed listening for notifications on the \"{}\" channel. {broke}",
                state.conf.channel
            ),
        );
        log(
            &state.log,
            &format!("Retrying listening for notifications in {delay} seconds..."),
        );
        if !sleep_or_stop(Duration::from_secs(delay), &mut stop).await {
            return 0;
        }
    }
}

/// Opens the listener connection. `Err(Some(code))`: PostgREST exits
/// (the login was refused); `Err(None)`: the database is unreachable,
/// retry later (what PostgREST logs then is logged).
async fn connect_listener(state: &State) -> Result<Client, Option<i32>> {
    let target = state.conf.target.clone();
    let network = state.network.clone();
    let connected = tokio::task::spawn_blocking(move || {
        clients::connect(
            &target,
            Some(&network),
            &format!("PostgREST {VERSION}"),
            Duration::from_secs(5),
        )
    })
    .await;
    let (msg, failure) = match connected {
        Ok(Ok(c)) => return Ok(c),
        Ok(Err(e)) => e,
        Err(_) => return Err(Some(1)),
    };
    let json = connection_error_json(&msg);
    if failure == ConnectFailure::Answered {
        log(
            &state.log,
            &format!("Failed to establish a connection. {json}"),
        );
        return Err(Some(1));
    }
    for line in [
        format!("Failed to query the PostgreSQL version. {json}"),
        format!("Failed to query database settings for the config parameters.{json}"),
        format!("Failed to query the role settings. {json}"),
        "Config reloaded".to_string(),
        format!("Failed to load the schema cache. {json}"),
    ] {
        log(&state.log, &line);
    }
    if let Ok(mut c) = state.cache.lock() {
        *c = None;
    }
    Err(None)
}

/// The version, `LISTEN` and the schema cache on the listener connection.
/// `Err(None)`: the version query failed, retry in a second.
async fn start_listening(state: &State, mut client: Client) -> Result<Client, Option<i32>> {
    let channel = state.conf.channel.clone();
    let schema = state.conf.schema.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let version = first_value(client.simple_query("SELECT version()"));
        let listen = client.simple_query(&format!("LISTEN \"{}\"", channel.replace('"', "")));
        let started = Instant::now();
        let cache = load_cache(&mut client, &schema);
        (client, version, listen.is_ok(), cache, started.elapsed())
    })
    .await;
    let Ok((client, version, listening, cache, took)) = loaded else {
        return Err(Some(1));
    };
    let Some(version) = version else {
        log(
            &state.log,
            "Failed to query the PostgreSQL version. {\"code\":\"PGRST001\",\"details\":null,\"hint\":null,\"message\":\"Database client error. Retrying the connection.\"}",
        );
        return Err(None);
    };
    log(&state.log, &format!("Successfully connected to {version}"));
    if listening {
        log(
            &state.log,
            &format!(
                "Listening for notifications on the \"{}\" channel",
                state.conf.channel
            ),
        );
    }
    log(&state.log, "Config reloaded");
    report_cache(state, cache, took);
    Ok(client)
}

/// Waits for notifications until the connection breaks (`Ok`: why) or
/// PostgREST stops (`Err`: its exit code).
async fn listen(state: &State, mut client: Client, stop: &mut Stop) -> Result<String, i32> {
    loop {
        let waited = tokio::task::spawn_blocking(move || {
            let r = client.wait_notification(Duration::from_millis(500));
            (client, r)
        });
        let (c, r) = tokio::select! {
            () = stop.wait() => return Err(0),
            w = waited => match w { Ok(x) => x, Err(_) => return Err(1) },
        };
        client = c;
        let n = match r {
            Ok(None) => continue,
            Ok(Some(n)) => n,
            Err(e) => return Ok(e.to_string()),
        };
        let channel = &state.conf.channel;
        if n.payload.is_empty() || n.payload == "reload schema" {
            log(
                &state.log,
                &format!("Received a schema cache reload message on the \"{channel}\" channel"),
            );
            client = reload_schema(state, client).await.ok_or(1)?;
        } else if n.payload == "reload config" {
            log(
                &state.log,
                &format!("Received a config reload message on the \"{channel}\" channel"),
            );
            log(&state.log, "Config reloaded");
        }
    }
}

/// `NOTIFY pgrst, 'reload schema'`: the version and the cache again.
async fn reload_schema(state: &State, mut client: Client) -> Option<Client> {
    let schema = state.conf.schema.clone();
    let (client, version, cache, took) = tokio::task::spawn_blocking(move || {
        let version = first_value(client.simple_query("SELECT version()"));
        let started = Instant::now();
        let cache = load_cache(&mut client, &schema);
        (client, version, cache, started.elapsed())
    })
    .await
    .ok()?;
    if let Some(v) = version {
        log(&state.log, &format!("Successfully connected to {v}"));
    }
    log(&state.log, "Config reloaded");
    report_cache(state, cache, took);
    Some(client)
}

async fn sleep_or_stop(d: Duration, stop: &mut Stop) -> bool {
    tokio::select! {
        () = stop.wait() => false,
        () = tokio::time::sleep(d) => true,
    }
}

fn first_value(replies: std::io::Result<Vec<Reply>>) -> Option<String> {
    replies.ok()?.into_iter().find_map(|r| match r {
        Reply::Rows { rows, .. } => rows.into_iter().next()?.into_iter().next()?,
        _ => None,
    })
}

fn load_cache(client: &mut Client, schema: &str) -> Option<BTreeMap<String, CachedTable>> {
    let q = format!(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{}' ORDER BY table_name, ordinal_position",
        schema.replace('\'', "''")
    );
    let replies = client.simple_query(&q).ok()?;
    let mut tables: BTreeMap<String, CachedTable> = BTreeMap::new();
    for r in replies {
        if let Reply::Rows { rows, .. } = r {
            for row in rows {
                let (Some(Some(t)), Some(Some(c))) = (row.first().cloned(), row.get(1).cloned())
                else {
                    continue;
                };
                tables
                    .entry(t)
                    .or_insert_with(|| CachedTable {
                        columns: Vec::new(),
                    })
                    .columns
                    .push(c);
            }
        }
    }
    Some(tables)
}

fn report_cache(state: &State, cache: Option<BTreeMap<String, CachedTable>>, took: Duration) {
    let Some(cache) = cache else {
        log(
            &state.log,
            &format!(
                "Failed to load the schema cache. {}",
                error_json(
                    "PGRST001",
                    None,
                    None,
                    "Database client error. Retrying the connection."
                )
            ),
        );
        return;
    };
    log(
        &state.log,
        &format!(
            "Schema cache queried in {:.1} milliseconds",
            took.as_secs_f64() * 1000.0
        ),
    );
    log(
        &state.log,
        &format!(
            "Schema cache loaded {} Relations, 0 Relationships, 0 Functions, 0 Domain Representations, 4 Media Type Handlers, 1192 Timezones",
            cache.len()
        ),
    );
    if let Ok(mut c) = state.cache.lock() {
        *c = Some(cache);
    }
}

fn admin_handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let status = match req.uri().path() {
        "/live" => StatusCode::OK,
        "/ready" => {
            let loaded = state.cache.lock().map(|c| c.is_some()).unwrap_or(false);
            if loaded && state.connected.load(Ordering::Relaxed) {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
        _ => StatusCode::NOT_FOUND,
    };
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// An HTTP answer being built.
struct Answer {
    status: StatusCode,
    body: String,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn error(status: StatusCode, json: String) -> Answer {
        Answer {
            status,
            body: json,
            headers: vec![("content-type", "application/json; charset=utf-8".into())],
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let answer = route(&state, &method, &uri, &headers, &body).await;
    if answer.status.as_u16() >= 500
        || matches!(state.conf.log_level.as_str(), "info" | "debug")
        || (state.conf.log_level == "warn" && answer.status.as_u16() >= 400)
    {
        let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let role = state.conf.anon_role.clone().unwrap_or_else(|| "-".into());
        (state.log)(&format!(
            "{} - {role} [{}] \"{method} {} HTTP/1.1\" {} - \"\" \"{agent}\"",
            peer.ip(),
            now.strftime("%d/%b/%Y:%H:%M:%S %z"),
            uri.path_and_query().map_or("/", |p| p.as_str()),
            answer.status.as_u16()
        ));
    }
    let mut r = Response::new(Full::new(Bytes::from(answer.body)));
    *r.status_mut() = answer.status;
    for (k, v) in answer.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("postgrest/12.2.3"));
    r
}

/// One request: the schema cache and the anonymous role must be there;
/// `/` is the OpenAPI document, `/<table>` a statement for the method, run
/// as the anonymous role in a transaction and answered as PostgREST.
async fn route(
    state: &Arc<State>,
    method: &Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Answer {
    let path = uri.path().trim_end_matches('/');
    let table = path.trim_start_matches('/').to_string();
    let cache = state.cache.lock().ok().and_then(|c| c.clone());
    let Some(cache) = cache else {
        return unavailable(
            "PGRST002",
            None,
            "Could not query the database for the schema cache. Retrying.",
        );
    };
    if table.is_empty() {
        return openapi(state, &cache);
    }
    if table.contains('/') {
        return Answer::error(StatusCode::NOT_FOUND, "{}".into());
    }
    let Some(role) = state.conf.anon_role.clone() else {
        return Answer {
            headers: vec![
                ("content-type", "application/json; charset=utf-8".into()),
                ("www-authenticate", "Bearer".into()),
            ],
            ..Answer::error(
                StatusCode::UNAUTHORIZED,
                error_json("PGRST302", None, None, "Anonymous access is disabled"),
            )
        };
    };
    let query = parse_query(uri.query().unwrap_or(""));
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let target = TableRequest {
        table: &table,
        qualified: format!(
            "\"{}\".\"{}\"",
            state.conf.schema.replace('"', ""),
            table.replace('"', "")
        ),
        representation: prefer.contains("return=representation"),
    };
    let (filters, select, order, limit, offset) = match build_clauses(&query) {
        Ok(c) => c,
        Err(a) => return a,
    };
    let sql = match *method {
        Method::GET | Method::HEAD => Ok(select_sql(
            &target, &select, &filters, &order, limit, offset,
        )),
        Method::POST => insert_sql(&target, &cache, headers, body),
        Method::PATCH => update_sql(&target, &filters, headers, body),
        Method::DELETE => Ok(delete_sql(&target, &filters)),
        _ => Err(Answer::error(
            StatusCode::METHOD_NOT_ALLOWED,
            error_json(
                "PGRST117",
                None,
                None,
                &format!("Unsupported HTTP method: {method}"),
            ),
        )),
    };
    let sql = match sql {
        Ok(sql) => sql,
        Err(a) => return a,
    };
    let script = format!(
        "BEGIN; SET LOCAL ROLE \"{}\"; {sql}; COMMIT",
        role.replace('"', "")
    );
    match run_sql(state, script).await {
        Ok(replies) => respond(method, uri, target.representation, &replies),
        Err(details) => unavailable(
            "PGRST000",
            Some(&details),
            "Database connection error. Retrying the connection.",
        ),
    }
}

/// A 503 that says to retry at once.
fn unavailable(code: &str, details: Option<&str>, message: &str) -> Answer {
    Answer {
        headers: vec![
            ("content-type", "application/json; charset=utf-8".into()),
            ("retry-after", "0".into()),
        ],
        ..Answer::error(
            StatusCode::SERVICE_UNAVAILABLE,
            error_json(code, details, None, message),
        )
    }
}

/// The table a request is about.
struct TableRequest<'a> {
    table: &'a str,
    /// `"schema"."table"`.
    qualified: String,
    /// `Prefer: return=representation`.
    representation: bool,
}

/// `GET`: a SELECT with the filters, order, limit and offset.
fn select_sql(
    t: &TableRequest<'_>,
    select: &str,
    filters: &[String],
    order: &[String],
    limit: Option<u64>,
    offset: Option<u64>,
) -> String {
    let mut sql = format!("SELECT {select} FROM {}", t.qualified);
    if !filters.is_empty() {
        sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
    }
    if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    if let Some(l) = limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    if let Some(o) = offset {
        sql.push_str(&format!(" OFFSET {o}"));
    }
    sql
}

/// `POST`: an INSERT of the body's rows, which must all have the same
/// keys, all columns of the table.
fn insert_sql(
    t: &TableRequest<'_>,
    cache: &BTreeMap<String, CachedTable>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<String, Answer> {
    let Some(cached) = cache.get(t.table) else {
        return Err(Answer::error(StatusCode::NOT_FOUND, "{}".into()));
    };
    let rows = payload(headers, body)?;
    let Some(first) = rows.first() else {
        return Err(Answer {
            status: StatusCode::CREATED,
            body: String::new(),
            headers: vec![("content-range", "*/*".into())],
        });
    };
    let keys: Vec<String> = first.keys().cloned().collect();
    if rows
        .iter()
        .any(|r| r.keys().cloned().collect::<Vec<_>>() != keys)
    {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            error_json("PGRST102", None, None, "All object keys must match"),
        ));
    }
    if let Some(bad) = keys.iter().find(|k| !cached.columns.contains(k)) {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            error_json(
                "PGRST204",
                None,
                None,
                &format!(
                    "Could not find the '{bad}' column of '{}' in the schema cache",
                    t.table
                ),
            ),
        ));
    }
    let qualified = &t.qualified;
    let mut sql = if keys.is_empty() {
        format!("INSERT INTO {qualified} DEFAULT VALUES")
    } else {
        let cols: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", k.replace('"', "")))
            .collect();
        let values: Vec<String> = rows
            .iter()
            .map(|r| {
                let vals: Vec<String> = keys
                    .iter()
                    .map(|k| literal(r.get(k).unwrap_or(&J::Null)))
                    .collect();
                format!("({})", vals.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {qualified} ({}) VALUES {}",
            cols.join(", "),
            values.join(", ")
        )
    };
    if t.representation {
        sql.push_str(" RETURNING *");
    }
    Ok(sql)
}

/// `PATCH`: an UPDATE of the filtered rows with the body's first object.
fn update_sql(
    t: &TableRequest<'_>,
    filters: &[String],
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<String, Answer> {
    let rows = payload(headers, body)?;
    let Some(obj) = rows.into_iter().next().filter(|o| !o.is_empty()) else {
        return Err(Answer {
            status: StatusCode::NO_CONTENT,
            body: String::new(),
            headers: vec![("content-range", "*/*".into())],
        });
    };
    let sets: Vec<String> = obj
        .iter()
        .map(|(k, v)| format!("\"{}\" = {}", k.replace('"', ""), literal(v)))
        .collect();
    let mut sql = format!("UPDATE {} SET {}", t.qualified, sets.join(", "));
    if !filters.is_empty() {
        sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
    }
    if t.representation {
        sql.push_str(" RETURNING *");
    }
    Ok(sql)
}

/// `DELETE`: the filtered rows.
fn delete_sql(t: &TableRequest<'_>, filters: &[String]) -> String {
    let mut sql = format!("DELETE FROM {}", t.qualified);
    if !filters.is_empty() {
        sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
    }
    if t.representation {
        sql.push_str(" RETURNING *");
    }
    sql
}

/// The answer to a statement that ran: a database error as PostgREST
/// maps it, or the rows, `Content-Range` and status of the method.
fn respond(method: &Method, uri: &http::Uri, representation: bool, replies: &[Reply]) -> Answer {
    if let Some(e) = replies.iter().find_map(|r| match r {
        Reply::Error(m) => Some(m.clone()),
        _ => None,
    }) {
        return db_error(&e);
    }
    let (rows_json, count) = replies
        .iter()
        .find_map(|r| match r {
            Reply::Rows { columns, rows, tag } if tag != "SET" => {
                Some((json_agg(columns, rows), rows.len()))
            }
            _ => None,
        })
        .unwrap_or_else(|| ("[]".to_string(), 0));
    let affected = replies
        .iter()
        .find_map(|r| match r {
            Reply::Command(tag) | Reply::Rows { tag, .. }
                if tag.starts_with("UPDATE")
                    || tag.starts_with("DELETE")
                    || tag.starts_with("INSERT") =>
            {
                tag.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok())
            }
            _ => None,
        })
        .unwrap_or(count);
    let range = |n: usize| {
        if n == 0 {
            "*/*".to_string()
        } else {
            format!("0-{}/*", n - 1)
        }
    };
    let json_headers = |extra: Vec<(&'static str, String)>| {
        let mut h = vec![(
            "content-type",
            "application/json; charset=utf-8".to_string(),
        )];
        h.extend(extra);
        h
    };
    let (status, representation_range, empty_status) = match *method {
        Method::GET | Method::HEAD => {
            return Answer {
                status: StatusCode::OK,
                body: if *method == Method::HEAD {
                    String::new()
                } else {
                    rows_json
                },
                headers: json_headers(vec![
                    ("content-range", range(count)),
                    (
                        "content-location",
                        uri.path_and_query()
                            .map_or(uri.path().to_string(), |p| p.as_str().to_string()),
                    ),
                ]),
            };
        }
        Method::POST => (StatusCode::CREATED, "*/*".to_string(), StatusCode::CREATED),
        _ => (StatusCode::OK, range(affected), StatusCode::NO_CONTENT),
    };
    if representation {
        Answer {
            status,
            body: rows_json,
            headers: json_headers(vec![
                ("content-range", representation_range),
                ("preference-applied", "return=representation".into()),
            ]),
        }
    } else {
        Answer {
            status: empty_status,
            body: String::new(),
            headers: vec![("content-range", representation_range)],
        }
    }
}

/// Runs a script on the request connection (connecting if needed); the
/// error is libpq's message when the database cannot be reached.
async fn run_sql(state: &Arc<State>, script: String) -> Result<Vec<Reply>, String> {
    let pool = Arc::clone(&state.pool);
    let target = state.conf.target.clone();
    let network = state.network.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = pool.lock().map_err(|_| "connection pool unavailable".to_string())?;
        if guard.is_none() {
            let c = clients::connect(&target, Some(&network), &format!("PostgREST {VERSION}"), Duration::from_secs(5))
                .map_err(|(msg, _)| msg)?;
            *guard = Some(c);
        }
        let Some(client) = guard.as_mut() else {
            return Err("no connection".to_string());
        };
        client.set_timeout(Some(Duration::from_secs(30)));
        match client.simple_query(&script) {
            Ok(replies) => {
                let failed = replies.iter().any(|r| matches!(r, Reply::Error(_)));
                if failed {
                    let _ = client.simple_query("ROLLBACK");
                }
                Ok(replies)
            }
            Err(e) => {
                *guard = None;
                Err(format!("{e}\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request."))
            }
        }
    })
    .await
    .map_err(|_| "the request was interrupted".to_string())?
}

/// PostgREST's HTTP status for a PostgreSQL error (`pgErrorStatus`), for
/// an anonymous request.
fn db_error(m: &ServerMessage) -> Answer {
    let code = m.code.as_str();
    let status = match code {
        c if c.starts_with("08") => 503,
        c if c.starts_with("09") => 500,
        c if c.starts_with("0L") || c.starts_with("0P") => 403,
        "23503" | "23505" => 409,
        "25006" => 405,
        "21000" => 500,
        "57P01" => 503,
        c if c.starts_with("53") && c != "53400" => 503,
        c if [
            "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "XX",
        ]
        .iter()
        .any(|p| c.starts_with(p)) =>
        {
            500
        }
        "42P17" | "53400" => 500,
        "P0001" => 400,
        c if c.starts_with("P0") => 500,
        c if c.starts_with("28") => 403,
        "42883" | "42P01" => 404,
        "42501" => 401,
        _ => 400,
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut a = Answer::error(
        status,
        error_json(code, m.detail.as_deref(), m.hint.as_deref(), &m.message),
    );
    if status == StatusCode::UNAUTHORIZED {
        a.headers.push(("www-authenticate", "Bearer".into()));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        a.headers.push(("retry-after", "0".into()));
    }
    a
}

/// `json_agg` output: rows joined by `", \n "`, keys in column order.
fn json_agg(columns: &[(String, u32)], rows: &[Vec<Option<String>>]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (name, oid))| {
                    let v = row.get(i).cloned().flatten();
                    format!(
                        "{}:{}",
                        J::String(name.clone()),
                        to_json(v.as_deref(), *oid)
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    format!("[{}]", objects.join(", \n "))
}

/// A column's text value as `to_json` renders it.
fn to_json(v: Option<&str>, oid: u32) -> String {
    let Some(v) = v else { return "null".into() };
    match SqlType::from_oid(oid) {
        SqlType::Bool => (v == "t").to_string(),
        SqlType::Int2
        | SqlType::Int4
        | SqlType::Int8
        | SqlType::Oid
        | SqlType::Float4
        | SqlType::Float8
        | SqlType::Numeric => {
            if v.parse::<f64>().is_ok_and(f64::is_finite) {
                v.to_string()
            } else {
                J::String(v.to_string()).to_string()
            }
        }
        SqlType::Json | SqlType::Jsonb => v.to_string(),
        SqlType::Timestamptz => {
            let iso = v.replacen(' ', "T", 1);
            let iso = match iso.rfind(['+', '-']) {
                Some(i) if i > 10 && iso.len() - i == 3 => format!("{iso}:00"),
                _ => iso,
            };
            J::String(iso).to_string()
        }
        SqlType::Timestamp => J::String(v.replacen(' ', "T", 1)).to_string(),
        _ => J::String(v.to_string()).to_string(),
    }
}

/// A JSON value as an SQL literal for an INSERT or UPDATE.
fn literal(v: &J) -> String {
    match v {
        J::Null => "NULL".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

type Row = serde_json::Map<String, J>;

/// The request body as rows: JSON (object or array), or a form.
fn payload(headers: &http::HeaderMap, body: &[u8]) -> Result<Vec<Row>, Answer> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ctype.as_str() {
        "application/json" | "" => {
            let invalid = || {
                Answer::error(
                    StatusCode::BAD_REQUEST,
                    error_json("PGRST102", None, None, "Empty or invalid json"),
                )
            };
            let v: J = serde_json::from_slice(body).map_err(|_| invalid())?;
            match v {
                J::Object(o) => Ok(vec![o]),
                J::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        J::Object(o) => Ok(o),
                        _ => Err(invalid()),
                    })
                    .collect(),
                _ => Err(invalid()),
            }
        }
        "application/x-www-form-urlencoded" => {
            // The whole text of `curl -d '{"name": ...}'` becomes one key.
            let text = String::from_utf8_lossy(body);
            let mut row = Row::new();
            for pair in text.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = percent_decode(&k.replace('+', " "));
                let v = percent_decode(&v.replace('+', " "));
                row.insert(k, J::String(v));
            }
            Ok(vec![row])
        }
        other => Err(Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error_json(
                "PGRST107",
                None,
                None,
                &format!("Content-Type not acceptable: {other}"),
            ),
        )),
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

type Clauses = (Vec<String>, String, Vec<String>, Option<u64>, Option<u64>);

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', ""))
}

/// Filters, select list, order, limit and offset from the query string.
fn build_clauses(query: &[(String, String)]) -> Result<Clauses, Answer> {
    let mut filters = Vec::new();
    let mut select = "*".to_string();
    let mut order = Vec::new();
    let mut limit = None;
    let mut offset = None;
    let bad = |what: &str, detail: &str| {
        Answer::error(
            StatusCode::BAD_REQUEST,
            error_json(
                "PGRST100",
                Some(detail),
                None,
                &format!("\"failed to parse {what}\" (line 1, column 1)"),
            ),
        )
    };
    for (k, v) in query {
        match k.as_str() {
            "select" => {
                let cols: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        if c == "*" {
                            "*".to_string()
                        } else if let Some((alias, col)) = c.split_once(':') {
                            format!("{} AS {}", ident(col), ident(alias))
                        } else {
                            ident(c)
                        }
                    })
                    .collect();
                if !cols.is_empty() {
                    select = cols.join(", ");
                }
            }
            "order" => {
                for part in v.split(',').filter(|p| !p.is_empty()) {
                    let mut bits = part.split('.');
                    let col = ident(bits.next().unwrap_or(""));
                    let mut item = col;
                    for b in bits {
                        match b {
                            "asc" => item.push_str(" ASC"),
                            "desc" => item.push_str(" DESC"),
                            "nullsfirst" => item.push_str(" NULLS FIRST"),
                            "nullslast" => item.push_str(" NULLS LAST"),
                            other => {
                                return Err(bad(
                                    &format!("order ({v})"),
                                    &format!("unexpected \"{other}\""),
                                ));
                            }
                        }
                    }
                    order.push(item);
                }
            }
            "limit" => {
                limit = Some(
                    v.parse()
                        .map_err(|_| bad(&format!("limit ({v})"), "expecting digit"))?,
                )
            }
            "offset" => {
                offset = Some(
                    v.parse()
                        .map_err(|_| bad(&format!("offset ({v})"), "expecting digit"))?,
                )
            }
            "columns" | "on_conflict" => {}
            col => filters.push(
                filter(col, v)
                    .ok_or_else(|| bad(&format!("filter ({v})"), "unexpected operator"))?,
            ),
        }
    }
    Ok((filters, select, order, limit, offset))
}

/// `col=op.value` as an SQL condition.
fn filter(col: &str, spec: &str) -> Option<String> {
    let (negate, spec) = match spec.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let (op, value) = spec.split_once('.')?;
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let c = ident(col);
    let cond = match op {
        "eq" => format!("{c} = {}", quoted(value)),
        "neq" => format!("{c} <> {}", quoted(value)),
        "gt" => format!("{c} > {}", quoted(value)),
        "gte" => format!("{c} >= {}", quoted(value)),
        "lt" => format!("{c} < {}", quoted(value)),
        "lte" => format!("{c} <= {}", quoted(value)),
        "like" => format!("{c} LIKE {}", quoted(&value.replace('*', "%"))),
        "ilike" => format!("{c} ILIKE {}", quoted(&value.replace('*', "%"))),
        "is" => match value {
            "null" => format!("{c} IS NULL"),
            "true" => format!("{c} = true"),
            "false" => format!("{c} = false"),
            _ => return None,
        },
        "in" => {
            let inner = value.strip_prefix('(')?.strip_suffix(')')?;
            let items: Vec<String> = inner
                .split(',')
                .map(|i| quoted(i.trim().trim_matches('"')))
                .collect();
            format!("{c} IN ({})", items.join(", "))
        }
        _ => return None,
    };
    Some(if negate {
        format!("NOT ({cond})")
    } else {
        cond
    })
}

/// `GET /`: a small OpenAPI document naming the tables.
fn openapi(state: &State, cache: &BTreeMap<String, CachedTable>) -> Answer {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/".into(),
        serde_json::json!({"get": {"summary": "OpenAPI description (this document)"}}),
    );
    for name in cache.keys() {
        paths.insert(
            format!("/{name}"),
            serde_json::json!({"get": {}, "post": {}, "patch": {}, "delete": {}}),
        );
    }
    let doc = serde_json::json!({
        "swagger": "2.0",
        "info": {"title": "standard public schema", "version": VERSION},
        "host": format!("0.0.0.0:{}", state.conf.server_port),
        "basePath": "/",
        "schemes": ["http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
    });
    Answer {
        status: StatusCode::OK,
        body: doc.to_string(),
        headers: vec![(
            "content-type",
            "application/openapi+json; charset=utf-8".into(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_filters() {
        let mut t = Target {
            host: None,
            port: 5432,
            user: "postgres".into(),
            database: String::new(),
            password: None,
        };
        apply_uri(
            "postgres://app:s%40cret@customer-db:5433/customer?sslmode=disable",
            &mut t,
        )
        .unwrap();
        assert_eq!(
            (
                t.user.as_str(),
                t.password.as_deref(),
                t.host.as_deref(),
                t.port,
                t.database.as_str()
            ),
            ("app", Some("s@cret"), Some("customer-db"), 5433, "customer")
        );
        assert_eq!(filter("id", "eq.2").unwrap(), "\"id\" = '2'");
        assert_eq!(
            filter("name", "not.ilike.*ada*").unwrap(),
            "NOT (\"name\" ILIKE '%ada%')"
        );
        assert_eq!(filter("id", "in.(1,2)").unwrap(), "\"id\" IN ('1', '2')");
        assert!(filter("id", "zz.1").is_none());
    }

    #[test]
    fn json_agg_is_postgres_shaped() {
        let cols = vec![
            ("id".to_string(), 23),
            ("name".to_string(), 25),
            ("created_at".to_string(), 1184),
        ];
        let rows = vec![
            vec![
                Some("1".into()),
                Some("Ada".into()),
                Some("2026-12-04 13:00:00.5+00".into()),
            ],
            vec![
                Some("2".into()),
                None,
                Some("2026-12-04 13:00:01+00".into()),
            ],
        ];
        assert_eq!(
            json_agg(&cols, &rows),
            "[{\"id\":1,\"name\":\"Ada\",\"created_at\":\"2026-12-04T13:00:00.5+00:00\"}, \n {\"id\":2,\"name\":null,\"created_at\":\"2026-12-04T13:00:01+00:00\"}]"
        );
        assert_eq!(json_agg(&cols, &[]), "[]");
    }

    #[test]
    fn form_bodies_become_one_odd_key() {
        let mut h = http::HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let rows = payload(&h, br#"{"name": "Ada"}"#).map_err(|_| ()).unwrap();
        assert_eq!(rows[0].keys().next().unwrap(), r#"{"name": "Ada"}"#);
    }
}
