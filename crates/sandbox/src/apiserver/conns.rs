//! Which connections the API server keeps: timeouts and caps that stop idle,
//! slow or countless connections from locking the learner's kubectl out.
//!
//! A connection is *unproven* until it sends a request with the bearer
//! token. Unproven connections are capped ([`MAX_UNPROVEN`]); one more
//! evicts the oldest of them, so a flood of connections that never
//! authenticate can neither fill the server nor keep a new client out, and
//! never touches a connection that has authenticated. The timeouts
//! ([`ServerLimits`]) are upstream's (kube-apiserver's `http.Server`:
//! `ReadHeaderTimeout` 32 s, the request timeout of 60 s) or tighter (the
//! TLS handshake).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The API server's connection limits; [`Default`] is what the sandbox
/// runs with (tests shorten the timeouts).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A TLS handshake that takes longer is dropped (10 s).
    pub handshake_timeout: Duration,
    /// Time for a request's headers, counted from when the connection waits
    /// for a request: it also closes keep-alive connections idle that long
    /// (hyper starts the clock when a connection turns idle). 32 s, as
    /// kube-apiserver's `ReadHeaderTimeout`.
    pub header_read_timeout: Duration,
    /// Time to receive a request body: 60 s, upstream's default
    /// `--request-timeout`.
    pub body_read_timeout: Duration,
    /// Open connections at most (512); past it a new one is refused unless
    /// an unproven one can make room.
    pub max_connections: usize,
    /// Connections that have not yet shown the token, at most (128).
    pub max_unproven: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(32),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_unproven: 128,
        }
    }
}

/// The first and longest pause after a failed `accept` (Go's net/http
/// backs off the same way), so that running out of file descriptors does
/// not spin a core.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    next: u64,
    /// Open connections by arrival; true once proven.
    open: BTreeMap<u64, (bool, CancellationToken)>,
}

/// The open connections.
pub(crate) struct Conns {
    state: Mutex<State>,
    max_connections: usize,
    max_unproven: usize,
}

/// One admitted connection; dropping the last clone forgets it.
#[derive(Clone)]
pub(crate) struct Ticket(Arc<TicketInner>);

struct TicketInner {
    conns: Arc<Conns>,
    id: u64,
    /// Fires when the connection is evicted to make room.
    evicted: CancellationToken,
}

impl Drop for TicketInner {
    fn drop(&mut self) {
        if let Ok(mut s) = self.conns.state.lock() {
            s.open.remove(&self.id);
        }
    }
}

impl Ticket {
    /// Fires when this connection is evicted.
    pub(crate) fn evicted(&self) -> &CancellationToken {
        &self.0.evicted
    }

    /// The connection sent the token: it is never evicted.
    pub(crate) fn prove(&self) {
        if let Ok(mut s) = self.0.conns.state.lock()
            && let Some(entry) = s.open.get_mut(&self.0.id)
        {
            entry.0 = true;
        }
    }
}

impl State {
    fn unproven(&self) -> usize {
        self.open.values().filter(|(proven, _)| !proven).count()
    }

    /// Evicts the oldest unproven connection; false if there is none.
    fn evict_oldest_unproven(&mut self) -> bool {
        let Some(id) = self
            .open
            .iter()
            .find(|(_, (proven, _))| !proven)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some((_, evicted)) = self.open.remove(&id) {
            evicted.cancel();
        }
        true
    }
}

impl Conns {
    pub(crate) fn new(limits: &ServerLimits) -> Conns {
        Conns {
            state: Mutex::default(),
            max_connections: limits.max_connections,
            max_unproven: limits.max_unproven,
        }
    }

    /// Admits a new connection, evicting the oldest unproven one if the
    /// caps are reached; None when every open connection is proven and the
    /// server is full.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Ticket> {
        let mut s = self.state.lock().ok()?;
        if s.open.len() >= self.max_connections && !s.evict_oldest_unproven() {
            return None;
        }
        if s.unproven() >= self.max_unproven {
            s.evict_oldest_unproven();
        }
        let id = s.next;
        s.next += 1;
        let evicted = CancellationToken::new();
        s.open.insert(id, (false, evicted.clone()));
        Some(Ticket(Arc::new(TicketInner {
            conns: self.clone(),
            id,
            evicted,
        })))
    }

    /// Frees a file descriptor when `accept` ran out of them.
    pub(crate) fn make_room(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.evict_oldest_unproven();
        }
    }

    /// How many connections are open (for tests).
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.open.len(), s.unproven()))
            .unwrap_or_default()
    }
}

/// Whether a failed `accept` ran out of a resource (descriptors, buffers)
/// that closing a connection gives back.
pub(crate) fn out_of_resources(e: &std::io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// The pause after the `n`th consecutive failed accept (n ≥ 1).
pub(crate) fn backoff(n: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn unproven_connections_make_room_and_proven_ones_stay() {
        let limits = ServerLimits::default();
        let (max_unproven, conns) = (limits.max_unproven, Arc::new(Conns::new(&limits)));
        let kubectl = conns.admit().unwrap();
        kubectl.prove();
        let mut flood: Vec<Ticket> = (0..max_unproven).map(|_| conns.admit().unwrap()).collect();
        assert_eq!(conns.len(), (max_unproven + 1, max_unproven));
        // One more: the oldest unproven goes, the proven one stays.
        let newest = conns.admit().unwrap();
        assert!(flood[0].evicted().is_cancelled());
        assert!(!flood[1].evicted().is_cancelled());
        assert!(!kubectl.evicted().is_cancelled());
        assert!(!newest.evicted().is_cancelled());
        assert_eq!(conns.len(), (max_unproven + 1, max_unproven));
        flood.clear();
        drop(newest);
        assert_eq!(conns.len(), (1, 0));
        conns.make_room();
        assert!(!kubectl.evicted().is_cancelled());
    }

    #[test]
    fn a_full_server_of_proven_connections_refuses() {
        let limits = ServerLimits::default();
        let conns = Arc::new(Conns::new(&limits));
        let all: Vec<Ticket> = (0..limits.max_connections)
            .map(|_| {
                let t = conns.admit().unwrap();
                t.prove();
                t
            })
            .collect();
        assert!(conns.admit().is_none());
        drop(all);
        assert!(conns.admit().is_some());
    }

    #[test]
    fn accept_failures_back_off() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(2), Duration::from_millis(10));
        assert_eq!(backoff(40), BACKOFF_MAX);
        assert!(out_of_resources(&std::io::Error::from_raw_os_error(24)));
        assert!(!out_of_resources(&std::io::Error::from_raw_os_error(103)));
    }
}
