//! The join-code proofs: each side shows it knows the code, bound to the
//! TLS session they share, before anything else is said.
//!
//! Both derive a key from the code ([`JoinCode::key`]) and compute
//! HMAC-SHA256 over a role, the session's exporter and both sides'
//! nonces. The learner proves first; the server answers with its own
//! proof only when the learner's was right, and the learner sends its name
//! only after checking the server's. A wrong code learns nothing but "no".

use super::code::JoinCode;
use super::protocol::{ErrorCode, PROTOCOL, ToLearner, ToServer, read_frame, write_frame};
use base64::Engine as _;
use ring::hmac;
use tokio::io::{AsyncRead, AsyncWrite};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Who computes a proof (each role's proof differs, so one cannot be
/// reflected as the other).
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Learner,
    Server,
}

/// 32 random bytes.
pub fn nonce() -> Result<[u8; 32], String> {
    use ring::rand::SecureRandom as _;
    let mut n = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| "the system's random generator failed".to_string())?;
    Ok(n)
}

fn message(role: Role, binding: &[u8; 32], learner: &[u8], server: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + 32 + learner.len() + server.len());
    m.extend_from_slice(match role {
        Role::Learner => b"learner\0",
        Role::Server => b"server\0\0",
    });
    m.extend_from_slice(binding);
    m.extend_from_slice(learner);
    m.extend_from_slice(server);
    m
}

/// A proof, base64.
pub fn proof(
    code: &JoinCode,
    role: Role,
    binding: &[u8; 32],
    learner: &[u8],
    server: &[u8],
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &code.key());
    B64.encode(hmac::sign(&key, &message(role, binding, learner, server)).as_ref())
}

/// Whether `given` is the right proof (compared in constant time).
pub fn verify(
    code: &JoinCode,
    role: Role,
    binding: &[u8; 32],
    learner: &[u8],
    server: &[u8],
    given: &str,
) -> bool {
    let Ok(tag) = B64.decode(given) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, &code.key());
    hmac::verify(&key, &message(role, binding, learner, server), &tag).is_ok()
}

/// Why the learner's side of the handshake stopped.
#[derive(Debug)]
pub enum Refused {
    /// Trying again the same way will not help (wrong code, name taken,
    /// another protocol version, a server that does not know the code).
    Fatal(ErrorCode, String),
    /// The network or the server went away: try again later.
    Transient(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Fatal(_, m) | Refused::Transient(m) => f.write_str(m),
        }
    }
}

/// What the server says when a learner is in.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    pub token: String,
    pub hold: Option<String>,
    pub message: Option<super::protocol::Message>,
}

fn refusal(msg: ToLearner, during: &str) -> Refused {
    match msg {
        ToLearner::Error {
            code,
            message,
            fatal,
        } => {
            if fatal {
                Refused::Fatal(code, message)
            } else {
                Refused::Transient(message)
            }
        }
        other => Refused::Transient(format!(
            "the classroom server answered {during} with an unexpected message ({})",
            serde_json::to_value(&other)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default()
        )),
    }
}

/// The learner's side, on a fresh TLS stream whose exporter is `binding`:
/// prove, check the server's proof, then join as `join` (a
/// [`ToServer::Join`]).
pub async fn learner_side<S>(
    stream: &mut S,
    binding: &[u8; 32],
    code: &JoinCode,
    join: ToServer,
) -> Result<Welcome, Refused>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = |e: std::io::Error| Refused::Transient(e.to_string());
    let frame = |e: super::protocol::FrameError| Refused::Transient(e.to_string());
    let ours = nonce().map_err(Refused::Transient)?;
    write_frame(
        stream,
        &ToServer::Hello {
            protocol: PROTOCOL,
            nonce: B64.encode(ours),
        },
    )
    .await
    .map_err(io)?;
    let theirs = match read_frame(stream).await.map_err(frame)? {
        ToLearner::Challenge { protocol, nonce } if protocol == PROTOCOL => {
            B64.decode(nonce).map_err(|_| {
                Refused::Transient("the classroom server sent a malformed challenge".into())
            })?
        }
        ToLearner::Challenge { protocol, .. } => {
            return Err(Refused::Fatal(
                ErrorCode::Protocol,
                format!(
                    "the classroom server speaks protocol {protocol} and this kubetutor {PROTOCOL}: use the same kubetutor version as your instructor"
                ),
            ));
        }
        other => return Err(refusal(other, "the greeting")),
    };
    let mine = proof(code, Role::Learner, binding, &ours, &theirs);
    write_frame(stream, &ToServer::Prove { proof: mine })
        .await
        .map_err(io)?;
    match read_frame(stream).await.map_err(frame)? {
        ToLearner::Proven { proof } => {
            if !verify(code, Role::Server, binding, &ours, &theirs, &proof) {
                return Err(Refused::Fatal(
                    ErrorCode::WrongCode,
                    "the server at this address does not know the join code: check the address with your instructor (someone else may be answering there)".into(),
                ));
            }
        }
        other => return Err(refusal(other, "the join code")),
    }
    write_frame(stream, &join).await.map_err(io)?;
    match read_frame(stream).await.map_err(frame)? {
        ToLearner::Welcome {
            token,
            hold,
            message,
        } => Ok(Welcome {
            token,
            hold,
            message,
        }),
        other => Err(refusal(other, "joining")),
    }
}

/// The server's side up to the learner's join request: greet, check the
/// learner's proof, prove back. Returns the `Join` message (any other
/// message is an error sent to the learner).
pub async fn server_side<S>(
    stream: &mut S,
    binding: &[u8; 32],
    code: &JoinCode,
) -> Result<ToServer, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let theirs = match read_frame::<_, ToServer>(stream).await {
        Ok(ToServer::Hello { protocol, nonce }) => {
            if protocol != PROTOCOL {
                let _ = write_frame(
                    stream,
                    &ToLearner::Challenge {
                        protocol: PROTOCOL,
                        nonce: String::new(),
                    },
                )
                .await;
                return Err(format!("a learner speaks protocol {protocol}"));
            }
            B64.decode(nonce)
                .map_err(|_| "a malformed greeting".to_string())?
        }
        Ok(_) => return Err(reply_error(stream, ErrorCode::Unexpected, "say hello first").await),
        Err(e) => return Err(frame_error(stream, e).await),
    };
    let ours = nonce()?;
    write_frame(
        stream,
        &ToLearner::Challenge {
            protocol: PROTOCOL,
            nonce: B64.encode(ours),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    match read_frame::<_, ToServer>(stream).await {
        Ok(ToServer::Prove { proof: p }) => {
            if !verify(code, Role::Learner, binding, &theirs, &ours, &p) {
                return Err(reply_error(
                    stream,
                    ErrorCode::WrongCode,
                    "wrong join code: check it with your instructor",
                )
                .await);
            }
        }
        Ok(_) => {
            return Err(
                reply_error(stream, ErrorCode::Unexpected, "prove the join code first").await,
            );
        }
        Err(e) => return Err(frame_error(stream, e).await),
    }
    let p = proof(code, Role::Server, binding, &theirs, &ours);
    write_frame(stream, &ToLearner::Proven { proof: p })
        .await
        .map_err(|e| e.to_string())?;
    match read_frame::<_, ToServer>(stream).await {
        Ok(j @ ToServer::Join { .. }) => Ok(j),
        Ok(_) => Err(reply_error(stream, ErrorCode::Unexpected, "join first").await),
        Err(e) => Err(frame_error(stream, e).await),
    }
}

/// Tells the learner why (fatally), and returns the same words for the log.
pub async fn reply_error<S>(stream: &mut S, code: ErrorCode, message: &str) -> String
where
    S: AsyncWrite + Unpin,
{
    let _ = write_frame(
        stream,
        &ToLearner::Error {
            code,
            message: message.to_owned(),
            fatal: true,
        },
    )
    .await;
    message.to_owned()
}

/// A frame that could not be read, answered when there is someone to answer.
pub async fn frame_error<S>(stream: &mut S, e: super::protocol::FrameError) -> String
where
    S: AsyncWrite + Unpin,
{
    use super::protocol::FrameError;
    match &e {
        FrameError::TooLarge(_) => reply_error(stream, ErrorCode::TooLarge, &e.to_string()).await,
        FrameError::Malformed(_) => reply_error(stream, ErrorCode::Malformed, &e.to_string()).await,
        FrameError::Closed | FrameError::Io(_) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_code_role_and_session() {
        let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        let other = JoinCode::parse("ABCD-EFGH-JKMP").unwrap();
        let b = [7u8; 32];
        let p = proof(&code, Role::Learner, &b, b"l", b"s");
        assert!(verify(&code, Role::Learner, &b, b"l", b"s", &p));
        assert!(!verify(&other, Role::Learner, &b, b"l", b"s", &p));
        assert!(!verify(&code, Role::Server, &b, b"l", b"s", &p));
        assert!(!verify(&code, Role::Learner, &[8u8; 32], b"l", b"s", &p));
        assert!(!verify(&code, Role::Learner, &b, b"l", b"t", &p));
        assert!(!verify(&code, Role::Learner, &b, b"l", b"s", "not base64!"));
    }

    #[tokio::test]
    async fn both_sides_over_a_pipe() {
        let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let binding = [1u8; 32];
        let server = {
            let code = code.clone();
            tokio::spawn(async move {
                let join = server_side(&mut b, &binding, &code).await.unwrap();
                assert!(matches!(join, ToServer::Join { ref name, .. } if name == "ana"));
                write_frame(
                    &mut b,
                    &ToLearner::Welcome {
                        token: "t".into(),
                        hold: Some("l3".into()),
                        message: None,
                    },
                )
                .await
                .unwrap();
            })
        };
        let join = ToServer::Join {
            name: "ana".into(),
            token: None,
            seen_message: 0,
            version: String::new(),
        };
        let w = learner_side(&mut a, &binding, &code, join).await.unwrap();
        assert_eq!(w.hold.as_deref(), Some("l3"));
        server.await.unwrap();

        // A wrong code is refused, fatally, and the learner says nothing more.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move { server_side(&mut b, &binding, &code).await });
        let wrong = JoinCode::parse("ZZZZ-EFGH-JKMN").unwrap();
        let join = ToServer::Join {
            name: "ana".into(),
            token: None,
            seen_message: 0,
            version: String::new(),
        };
        let err = learner_side(&mut a, &binding, &wrong, join)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Refused::Fatal(ErrorCode::WrongCode, _)),
            "{err}"
        );
        assert!(
            server
                .await
                .unwrap()
                .unwrap_err()
                .contains("wrong join code")
        );
    }
}
