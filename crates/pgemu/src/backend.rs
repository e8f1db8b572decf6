//! One client connection of the server, as a PostgreSQL backend runs it:
//! the startup packet (TLS and GSS encryption refused), authentication as
//! the first matching `pg_hba.conf` record says (trust, reject, peer,
//! cleartext password, md5, SCRAM-SHA-256), the session's parameters, then
//! simple queries and notifications until the client leaves or the server
//! shuts down.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::engine::{self, DbError, Engine, Notification, Outcome, QueryResult, Session};
use crate::entrypoint::server_log;
use crate::hba::{self, Method, Origin, Record};
use crate::password::{self, Secret};
use crate::scram::{self, ServerExchange};
use crate::{Log, wire};

/// PostgreSQL's `authentication_timeout`.
const AUTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Who runs the client programs in the container (`kubectl exec` and the
/// image's processes): what `peer` authentication sees.
const OS_USER: &str = "root";

/// Everything the connections of one server share.
pub(crate) struct Shared {
    pub engine: Arc<Mutex<Engine>>,
    pub notify: broadcast::Sender<Notification>,
    pub log: Log,
    pub next_pid: AtomicI32,
    /// The container path of PGDATA (for `SHOW data_directory`).
    pub pgdata: String,
    /// `pg_hba.conf`'s records, read when the server started.
    pub hba: Vec<Record>,
    /// Salts the mock SCRAM exchange of roles without a secret.
    pub mock_secret: [u8; 16],
}

impl Shared {
    fn log(&self, pid: i32, level: &str, message: &str) {
        server_log(&self.log, pid, level, message);
    }

    /// A DETAIL of several lines: the later ones are tab-indented, as in
    /// PostgreSQL's stderr log.
    fn log_detail(&self, pid: i32, lines: &[String]) {
        for (i, line) in lines.iter().enumerate() {
            if i == 0 {
                self.log(pid, "DETAIL", line);
            } else {
                (self.log)(&format!("\t{line}"));
            }
        }
    }

    fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> Option<T> {
        self.engine.lock().ok().map(|e| f(&e))
    }
}

async fn read_startup(rd: &mut (impl AsyncRead + Unpin)) -> io::Result<(i32, Vec<u8>)> {
    let len = rd.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (8..=10_000).contains(l))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "invalid length of startup packet",
            )
        })?;
    let code = rd.read_i32().await?;
    let mut body = vec![0u8; len - 8];
    rd.read_exact(&mut body).await?;
    Ok((code, body))
}

async fn read_message(rd: &mut (impl AsyncRead + Unpin)) -> io::Result<(u8, Vec<u8>)> {
    let kind = rd.read_u8().await?;
    let len = rd.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=wire::MAX_MESSAGE).contains(l))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "invalid message length"))?;
    let mut body = vec![0u8; len - 4];
    rd.read_exact(&mut body).await?;
    Ok((kind, body))
}

async fn send(wr: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    wr.write_all(bytes).await?;
    wr.flush().await
}

/// One client connection: startup, authentication, then queries.
pub(crate) async fn serve<S>(
    stream: S,
    origin: Origin,
    shared: Arc<Shared>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let pid = shared.next_pid.fetch_add(1, Ordering::Relaxed);
    let Some(params) = startup(&mut rd, &mut wr).await else {
        return;
    };
    let Some(user) = params.get("user").cloned().filter(|u| !u.is_empty()) else {
        let e = DbError::fatal(
            "28000",
            "no PostgreSQL user name specified in startup packet",
        );
        let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
        return;
    };
    let database = params
        .get("database")
        .cloned()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    let login = Login {
        origin,
        user: &user,
        database: &database,
        pid,
    };
    if let Err(failure) = authenticate(&mut rd, &mut wr, &shared, &login).await {
        if let AuthFailure::Fatal { error, log_detail } = failure {
            shared.log(pid, "FATAL", &error.message);
            shared.log_detail(pid, &log_detail);
            let _ = send(&mut wr, &wire::error_message(b'E', &error)).await;
        }
        return;
    }
    let app = params.get("application_name").cloned().unwrap_or_default();
    let Some(session) = begin_session(&mut wr, &shared, &login, &app).await else {
        return;
    };
    query_loop(rd, wr, shared, stop, session).await;
}

/// Reads the startup packet, refusing TLS and GSS encryption first.
async fn startup(
    rd: &mut (impl AsyncRead + Unpin),
    wr: &mut (impl AsyncWrite + Unpin),
) -> Option<std::collections::BTreeMap<String, String>> {
    loop {
        let Ok(Ok((code, body))) = tokio::time::timeout(AUTH_TIMEOUT, read_startup(rd)).await
        else {
            return None;
        };
        match code {
            wire::SSL_REQUEST | wire::GSSENC_REQUEST => {
                send(wr, b"N").await.ok()?;
            }
            wire::PROTOCOL_V3 => return Some(wire::startup_params(&body)),
            wire::CANCEL_REQUEST => return None,
            other => {
                let e = DbError::fatal(
                    "0A000",
                    format!(
                        "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                        other >> 16,
                        other & 0xffff
                    ),
                );
                let _ = send(wr, &wire::error_message(b'E', &e)).await;
                return None;
            }
        }
    }
}

/// Who is logging in, from where.
struct Login<'a> {
    origin: Origin,
    user: &'a str,
    database: &'a str,
    pid: i32,
}

/// Why a login stopped.
enum AuthFailure {
    /// The client went away (libpq asked for a password it does not
    /// have): nothing is logged.
    Hangup,
    /// Refused: the client is told, the log gets the detail too.
    Fatal {
        error: DbError,
        log_detail: Vec<String>,
    },
}

impl AuthFailure {
    fn protocol(message: &str, detail: Option<String>) -> AuthFailure {
        let mut error = DbError::fatal("08P01", message);
        error.detail = detail;
        AuthFailure::Fatal {
            error,
            log_detail: Vec::new(),
        }
    }
}

/// `pg_hba.conf`'s verdict for a login, then the method's exchange.
async fn authenticate(
    rd: &mut (impl AsyncRead + Unpin),
    wr: &mut (impl AsyncWrite + Unpin),
    shared: &Shared,
    login: &Login<'_>,
) -> Result<(), AuthFailure> {
    let host = login.origin.describe();
    // The request borrows a closure that is not Send: it must not live
    // across the exchange's awaits.
    let record = {
        let is_member =
            |u: &str, r: &str| shared.with_engine(|e| e.belongs_to(u, r)).unwrap_or(false);
        let request = hba::Request {
            origin: login.origin,
            user: login.user,
            database: login.database,
            server_addresses: &[
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ],
            is_member: &is_member,
        };
        hba::lookup(&shared.hba, &request).cloned()
    };
    let Some(record) = record else {
        return Err(AuthFailure::Fatal {
            error: DbError::fatal(
                "28000",
                format!(
                    "no pg_hba.conf entry for host \"{host}\", user \"{}\", database \"{}\", no encryption",
                    login.user, login.database
                ),
            ),
            log_detail: Vec::new(),
        });
    };
    let matched = format!(
        "Connection matched file \"{}/pg_hba.conf\" line {}: \"{}\"",
        shared.pgdata, record.line, record.raw
    );
    let failed = |code: &'static str, what: &str, mut detail: Vec<String>| {
        detail.push(matched.clone());
        AuthFailure::Fatal {
            error: DbError::fatal(
                code,
                format!("{what} authentication failed for user \"{}\"", login.user),
            ),
            log_detail: detail,
        }
    };
    match &record.method {
        Method::Trust => Ok(()),
        Method::Reject => Err(AuthFailure::Fatal {
            error: DbError::fatal(
                "28000",
                format!(
                    "pg_hba.conf rejects connection for host \"{host}\", user \"{}\", database \"{}\", no encryption",
                    login.user, login.database
                ),
            ),
            log_detail: Vec::new(),
        }),
        // `ident` on the socket is `peer`; over TCP it would ask an
        // Ident server on the client's host, which pods do not run.
        Method::Peer | Method::Ident => {
            let what = if record.method == Method::Peer {
                "Peer"
            } else {
                "Ident"
            };
            if login.origin != Origin::Local {
                Err(failed(
                    "28000",
                    what,
                    vec!["could not connect to Ident server".into()],
                ))
            } else if login.user == OS_USER {
                Ok(())
            } else {
                Err(failed(
                    "28000",
                    what,
                    vec![format!(
                        "Provided user name ({}) and authenticated user name ({OS_USER}) do not match.",
                        login.user
                    )],
                ))
            }
        }
        Method::Password | Method::Md5 | Method::ScramSha256 => {
            match password_exchange(rd, wr, shared, login, &record.method).await {
                Ok(()) => Ok(()),
                Err(Refusal::Failed(detail)) => Err(failed("28P01", "password", detail)),
                Err(Refusal::Other(f)) => Err(f),
            }
        }
        Method::Unsupported(name) => Err(AuthFailure::Fatal {
            error: DbError::fatal(
                "28000",
                format!(
                    "authentication method \"{name}\" is not supported by the kubetutor sandbox's PostgreSQL"
                ),
            ),
            log_detail: vec![matched],
        }),
    }
}

/// How a password exchange ended, when it did not succeed.
enum Refusal {
    /// Wrong password, no such role, no password: the log's detail.
    Failed(Vec<String>),
    Other(AuthFailure),
}

impl From<AuthFailure> for Refusal {
    fn from(f: AuthFailure) -> Self {
        Refusal::Other(f)
    }
}

/// Reads the client's answer to an authentication request (a
/// PasswordMessage, SASLInitialResponse or SASLResponse: all `p`).
async fn read_password(
    rd: &mut (impl AsyncRead + Unpin),
    pid: i32,
    shared: &Shared,
) -> Result<Vec<u8>, AuthFailure> {
    match tokio::time::timeout(AUTH_TIMEOUT, read_message(rd)).await {
        Ok(Ok((b'p', body))) => Ok(body),
        Ok(Ok((other, _))) => Err(AuthFailure::protocol(
            &format!("expected password response, got message type {other}"),
            None,
        )),
        Ok(Err(_)) => Err(AuthFailure::Hangup),
        Err(_) => {
            shared.log(pid, "FATAL", "canceling authentication due to timeout");
            Err(AuthFailure::Hangup)
        }
    }
}

/// The password methods: `password` (cleartext), `md5` (a salted hash,
/// or SCRAM when the role's secret is a SCRAM verifier) and
/// `scram-sha-256`. A missing role or password goes through the motions
/// and fails like a wrong password.
async fn password_exchange(
    rd: &mut (impl AsyncRead + Unpin),
    wr: &mut (impl AsyncWrite + Unpin),
    shared: &Shared,
    login: &Login<'_>,
    method: &Method,
) -> Result<(), Refusal> {
    let user = login.user;
    let (exists, secret) = shared
        .with_engine(|e| (e.role_exists(user), e.role_secret(user)))
        .unwrap_or((false, None));
    let missing = if !exists {
        Some(format!("Role \"{user}\" does not exist."))
    } else if secret.is_none() {
        Some(format!("User \"{user}\" has no password assigned."))
    } else {
        None
    };
    let mismatch = || vec![format!("Password does not match for user \"{user}\".")];
    match (method, &secret) {
        (Method::Password, _) => {
            send(wr, &wire::Msg::new(b'R').i32(3).encode())
                .await
                .map_err(|_| AuthFailure::Hangup)?;
            let body = read_password(rd, login.pid, shared).await?;
            let given = wire::Reader::new(&body).cstr().unwrap_or_default();
            if let Some(m) = missing {
                return Err(Refusal::Failed(vec![m]));
            }
            match secret {
                Some(s) if !given.is_empty() && s.matches(user, &given) => Ok(()),
                _ => Err(Refusal::Failed(mismatch())),
            }
        }
        (Method::Md5, Some(Secret::Md5(hash))) => {
            let salt: [u8; 4] = rand::random();
            let ask = wire::Msg::new(b'R').i32(5).bytes(&salt).encode();
            send(wr, &ask).await.map_err(|_| AuthFailure::Hangup)?;
            let body = read_password(rd, login.pid, shared).await?;
            let given = wire::Reader::new(&body).cstr().unwrap_or_default();
            if given == password::md5_response(hash, salt) {
                Ok(())
            } else {
                Err(Refusal::Failed(mismatch()))
            }
        }
        _ => {
            let (verifier, detail) = match secret {
                Some(Secret::Scram(v)) => (Some(v), None),
                Some(_) => (
                    None,
                    Some(format!(
                        "User \"{user}\" does not have a valid SCRAM secret."
                    )),
                ),
                None => (None, missing),
            };
            let salt = scram::mock_salt(user, &shared.mock_secret);
            let exchange = ServerExchange::new(verifier, &salt);
            match scram_exchange(rd, wr, shared, login.pid, exchange).await {
                Err(Refusal::Failed(_)) => Err(Refusal::Failed(detail.into_iter().collect())),
                other => other,
            }
        }
    }
}

/// SASL with SCRAM-SHA-256: the mechanism list, client-first,
/// server-first, client-final, server-final.
async fn scram_exchange(
    rd: &mut (impl AsyncRead + Unpin),
    wr: &mut (impl AsyncWrite + Unpin),
    shared: &Shared,
    pid: i32,
    mut exchange: ServerExchange,
) -> Result<(), Refusal> {
    let hangup = |_| AuthFailure::Hangup;
    let offer = wire::Msg::new(b'R')
        .i32(10)
        .cstr(scram::MECHANISM)
        .u8(0)
        .encode();
    send(wr, &offer).await.map_err(hangup)?;
    let body = read_password(rd, pid, shared).await?;
    let mut r = wire::Reader::new(&body);
    let mechanism = r.cstr().unwrap_or_default();
    if mechanism != scram::MECHANISM {
        return Err(AuthFailure::protocol(
            "client selected an invalid SASL authentication mechanism",
            None,
        )
        .into());
    }
    let len = r.i32().unwrap_or(-1);
    let first = usize::try_from(len)
        .ok()
        .and_then(|n| r.take(n))
        .unwrap_or_default();
    let server_first = exchange
        .client_first(first)
        .map_err(|e| AuthFailure::protocol(e.message, e.detail))?;
    let msg = wire::Msg::new(b'R')
        .i32(11)
        .bytes(server_first.as_bytes())
        .encode();
    send(wr, &msg).await.map_err(hangup)?;
    let body = read_password(rd, pid, shared).await?;
    match exchange
        .client_final(&body)
        .map_err(|e| AuthFailure::protocol(e.message, e.detail))?
    {
        scram::Outcome::Verified(server_final) => {
            let msg = wire::Msg::new(b'R')
                .i32(12)
                .bytes(server_final.as_bytes())
                .encode();
            send(wr, &msg).await.map_err(hangup)?;
            Ok(())
        }
        scram::Outcome::Failed => Err(Refusal::Failed(Vec::new())),
    }
}

/// AuthenticationOk, then what InitPostgres checks (the role may log
/// in, the database exists), then the session's parameters.
async fn begin_session(
    wr: &mut (impl AsyncWrite + Unpin),
    shared: &Shared,
    login: &Login<'_>,
    app: &str,
) -> Option<Session> {
    let (user, pid) = (login.user, login.pid);
    let mut hello = wire::Msg::new(b'R').i32(0).encode();
    let checked = shared
        .with_engine(|e| {
            e.authorize(user, login.database)
                .map(|()| e.is_superuser(user))
        })
        .unwrap_or_else(|| Err(DbError::fatal("XX000", "the server is unavailable")));
    let superuser = match checked {
        Ok(s) => s,
        Err(e) => {
            shared.log(pid, "FATAL", &e.message);
            hello.extend(wire::error_message(b'E', &e));
            let _ = send(wr, &hello).await;
            return None;
        }
    };
    for (k, v) in [
        ("application_name", app),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", if superuser { "on" } else { "off" }),
        ("scram_iterations", "4096"),
        ("server_encoding", "UTF8"),
        ("server_version", engine::SERVER_VERSION),
        ("session_authorization", user),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ] {
        hello.extend(wire::Msg::new(b'S').cstr(k).cstr(v).encode());
    }
    hello.extend(
        wire::Msg::new(b'K')
            .i32(pid)
            .i32(rand::random::<i32>())
            .encode(),
    );
    hello.extend(wire::Msg::new(b'Z').u8(b'I').encode());
    send(wr, &hello).await.ok()?;
    let mut session = Session::new(user, login.database, pid);
    session.set_data_directory(&shared.pgdata);
    Some(session)
}

/// Messages until Terminate, a broken connection or the shutdown.
async fn query_loop<R, W>(
    mut rd: R,
    mut wr: W,
    shared: Arc<Shared>,
    stop: CancellationToken,
    mut session: Session,
) where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Unpin,
{
    let pid = session.pid;
    let mut notifications = shared.notify.subscribe();
    // Reading happens in its own task so that waiting for a message can be
    // interrupted by a notification or a shutdown without losing bytes.
    let (tx, mut rx) = mpsc::channel::<io::Result<(u8, Vec<u8>)>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let m = read_message(&mut rd).await;
            let failed = m.is_err();
            if tx.send(m).await.is_err() || failed {
                break;
            }
        }
    });
    // Extended-protocol messages are refused until the next Sync.
    let mut skipping = false;
    loop {
        let msg = tokio::select! {
            () = stop.cancelled() => {
                let e = DbError::fatal("57P01", "terminating connection due to administrator command");
                shared.log(pid, "FATAL", &e.message);
                let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                break;
            }
            n = notifications.recv(), if !session.listening.is_empty() => {
                if let Ok(n) = n
                    && n.database == session.database
                    && session.listening.contains(&n.channel)
                {
                    let m = wire::Msg::new(b'A').i32(n.sender_pid).cstr(&n.channel).cstr(&n.payload).encode();
                    if send(&mut wr, &m).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            m = rx.recv() => m,
        };
        let Some(Ok((kind, body))) = msg else { break };
        let reply = match kind {
            b'Q' => {
                let sql = wire::Reader::new(&body).cstr().unwrap_or_default();
                let Some((s, reply, notes)) = simple_query(&shared, session, sql).await else {
                    break;
                };
                session = s;
                if send(&mut wr, &reply).await.is_err() {
                    break;
                }
                for n in notes {
                    let _ = shared.notify.send(n);
                }
                continue;
            }
            b'X' => break,
            b'S' => {
                skipping = false;
                wire::Msg::new(b'Z')
                    .u8(session.transaction_status())
                    .encode()
            }
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => {
                if skipping {
                    continue;
                }
                skipping = true;
                let e = DbError::new(
                    "0A000",
                    "the kubetutor sandbox's PostgreSQL emulation speaks only the simple query protocol (use psql)",
                );
                wire::error_message(b'E', &e)
            }
            other => {
                let e = DbError::fatal("08P01", format!("invalid frontend message type {other}"));
                let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                break;
            }
        };
        if send(&mut wr, &reply).await.is_err() {
            break;
        }
    }
    reader.abort();
}

/// Runs one Query message on the engine (off the async threads): the
/// session back, the reply up to ReadyForQuery, and the notifications to
/// deliver once it is sent.
async fn simple_query(
    shared: &Shared,
    mut session: Session,
    sql: String,
) -> Option<(Session, Vec<u8>, Vec<Notification>)> {
    let engine = Arc::clone(&shared.engine);
    let text = sql.clone();
    let job = tokio::task::spawn_blocking(move || {
        let result = match engine.lock() {
            Ok(mut e) => e.run_query(&mut session, &text),
            Err(_) => QueryResult::default(),
        };
        (session, result)
    });
    let (session, result) = job.await.ok()?;
    let mut reply = Vec::new();
    if result.statements.is_empty() {
        reply.extend(wire::Msg::new(b'I').encode());
    }
    for st in &result.statements {
        for n in &st.notices {
            reply.extend(wire::notice_message(n));
        }
        match &st.result {
            Ok(outcome) => reply.extend(outcome_messages(outcome)),
            Err(e) => {
                shared.log(session.pid, e.severity, &e.message);
                shared.log(session.pid, "STATEMENT", sql.trim());
                reply.extend(wire::error_message(b'E', e));
            }
        }
    }
    reply.extend(
        wire::Msg::new(b'Z')
            .u8(session.transaction_status())
            .encode(),
    );
    Some((session, reply, result.notifications))
}

/// CommandComplete, or RowDescription, DataRows and CommandComplete.
fn outcome_messages(outcome: &Outcome) -> Vec<u8> {
    let mut out = Vec::new();
    match outcome {
        Outcome::Command(tag) => {
            out.extend(wire::Msg::new(b'C').cstr(tag).encode());
        }
        Outcome::Rows { columns, rows, tag } => {
            let mut desc = wire::Msg::new(b'T').i16(columns.len() as i16);
            for c in columns {
                desc = desc
                    .cstr(&c.name)
                    .i32(0)
                    .i16(0)
                    .i32(c.ty.oid() as i32)
                    .i16(c.ty.typlen())
                    .i32(-1)
                    .i16(0);
            }
            out.extend(desc.encode());
            for row in rows {
                let mut d = wire::Msg::new(b'D').i16(row.len() as i16);
                for v in row {
                    match v.to_text() {
                        Some(t) => d = d.i32(t.len() as i32).bytes(t.as_bytes()),
                        None => d = d.i32(-1),
                    }
                }
                out.extend(d.encode());
            }
            out.extend(wire::Msg::new(b'C').cstr(tag).encode());
        }
    }
    out
}
