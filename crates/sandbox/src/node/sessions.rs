//! Streaming sessions (`exec`, `attach`, `port-forward`): how many one
//! client may hold at once, and ending each when its client goes.
//!
//! A session holds resources for as long as it lasts (a command running on
//! a thread, a tunnel), so each client gets at most [`MAX_PER_CLIENT`] at a
//! time; one more is answered 429. A client is its address: kubectl's
//! processes on one machine share it, which is the point (600 background
//! `kubectl exec ... sleep 90` must not starve the API's own writes).
//!
//! [`watch_client`] puts a pump between the upgraded connection and the
//! session's protocol code: it keeps reading the socket whatever the
//! session does, so a client that goes away (its kubectl killed, its
//! terminal closed) is noticed at once and the session's token fires, which
//! ends the command it runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream};
use tokio_util::sync::CancellationToken;

use crate::machinery::meta::lock;
use crate::machinery::status::ApiError;

/// Sessions one client may have open at once.
pub const MAX_PER_CLIENT: usize = 128;
/// Bytes the pump buffers from the client while the session is busy.
const PUMP_BUFFER: usize = 64 * 1024;

/// The client's address, put on each request by the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The open sessions, per client.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open session: counted until dropped. `token` fires when the client
/// goes or the sandbox stops; whatever the session runs watches it.
#[derive(Debug)]
pub struct Session {
    pub token: CancellationToken,
    client: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.token.cancel();
        let mut open = lock(&self.open);
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a session for `client` (its address, or None when unknown),
    /// a child of `stop` (the sandbox's token), or says why not.
    pub fn open(
        &self,
        client: Option<ClientAddr>,
        stop: &CancellationToken,
    ) -> Result<Session, ApiError> {
        self.open_with_limit(client, stop, MAX_PER_CLIENT)
    }

    fn open_with_limit(
        &self,
        client: Option<ClientAddr>,
        stop: &CancellationToken,
        limit: usize,
    ) -> Result<Session, ApiError> {
        let key = client.map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let mut open = lock(&self.open);
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return Err(ApiError::new(
                429,
                "TooManyRequests",
                format!(
                    "too many exec, attach and port-forward sessions are open from {key} ({limit}): end some of them (each running kubectl exec, attach, cp or port-forward holds one) and try again"
                ),
            ));
        }
        *n += 1;
        Ok(Session {
            token: stop.child_token(),
            client: key,
            open: Arc::clone(&self.open),
        })
    }

    /// How many sessions `ip` holds (tests).
    #[cfg(test)]
    pub fn count(&self, ip: &str) -> usize {
        lock(&self.open).get(ip).copied().unwrap_or(0)
    }
}

/// Puts a pump between `io` (the client's upgraded connection) and the
/// returned stream (what the session reads and writes). The pump reads the
/// client at all times; when the client closes or breaks the connection it
/// cancels `token`. What the session wrote is always delivered: the pump
/// ends once the session dropped its end and that is flushed (then the
/// client gets a moment to close its side).
pub fn watch_client<IO>(io: IO, token: CancellationToken) -> DuplexStream
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (session_end, pump_end) = tokio::io::duplex(PUMP_BUFFER);
    tokio::spawn(async move {
        let (mut client_r, mut client_w) = tokio::io::split(io);
        let (mut pump_r, mut pump_w) = tokio::io::split(pump_end);
        let from_client = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match client_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if pump_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // The client is gone: the session ends.
            token.cancel();
            let _ = pump_w.shutdown().await;
        };
        let to_client = async {
            let _ = tokio::io::copy(&mut pump_r, &mut client_w).await;
            let _ = client_w.shutdown().await;
        };
        tokio::pin!(from_client, to_client);
        tokio::select! {
            () = &mut to_client => {
                let _ = tokio::time::timeout(CLIENT_CLOSE_WAIT, &mut from_client).await;
            }
            () = &mut from_client => {
                // The session sees EOF and ends; what it still sends goes
                // nowhere, but its end is drained so it never blocks.
                (&mut to_client).await;
            }
        }
    });
    session_end
}

/// How long the pump waits for a client to close once the session is over.
const CLIENT_CLOSE_WAIT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Option<ClientAddr> {
        Some(ClientAddr(format!("{ip}:40000").parse().unwrap()))
    }

    #[test]
    fn sessions_are_bounded_per_client_and_released_on_drop() {
        let s = Sessions::new();
        let stop = CancellationToken::new();
        let a: Vec<Session> = (0..3)
            .map(|_| s.open_with_limit(addr("127.0.0.1"), &stop, 3).unwrap())
            .collect();
        let e = s.open_with_limit(addr("127.0.0.1"), &stop, 3).unwrap_err();
        assert_eq!(e.code, 429);
        assert!(e.message.contains("from 127.0.0.1 (3)"), "{}", e.message);
        // Another client is not affected.
        let _b = s.open_with_limit(addr("10.0.0.2"), &stop, 3).unwrap();
        let token = a[0].token.clone();
        drop(a);
        assert!(token.is_cancelled(), "a dropped session tells its work");
        assert_eq!(s.count("127.0.0.1"), 0);
        let c = s.open_with_limit(addr("127.0.0.1"), &stop, 3).unwrap();
        stop.cancel();
        assert!(c.token.is_cancelled(), "the sandbox stopping ends sessions");
    }

    #[tokio::test]
    async fn a_client_that_goes_cancels_the_session() {
        let (client, server) = tokio::io::duplex(1024);
        let token = CancellationToken::new();
        let mut session = watch_client(server, token.clone());
        let (mut cr, mut cw) = tokio::io::split(client);
        cw.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        session.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        session.write_all(b"pong").await.unwrap();
        cr.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        assert!(!token.is_cancelled());
        drop(cw);
        drop(cr);
        token.cancelled().await;
    }
}
