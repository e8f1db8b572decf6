//! The learner's side: a [`Reporter`] the front end hands its status
//! documents to, and a task that keeps a connection to the classroom
//! server, sends the latest report whenever it changes (and again after
//! every reconnection), and turns the instructor's messages and holds into
//! [`ClassroomEvent`]s for the front end.
//!
//! Nothing the server sends is run: it can only be shown (a message) or
//! stop the learner at a lesson (a hold). The course goes on when the
//! server is away; only the latest report matters, so nothing queues up.

use super::code::JoinTarget;
use super::handshake::{self, Refused};
use super::membership::{self, Seat};
use super::protocol::{ErrorCode, FrameError, ToLearner, ToServer, read_frame, write_frame};
use super::report::Report;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// News from the classroom for the learner's front end.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassroomEvent {
    /// In the classroom at `server` as `name`.
    Joined { server: String, name: String },
    /// The server went away; the learner's kubetutor keeps trying.
    Away { reason: String },
    /// The server said no for good (wrong code, name taken...).
    Refused { reason: String },
    /// A message from the instructor.
    Message { text: String, at: jiff::Timestamp },
    /// The class is held at a lesson (`None`: released).
    Hold { lesson: Option<String> },
}

/// The latest report, when the learner reached its step, and when the
/// report last changed.
pub type Latest = Option<(Report, Instant, Instant)>;

/// Where the front ends hand their status documents; every sink (the
/// server connection, the shared cluster's ConfigMap) follows `subscribe`.
pub struct Reporter {
    tx: watch::Sender<Latest>,
    /// The (lesson, step) of the last document and when it started.
    at: Option<(Option<String>, Option<String>, Instant)>,
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter {
    pub fn new() -> Reporter {
        let (tx, _) = watch::channel(None);
        Reporter { tx, at: None }
    }

    pub fn subscribe(&self) -> watch::Receiver<Latest> {
        self.tx.subscribe()
    }

    /// Takes a status document (called after every frame the front end
    /// draws: cheap when nothing changed).
    pub fn publish(&mut self, doc: &serde_json::Value) {
        let pos = (
            doc["current"]["lesson"].as_str().map(str::to_owned),
            doc["current"]["step"].as_str().map(str::to_owned),
        );
        let since = match &self.at {
            Some((l, s, t)) if (l, s) == (&pos.0, &pos.1) => *t,
            _ => {
                let now = Instant::now();
                self.at = Some((pos.0, pos.1, now));
                now
            }
        };
        let report = Report::from_status(doc, 0);
        self.tx.send_if_modified(|cur| {
            let same = cur
                .as_ref()
                .is_some_and(|(r, t, _)| *t == since && r.same_as(&report));
            if !same {
                *cur = Some((report, since, Instant::now()));
            }
            !same
        });
    }
}

/// The report as it is sent now (with the time on the step so far).
pub fn stamped(latest: &Latest) -> Option<Report> {
    let (r, since, changed) = latest.as_ref()?;
    let mut r = r.clone();
    r.on_step_secs = since.elapsed().as_secs();
    r.idle_secs = changed.elapsed().as_secs();
    Some(r)
}

/// How to reach the classroom, and where to say what happens.
pub struct Link {
    pub target: JoinTarget,
    pub name: String,
    /// For the token and the last message seen (`classroom.json`).
    pub data_dir: PathBuf,
    pub events: Sink,
}

/// Pause between attempts: 1 s doubling up to 10 s (plus up to a second
/// at random, so that a class does not come back all at once).
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// No frame at all (pongs included) for this long: the server is gone.
const SILENCE: Duration = Duration::from_secs(50);

/// Runs until the front end goes away or the server refuses for good.
pub async fn run(link: Link, mut reports: watch::Receiver<Latest>) {
    let mut backoff = Duration::from_secs(1);
    let mut away_said: Option<String> = None;
    loop {
        let result = attempt(&link, &mut reports, &mut away_said).await;
        let reason = match result {
            Ok(Outcome::FrontEndGone) => return,
            Ok(Outcome::Lost(why)) => {
                backoff = Duration::from_secs(1);
                why
            }
            Err(Refused::Fatal(code, why)) => {
                tracing::warn!(?code, "the classroom refused us: {why}");
                let _ = send(&link, ClassroomEvent::Refused { reason: why }).await;
                return;
            }
            Err(Refused::Transient(why)) => why,
        };
        if away_said.as_deref() != Some(reason.as_str()) {
            if send(
                &link,
                ClassroomEvent::Away {
                    reason: reason.clone(),
                },
            )
            .await
            .is_err()
            {
                return;
            }
            away_said = Some(reason);
        }
        let jitter = Duration::from_millis(u64::from(
            super::handshake::nonce().map_or(0, |n| u16::from_le_bytes([n[0], n[1]])) % 1000,
        ));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn send(link: &Link, ev: ClassroomEvent) -> Result<(), ()> {
    if link.events.send(ev).await {
        Ok(())
    } else {
        Err(())
    }
}

/// Where the classroom's news go: the front end's channel, whatever its
/// event type (the TUI's and plain mode's take a `ClassroomEvent`).
#[derive(Clone)]
pub struct Sink(
    std::sync::Arc<
        dyn Fn(ClassroomEvent) -> futures::future::BoxFuture<'static, bool> + Send + Sync,
    >,
);

impl Sink {
    pub fn new<E: From<ClassroomEvent> + Send + 'static>(tx: mpsc::Sender<E>) -> Sink {
        Sink(std::sync::Arc::new(move |ev: ClassroomEvent| {
            let tx = tx.clone();
            Box::pin(async move { tx.send(E::from(ev)).await.is_ok() })
        }))
    }

    /// False once the front end is gone.
    pub async fn send(&self, ev: ClassroomEvent) -> bool {
        (self.0)(ev).await
    }
}

enum Outcome {
    FrontEndGone,
    Lost(String),
}

/// One connection, from TCP to its end.
async fn attempt(
    link: &Link,
    reports: &mut watch::Receiver<Latest>,
    away_said: &mut Option<String>,
) -> Result<Outcome, Refused> {
    let t = &link.target;
    let addr = t.addr();
    let transient = |what: &str, e: &dyn std::fmt::Display| {
        Refused::Transient(format!(
            "cannot reach the classroom at {addr} ({what}: {e})"
        ))
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| transient("connecting", &"timed out"))?
        .map_err(|e| transient("connecting", &e))?;
    let _ = tcp.set_nodelay(true);
    let connector = super::tls::connector().map_err(|e| transient("TLS", &e))?;
    let mut tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        connector.connect(super::tls::server_name(&t.host), tcp),
    )
    .await
    .map_err(|_| transient("TLS", &"timed out"))?
    .map_err(|e| transient("TLS", &e))?;
    let binding = super::tls::exporter(tls.get_ref().1).map_err(|e| transient("TLS", &e))?;
    let key = membership::seat_key(t);
    let seat = membership::Membership::load(&link.data_dir)
        .seats
        .get(&key)
        .filter(|s| s.name == link.name)
        .cloned();
    let join = ToServer::Join {
        name: link.name.clone(),
        token: seat.as_ref().map(|s| s.token.clone()),
        seen_message: seat.as_ref().map_or(0, |s| s.seen_message),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let welcome = tokio::time::timeout(
        CONNECT_TIMEOUT,
        handshake::learner_side(&mut tls, &binding, &t.code, join),
    )
    .await
    .map_err(|_| transient("joining", &"timed out"))??;
    let mut seen = seat.as_ref().map_or(0, |s| s.seen_message);
    if let Some(m) = &welcome.message {
        seen = seen.max(m.id);
    }
    save_seat(link, &key, &welcome.token, seen).await;
    *away_said = None;
    let mut news = vec![
        ClassroomEvent::Joined {
            server: addr.clone(),
            name: link.name.clone(),
        },
        ClassroomEvent::Hold {
            lesson: welcome.hold,
        },
    ];
    if let Some(m) = welcome.message {
        news.push(ClassroomEvent::Message {
            text: m.text,
            at: m.at,
        });
    }
    for ev in news {
        if send(link, ev).await.is_err() {
            return Ok(Outcome::FrontEndGone);
        }
    }
    session(link, tls, reports, &key, &welcome.token, seen).await
}

async fn save_seat(link: &Link, key: &str, token: &str, seen: u64) {
    let (dir, key, seat) = (
        link.data_dir.clone(),
        key.to_owned(),
        Seat {
            name: link.name.clone(),
            token: token.to_owned(),
            seen_message: seen,
        },
    );
    let _ = tokio::task::spawn_blocking(move || {
        membership::update(&dir, |m| {
            m.seats.insert(key, seat);
        })
    })
    .await;
}

/// Reports out, news in.
async fn session<S>(
    link: &Link,
    stream: S,
    reports: &mut watch::Receiver<Latest>,
    key: &str,
    token: &str,
    mut seen: u64,
) -> Result<Outcome, Refused>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut frames) = mpsc::channel::<Result<ToLearner, FrameError>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let f = read_frame::<_, ToLearner>(&mut rd).await;
            let last = matches!(
                f,
                Err(FrameError::Closed | FrameError::TooLarge(_) | FrameError::Io(_))
            );
            if tx.send(f).await.is_err() || last {
                return;
            }
        }
    });
    let lost = |e: std::io::Error| {
        Ok(Outcome::Lost(format!(
            "the classroom server went away ({e})"
        )))
    };
    let out = async {
        // Whatever the server had of us is stale: the latest report first.
        reports.mark_changed();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                changed = reports.changed() => {
                    if changed.is_err() {
                        return Ok(Outcome::FrontEndGone);
                    }
                    let report = stamped(&reports.borrow_and_update());
                    if let Some(report) = report
                        && let Err(e) = write_frame(&mut wr, &ToServer::Report { report: Box::new(report) }).await
                    {
                        return lost(e);
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = write_frame(&mut wr, &ToServer::Ping).await {
                        return lost(e);
                    }
                }
                f = tokio::time::timeout(SILENCE, frames.recv()) => {
                    let Ok(f) = f else {
                        return Ok(Outcome::Lost("the classroom server stopped answering".into()));
                    };
                    let Some(f) = f else {
                        return Ok(Outcome::Lost("the classroom server went away".into()));
                    };
                    let ev = match f {
                        Ok(ToLearner::Message { message }) => {
                            if message.id <= seen {
                                continue;
                            }
                            seen = message.id;
                            save_seat(link, key, token, seen).await;
                            ClassroomEvent::Message { text: message.text, at: message.at }
                        }
                        Ok(ToLearner::Hold { lesson }) => ClassroomEvent::Hold { lesson },
                        Ok(ToLearner::Error { code, message, fatal: true }) => {
                            return Err(Refused::Fatal(code, message));
                        }
                        Ok(ToLearner::Error { message, .. }) => {
                            tracing::warn!("the classroom server says: {message}");
                            continue;
                        }
                        Ok(_) => continue,
                        Err(FrameError::Closed) => {
                            return Ok(Outcome::Lost("the classroom server went away".into()));
                        }
                        Err(e) => return Ok(Outcome::Lost(format!("the classroom connection broke ({e})"))),
                    };
                    if send(link, ev).await.is_err() {
                        return Ok(Outcome::FrontEndGone);
                    }
                }
            }
        }
    }
    .await;
    reader.abort();
    match out {
        // A refusal after joining (a report too fast...) is not the code's
        // fault: joining again may work.
        Err(Refused::Fatal(code, why))
            if !matches!(
                code,
                ErrorCode::WrongCode | ErrorCode::NameTaken | ErrorCode::Protocol
            ) =>
        {
            Ok(Outcome::Lost(why))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn publishing_the_same_document_sends_nothing_new() {
        let mut r = Reporter::new();
        let mut rx = r.subscribe();
        let doc = json!({"current": {"lesson": "l", "step": "a"}, "lessons": [{"id": "l", "steps": [{"id": "a", "state": "active"}]}]});
        r.publish(&doc);
        assert!(rx.has_changed().unwrap());
        let first = rx.borrow_and_update().clone().unwrap();
        r.publish(&doc);
        assert!(!rx.has_changed().unwrap());
        let mut next = doc.clone();
        next["lessons"][0]["steps"][0]["state"] = json!("failing");
        r.publish(&next);
        assert!(rx.has_changed().unwrap());
        // Same step: the time on it still counts from the first document.
        assert_eq!(rx.borrow_and_update().as_ref().unwrap().1, first.1);
        assert_eq!(stamped(&Some(first.clone())).unwrap().idle_secs, 0);
        assert_eq!(stamped(&Some(first)).unwrap().lesson.as_deref(), Some("l"));
    }
}
