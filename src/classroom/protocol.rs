//! The classroom protocol: JSON messages in length-prefixed frames over
//! TLS, versioned.
//!
//! Each frame is a 4-byte big-endian length, then that many bytes of one
//! JSON object with a `type`. No frame is larger than [`MAX_FRAME`]: a
//! bigger one is refused before it is read. The conversation:
//!
//! ```text
//! learner                               server
//! hello {protocol, nonce}          ──►
//!                                  ◄──  challenge {protocol, nonce}
//! prove {proof}                    ──►            (wrong code: error, close)
//!                                  ◄──  proven {proof}   (learner checks it)
//! join {name, token, seen_message} ──►
//!                                  ◄──  welcome {token, hold, message}
//! report {...} / ping              ──►
//!                                  ◄──  message / hold / pong / error
//! ```
//!
//! The server only ever sends words to show (a message) and a lesson to
//! stop at (a hold): nothing a learner's kubetutor runs.

use super::report::Report;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version both sides speak.
pub const PROTOCOL: u32 = 1;
/// The largest frame either side accepts (a report of the whole course is
/// a few KiB).
pub const MAX_FRAME: usize = 64 * 1024;

/// What a learner's kubetutor sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Unknown fields are ignored: a newer learner may add optional ones.
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToServer {
    Hello {
        protocol: u32,
        /// 32 random bytes, base64.
        nonce: String,
    },
    Prove {
        proof: String,
    },
    Join {
        /// The display name (unique in the classroom).
        name: String,
        /// The token the server gave at the first join, to be recognised.
        #[serde(default)]
        token: Option<String>,
        /// The id of the last instructor message already shown.
        #[serde(default)]
        seen_message: u64,
        /// kubetutor's version, for the instructor.
        #[serde(default)]
        version: String,
    },
    Report {
        report: Box<Report>,
    },
    Ping,
}

/// A message from the instructor to every learner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub text: String,
    pub at: jiff::Timestamp,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToLearner {
    Challenge {
        protocol: u32,
        nonce: String,
    },
    Proven {
        proof: String,
    },
    Welcome {
        /// Keep it to be recognised when joining again.
        token: String,
        /// The lesson the class is held at, if any.
        hold: Option<String>,
        /// The latest message, when it is newer than `seen_message`.
        message: Option<Message>,
    },
    Message {
        message: Message,
    },
    /// The class is held at this lesson; `None`: released.
    Hold {
        lesson: Option<String>,
    },
    Pong,
    /// Why the server refuses something; `fatal`: it closes the connection
    /// and joining again the same way will not help.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default)]
        fatal: bool,
    },
}

/// Kinds of refusal, for the learner's kubetutor to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The learner does not speak this protocol version.
    Protocol,
    /// The proof of the join code was wrong.
    WrongCode,
    /// Another learner has this name.
    NameTaken,
    /// The name is empty, too long or has forbidden characters.
    BadName,
    /// The classroom has as many learners as it takes.
    Full,
    /// A frame that is not a message the server understands.
    Malformed,
    /// A frame over the size limit.
    TooLarge,
    /// Too many frames too fast.
    TooFast,
    /// A message out of order (a report before joining...).
    Unexpected,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The other side closed the connection between frames.
    Closed,
    /// The announced length is over the limit (nothing more was read).
    TooLarge(usize),
    /// The bytes are not a message of this protocol.
    Malformed(String),
    Io(std::io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the connection was closed"),
            FrameError::TooLarge(n) => write!(
                f,
                "a message of {n} bytes is over the limit of {MAX_FRAME} bytes"
            ),
            FrameError::Malformed(why) => write!(f, "a message could not be read: {why}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Reads one frame and decodes it.
pub async fn read_frame<R, T>(r: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Malformed("the connection closed in the middle of a message".into())
        } else {
            FrameError::Io(e)
        }
    })?;
    serde_json::from_slice(&buf).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Encodes and writes one frame (and flushes it).
pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a message of {} bytes is over the limit of {MAX_FRAME} bytes",
            body.len()
        )));
    }
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_are_bounded() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let msg = ToServer::Join {
            name: "ana".into(),
            token: None,
            seen_message: 3,
            version: "0.1.0".into(),
        };
        write_frame(&mut a, &msg).await.unwrap();
        let back: ToServer = read_frame(&mut b).await.unwrap();
        assert_eq!(back, msg);

        // An oversized length is refused before any body is read.
        a.write_all(&(u32::MAX).to_be_bytes()).await.unwrap();
        let err = read_frame::<_, ToServer>(&mut b).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(_)), "{err}");

        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let junk = b"{\"type\":\"launch_missiles\"}";
        a.write_all(&u32::try_from(junk.len()).unwrap().to_be_bytes())
            .await
            .unwrap();
        a.write_all(junk).await.unwrap();
        let err = read_frame::<_, ToServer>(&mut b).await.unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)), "{err}");
        drop(a);
        assert!(matches!(
            read_frame::<_, ToServer>(&mut b).await,
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn wire_names() {
        let r: ToServer = serde_json::from_str(r#"{"type":"ping","added_later":1}"#).unwrap();
        assert_eq!(r, ToServer::Ping);
        let e = ToLearner::Error {
            code: ErrorCode::NameTaken,
            message: "m".into(),
            fatal: true,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"name_taken\""), "{text}");
    }
}
