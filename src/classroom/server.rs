//! The classroom server: accepts learners over TLS, checks the join code,
//! takes their reports into the [`Roster`], and passes the instructor's
//! messages and holds on.
//!
//! Each connection is a task; a reader task per connection turns frames
//! into messages so the connection's loop can also wait for the
//! instructor's news and its timers. The roster is behind one mutex, held
//! only to copy or update it; every change bumps a `watch` counter that
//! the grid and the status writer follow.
//!
//! Limits: frames of at most [`MAX_FRAME`](super::protocol::MAX_FRAME)
//! bytes, a burst of 40 frames then 10 a second per learner, 10 s to
//! finish TLS and the join, 60 s of silence (learners ping every 20 s),
//! and at most [`MAX_CONNECTIONS`] connections at once.

use super::code::JoinCode;
use super::handshake;
use super::protocol::{
    ErrorCode, FrameError, Message, ToLearner, ToServer, read_frame, write_frame,
};
use super::roster::Roster;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Connections served at once (beyond that, new ones are closed at once).
pub const MAX_CONNECTIONS: usize = 2048;
/// Time to finish TLS and the join.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A learner silent this long is taken as gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Frames a learner may send in a burst, and per second after it.
const BURST: f64 = 40.0;
const PER_SECOND: f64 = 10.0;
/// Longest instructor message, in characters.
pub const MAX_MESSAGE: usize = 500;

/// What the grid and the network share.
struct Shared {
    roster: Mutex<Roster>,
    /// Bumped on every change the grid shows.
    changed: watch::Sender<u64>,
    /// The instructor's news for every connected learner.
    news: broadcast::Sender<ToLearner>,
    /// The current connection of each learner (a learner that reconnects
    /// before its old connection timed out must stay connected when the
    /// old one ends).
    conns: Mutex<HashMap<String, u64>>,
    next_conn: std::sync::atomic::AtomicU64,
}

/// A handle on the class: the roster, its changes, and the instructor's
/// actions. Cheap to clone.
#[derive(Clone)]
pub struct Classroom {
    shared: Arc<Shared>,
}

impl Classroom {
    pub fn new(roster: Roster) -> Classroom {
        let (changed, _) = watch::channel(0);
        let (news, _) = broadcast::channel(64);
        Classroom {
            shared: Arc::new(Shared {
                roster: Mutex::new(roster),
                changed,
                news,
                conns: Mutex::new(HashMap::new()),
                next_conn: std::sync::atomic::AtomicU64::new(1),
            }),
        }
    }

    /// The roster, locked: copy what you need and let go.
    pub fn roster(&self) -> MutexGuard<'_, Roster> {
        // A panic while holding the lock cannot leave the roster half
        // written (every update is one assignment), so a poisoned lock is
        // still usable.
        self.shared
            .roster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the roster and tells the followers when `f` says it changed.
    pub fn update(&self, f: impl FnOnce(&mut Roster) -> bool) -> bool {
        let changed = f(&mut self.roster());
        if changed {
            self.shared.changed.send_modify(|n| *n += 1);
        }
        changed
    }

    /// Follows changes (the counter means nothing but "changed").
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Posts a message every learner sees (now, and on joining later).
    pub fn post(&self, text: &str) -> Result<Message, String> {
        let text = super::report::clean(text.trim());
        if text.is_empty() {
            return Err("an empty message is not sent".into());
        }
        if text.chars().count() > MAX_MESSAGE {
            return Err(format!("a message has at most {MAX_MESSAGE} characters"));
        }
        let mut posted = None;
        self.update(|r| {
            let id = r.message.as_ref().map_or(1, |m| m.id + 1);
            let m = Message {
                id,
                text,
                at: jiff::Timestamp::now(),
            };
            r.message = Some(m.clone());
            posted = Some(m);
            true
        });
        let m = posted.ok_or_else(|| "the message was lost".to_string())?;
        let _ = self
            .shared
            .news
            .send(ToLearner::Message { message: m.clone() });
        Ok(m)
    }

    /// Holds the class at a lesson (`None`: releases it).
    pub fn hold(&self, lesson: Option<String>) {
        let changed = self.update(|r| {
            let changed = r.hold != lesson;
            r.hold = lesson.clone();
            changed
        });
        if changed {
            let _ = self.shared.news.send(ToLearner::Hold { lesson });
        }
    }

    /// The instructor's news as it is posted (for the shared-cluster mode,
    /// which passes it on through ConfigMaps).
    pub fn subscribe_news(&self) -> broadcast::Receiver<ToLearner> {
        self.shared.news.subscribe()
    }

    fn connect(&self, name: &str) -> u64 {
        let id = self
            .shared
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut c) = self.shared.conns.lock() {
            c.insert(name.to_owned(), id);
        }
        id
    }

    fn disconnect(&self, name: &str, id: u64) {
        let current = self
            .shared
            .conns
            .lock()
            .map(|mut c| {
                let mine = c.get(name) == Some(&id);
                if mine {
                    c.remove(name);
                }
                mine
            })
            .unwrap_or(true);
        if current {
            self.update(|r| r.set_connected(name, false));
        }
    }
}

/// Accepts learners until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    code: JoinCode,
    class: Classroom,
    cancel: CancellationToken,
) {
    let code = Arc::new(code);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of file descriptors...: breathe, then go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if conns.len() >= MAX_CONNECTIONS {
                    tracing::warn!(%peer, "classroom: too many connections, refusing one");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (acceptor, code, class, cancel) =
                    (acceptor.clone(), code.clone(), class.clone(), cancel.clone());
                conns.spawn(async move {
                    tokio::select! {
                        r = connection(stream, peer, acceptor, &code, &class) => {
                            if let Err(e) = r {
                                tracing::info!(%peer, "classroom connection ended: {e}");
                            }
                        }
                        _ = cancel.cancelled() => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// A token bucket: `BURST` frames, refilled at `PER_SECOND`.
struct Bucket {
    level: f64,
    at: tokio::time::Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            level: BURST,
            at: tokio::time::Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * PER_SECOND;
        self.level = (self.level + refill).min(BURST);
        self.at = now;
        if self.level >= 1.0 {
            self.level -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One learner, from TLS to goodbye.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    code: &JoinCode,
    class: &Classroom,
) -> Result<(), String> {
    let mut tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| "TLS took too long".to_string())?
        .map_err(|e| format!("TLS failed: {e}"))?;
    let binding = super::tls::exporter(tls.get_ref().1).map_err(|e| e.to_string())?;
    let join = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::server_side(&mut tls, &binding, code),
    )
    .await
    .map_err(|_| "the join took too long".to_string())?;
    let join = match join {
        Ok(j) => j,
        Err(e) => {
            // A wrong code costs a second: guessing online is hopeless
            // anyway with 80 bits, and now slow too.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Err(e);
        }
    };
    let ToServer::Join {
        name,
        token,
        seen_message,
        version,
    } = join
    else {
        return Err("no join".into());
    };
    let admitted = {
        let mut r = class.roster();
        r.admit(&name, token.as_deref())
            .map(|(n, t)| (n, t, r.hold.clone(), r.message.clone()))
    };
    let (name, token, hold, message) = match admitted {
        Ok(a) => a,
        Err((code, msg)) => return Err(handshake::reply_error(&mut tls, code, &msg).await),
    };
    // Subscribed before the welcome: nothing posted in between is lost.
    let mut news = class.shared.news.subscribe();
    let conn = class.connect(&name);
    class.shared.changed.send_modify(|n| *n += 1);
    tracing::info!(%peer, %name, %version, "learner joined");
    let welcome = ToLearner::Welcome {
        token,
        hold,
        message: message.filter(|m| m.id > seen_message),
    };
    let result = match write_frame(&mut tls, &welcome).await {
        Ok(()) => session(tls, &name, class, &mut news).await,
        Err(e) => Err(e.to_string()),
    };
    class.disconnect(&name, conn);
    result
}

/// Reports in, news out, until the learner leaves or misbehaves.
async fn session<S>(
    stream: S,
    name: &str,
    class: &Classroom,
    news: &mut broadcast::Receiver<ToLearner>,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut frames) = mpsc::channel::<Result<ToServer, FrameError>>(4);
    let reader = tokio::spawn(async move {
        loop {
            let f = read_frame::<_, ToServer>(&mut rd).await;
            // Out of sync after these: the reader stops.
            let last = matches!(
                f,
                Err(FrameError::Closed | FrameError::TooLarge(_) | FrameError::Io(_))
            );
            if tx.send(f).await.is_err() || last {
                return;
            }
        }
    });
    let mut bucket = Bucket::new();
    // In a block of its own so that every way out (`?` included) stops
    // the reader below.
    let out = async { loop {
        tokio::select! {
            f = tokio::time::timeout(IDLE_TIMEOUT, frames.recv()) => {
                let Ok(f) = f else { break Err("silent for too long".to_string()) };
                let Some(f) = f else { break Ok(()) };
                if !bucket.take() {
                    let why = "too many reports too fast (at most 10 a second)";
                    let _ = write_frame(&mut wr, &error(ErrorCode::TooFast, why, true)).await;
                    break Err(why.to_string());
                }
                match f {
                    Ok(ToServer::Report { mut report }) => match report.check() {
                        Ok(()) => {
                            let now = jiff::Timestamp::now();
                            class.update(|r| r.report(name, *report, now));
                        }
                        Err(why) => {
                            let why = format!("report refused: {why}");
                            write_frame(&mut wr, &error(ErrorCode::Malformed, &why, false))
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                    },
                    Ok(ToServer::Ping) => {
                        write_frame(&mut wr, &ToLearner::Pong).await.map_err(|e| e.to_string())?;
                    }
                    Ok(_) => {
                        let why = "this message is not expected after joining";
                        write_frame(&mut wr, &error(ErrorCode::Unexpected, why, false))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Err(FrameError::Closed) => break Ok(()),
                    Err(e @ FrameError::TooLarge(_)) => {
                        let why = e.to_string();
                        let _ = write_frame(&mut wr, &error(ErrorCode::TooLarge, &why, true)).await;
                        break Err(why);
                    }
                    Err(e @ FrameError::Malformed(_)) => {
                        let why = e.to_string();
                        write_frame(&mut wr, &error(ErrorCode::Malformed, &why, false))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Err(FrameError::Io(e)) => break Err(e.to_string()),
                }
            }
            n = news.recv() => match n {
                Ok(msg) => write_frame(&mut wr, &msg).await.map_err(|e| e.to_string())?,
                // Fell behind: the current hold is what matters.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let hold = class.roster().hold.clone();
                    write_frame(&mut wr, &ToLearner::Hold { lesson: hold })
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Err(broadcast::error::RecvError::Closed) => break Ok(()),
            },
        }
    } }
    .await;
    reader.abort();
    out
}

fn error(code: ErrorCode, message: &str, fatal: bool) -> ToLearner {
    ToLearner::Error {
        code,
        message: message.to_owned(),
        fatal,
    }
}
