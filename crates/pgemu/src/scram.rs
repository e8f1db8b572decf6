//! SCRAM-SHA-256 (RFC 5802 and RFC 7677) as PostgreSQL speaks it: the
//! verifier kept in the catalog instead of the password
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), the
//! server's side of the exchange (client-first, server-first,
//! client-final, server-final) and the client's side that libpq plays.
//!
//! As in PostgreSQL, the user name inside the SCRAM messages is ignored
//! (the startup packet names the role), channel binding is never used (the
//! emulation has no TLS), and a password is SASLprep-normalized when it
//! can be, else used as it is.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

/// The mechanism name, as the server lists it and the client picks it.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// PostgreSQL's `scram_iterations` default.
pub const ITERATIONS: u32 = 4096;
/// PostgreSQL's salt and raw nonce lengths.
const SALT_LEN: usize = 16;
const RAW_NONCE_LEN: usize = 18;
const KEY_LEN: usize = 32;
/// Iteration counts above this are refused when read (a verifier or a
/// server-first message could otherwise make us spin for hours).
const MAX_ITERATIONS: u32 = 10_000_000;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; KEY_LEN];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    Sha256::digest(data).into()
}

/// Equality that takes the same time wherever the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SASLprep (RFC 4013) of a password, or the password as it is when it
/// is not valid for SASLprep (what PostgreSQL and libpq do).
fn normalize(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(p) => p.as_bytes().to_vec(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    // PBKDF2 with HMAC-SHA-256 is Hi() of RFC 5802.
    if pbkdf2::pbkdf2::<HmacSha256>(&normalize(password), salt, iterations, &mut out).is_err() {
        return [0; KEY_LEN];
    }
    out
}

/// A stored SCRAM secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; KEY_LEN],
    pub server_key: [u8; KEY_LEN],
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Verifier {
        let salt: [u8; SALT_LEN] = rand::random();
        Verifier::with_salt(password, &salt, ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac(&salted, &[b"Client Key"]);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac(&salted, &[b"Server Key"]),
        }
    }

    /// Reads `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return None;
        }
        let key = |s: &str| -> Option<[u8; KEY_LEN]> { B64.decode(s).ok()?.try_into().ok() };
        Some(Verifier {
            iterations,
            salt: B64.decode(salt).ok()?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// Whether `password` is the one this verifier was made from.
    pub fn matches(&self, password: &str) -> bool {
        let other = Verifier::with_salt(password, &self.salt, self.iterations);
        same(&other.stored_key, &self.stored_key) && same(&other.server_key, &self.server_key)
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

/// Why a SCRAM exchange stopped, as the server reports it
/// (`malformed SCRAM message` and its detail, SQLSTATE 08P01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub message: &'static str,
    pub detail: Option<String>,
}

fn malformed(detail: impl Into<String>) -> ProtocolError {
    ProtocolError {
        message: "malformed SCRAM message",
        detail: Some(detail.into()),
    }
}

/// Reads `<attr>=<value>` up to the next comma, advancing `input`.
fn attribute<'a>(input: &mut &'a str, attr: char) -> Result<&'a str, ProtocolError> {
    let Some(first) = input.chars().next() else {
        return Err(malformed(format!(
            "Expected attribute \"{attr}\" but found end of string."
        )));
    };
    if first != attr {
        return Err(malformed(format!(
            "Expected attribute \"{attr}\" but found \"{first}\"."
        )));
    }
    let Some(rest) = input[first.len_utf8()..].strip_prefix('=') else {
        return Err(malformed(format!(
            "Expected character \"=\" for attribute \"{attr}\"."
        )));
    };
    let (value, after) = match rest.split_once(',') {
        Some((v, a)) => (v, a),
        None => (rest, ""),
    };
    *input = after;
    Ok(value)
}

/// The server's side of one exchange.
pub struct ServerExchange {
    /// None for a mock exchange (no such role, no SCRAM secret): it goes
    /// through the motions and fails at the end, as PostgreSQL does.
    verifier: Option<Verifier>,
    mock_salt: Vec<u8>,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// What the client's final message proved.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The password is right: send this server-final message.
    Verified(String),
    /// Wrong password (or a mock exchange).
    Failed,
}

impl ServerExchange {
    /// `verifier` is the role's secret; `mock_salt` stands in for it when
    /// there is none, so that a missing role looks like a wrong password.
    pub fn new(verifier: Option<Verifier>, mock_salt: &[u8]) -> ServerExchange {
        ServerExchange {
            verifier,
            mock_salt: mock_salt.to_vec(),
            gs2_header: String::new(),
            client_first_bare: String::new(),
            server_first: String::new(),
            nonce: String::new(),
        }
    }

    /// Reads client-first-message; returns server-first-message.
    pub fn client_first(&mut self, message: &[u8]) -> Result<String, ProtocolError> {
        let text =
            std::str::from_utf8(message).map_err(|_| malformed("Message is not valid UTF-8."))?;
        let mut rest = text;
        let flag = rest.chars().next().unwrap_or('\0');
        match flag {
            'n' | 'y' => rest = &rest[1..],
            'p' => {
                return Err(malformed(
                    "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.",
                ));
            }
            _ => {
                return Err(malformed(format!(
                    "Unexpected channel-binding flag \"{}\".",
                    flag.escape_default()
                )));
            }
        }
        let Some(after) = rest.strip_prefix(',') else {
            let c = rest.chars().next().map(String::from).unwrap_or_default();
            return Err(malformed(format!(
                "Comma expected, but found character \"{c}\"."
            )));
        };
        rest = after;
        if rest.starts_with('a') {
            return Err(ProtocolError {
                message: "client uses authorization identity, but it is not supported",
                detail: None,
            });
        }
        let Some(bare) = rest.strip_prefix(',') else {
            let c = rest.chars().next().map(String::from).unwrap_or_default();
            return Err(malformed(format!(
                "Unexpected attribute \"{c}\" in client-first-message."
            )));
        };
        self.gs2_header = text[..text.len() - bare.len()].to_string();
        self.client_first_bare = bare.to_string();
        let mut rest = bare;
        if rest.starts_with('m') {
            return Err(ProtocolError {
                message: "client requires an unsupported SCRAM extension",
                detail: None,
            });
        }
        // The user name is ignored: the startup packet's counts.
        let _user = attribute(&mut rest, 'n')?;
        let client_nonce = attribute(&mut rest, 'r')?;
        if client_nonce.is_empty()
            || !client_nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(malformed("Expected a printable nonce."));
        }
        let raw: [u8; RAW_NONCE_LEN] = rand::random();
        self.nonce = format!("{client_nonce}{}", B64.encode(raw));
        let (salt, iterations) = match &self.verifier {
            Some(v) => (v.salt.clone(), v.iterations),
            None => (self.mock_salt.clone(), ITERATIONS),
        };
        self.server_first = format!("r={},s={},i={iterations}", self.nonce, B64.encode(salt));
        Ok(self.server_first.clone())
    }

    /// Reads client-final-message and checks the proof.
    pub fn client_final(&self, message: &[u8]) -> Result<Outcome, ProtocolError> {
        let text =
            std::str::from_utf8(message).map_err(|_| malformed("Message is not valid UTF-8."))?;
        let mut rest = text;
        let binding = attribute(&mut rest, 'c')?;
        if B64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ProtocolError {
                message: "SCRAM channel binding check failed",
                detail: None,
            });
        }
        let nonce = attribute(&mut rest, 'r')?;
        if nonce != self.nonce {
            return Err(ProtocolError {
                message: "invalid SCRAM response",
                detail: Some("Nonce does not match.".into()),
            });
        }
        // Optional extensions come before the proof, which ends the message.
        let proof = loop {
            let start = text.len() - rest.len();
            let Some(attr) = rest.chars().next() else {
                return Err(malformed("Attribute expected, but found end of string."));
            };
            let value = attribute(&mut rest, attr)?;
            if attr == 'p' {
                break (start, value);
            }
        };
        if !rest.is_empty() {
            return Err(malformed(
                "Garbage found at the end of client-final-message.",
            ));
        }
        let Ok(client_proof) = B64.decode(proof.1) else {
            return Err(malformed("Malformed proof in client-final-message."));
        };
        if client_proof.len() != KEY_LEN {
            return Err(malformed("Malformed proof in client-final-message."));
        }
        // client-final-message-without-proof: everything before ",p=".
        let without_proof = &text[..proof.0.saturating_sub(1)];
        let Some(v) = &self.verifier else {
            return Ok(Outcome::Failed);
        };
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac(&v.stored_key, &[auth_message.as_bytes()]);
        let client_key: Vec<u8> = client_proof
            .iter()
            .zip(signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !same(&sha256(&client_key), &v.stored_key) {
            return Ok(Outcome::Failed);
        }
        let server_signature = hmac(&v.server_key, &[auth_message.as_bytes()]);
        Ok(Outcome::Verified(format!(
            "v={}",
            B64.encode(server_signature)
        )))
    }
}

/// Why the client gave up on an exchange, worded as libpq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError(pub String);

/// The client's side of one exchange.
pub struct ClientExchange {
    password: String,
    client_nonce: String,
    client_first_bare: String,
    server_signature: Option<[u8; KEY_LEN]>,
}

impl ClientExchange {
    pub fn new(password: &str) -> ClientExchange {
        let raw: [u8; RAW_NONCE_LEN] = rand::random();
        let client_nonce = B64.encode(raw);
        ClientExchange {
            password: password.to_string(),
            client_first_bare: format!("n=,r={client_nonce}"),
            client_nonce,
            server_signature: None,
        }
    }

    /// client-first-message: no channel binding (`n,,`), the user name
    /// left empty as libpq does.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Reads server-first-message; returns client-final-message.
    pub fn server_first(&mut self, message: &[u8]) -> Result<String, ClientError> {
        let bad = |what: &str| ClientError(format!("malformed SCRAM message ({what})"));
        let text = std::str::from_utf8(message).map_err(|_| bad("invalid UTF-8"))?;
        let mut rest = text;
        let nonce = attribute(&mut rest, 'r').map_err(|_| bad("attribute \"r\" expected"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ClientError(
                "invalid SCRAM response (nonce mismatch)".into(),
            ));
        }
        let salt = attribute(&mut rest, 's').map_err(|_| bad("attribute \"s\" expected"))?;
        let salt = B64.decode(salt).map_err(|_| bad("invalid salt"))?;
        let iterations = attribute(&mut rest, 'i').map_err(|_| bad("attribute \"i\" expected"))?;
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or_else(|| bad("invalid iteration count"))?;
        if !rest.is_empty() {
            return Err(bad("garbage at end of server-first-message"));
        }
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, &[b"Client Key"]);
        let stored_key = sha256(&client_key);
        let server_key = hmac(&salted, &[b"Server Key"]);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = hmac(&stored_key, &[auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = Some(hmac(&server_key, &[auth_message.as_bytes()]));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks server-final-message: the server knew the password too.
    pub fn server_final(&self, message: &[u8]) -> Result<(), ClientError> {
        let text = std::str::from_utf8(message).unwrap_or("");
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ClientError(format!("SCRAM authentication failed: {e}")));
        }
        let mut rest = text;
        let signature = attribute(&mut rest, 'v')
            .ok()
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(|| {
                ClientError("malformed SCRAM message (invalid server signature)".into())
            })?;
        match &self.server_signature {
            Some(expected) if same(expected, &signature) => Ok(()),
            _ => Err(ClientError("incorrect server signature".into())),
        }
    }
}

/// The salt of a mock exchange: the same for one role on one server, so
/// that probing cannot tell a missing role from a wrong password.
pub fn mock_salt(role: &str, server_secret: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(role.as_bytes());
    h.update(server_secret);
    h.finalize()[..SALT_LEN].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange (user "user", password "pencil").
    #[test]
    fn rfc7677_example() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = Verifier::with_salt("pencil", &salt, 4096);
        let mut client = ClientExchange {
            password: "pencil".into(),
            client_nonce: "rOprNGfwEbeRWgbNEkqO".into(),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            server_signature: None,
        };
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = client.server_first(server_first.as_bytes()).unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(v.matches("pencil"));
        assert!(!v.matches("pencil2"));
        let text = v.to_string();
        assert_eq!(Verifier::parse(&text), Some(v));
    }

    #[test]
    fn server_and_client_agree_and_wrong_passwords_fail() {
        let v = Verifier::new("s3cret");
        for (password, ok) in [("s3cret", true), ("nope", false)] {
            let mut server = ServerExchange::new(Some(v.clone()), b"mock");
            let mut client = ClientExchange::new(password);
            let first = server
                .client_first(client.client_first().as_bytes())
                .unwrap();
            let fin = client.server_first(first.as_bytes()).unwrap();
            match server.client_final(fin.as_bytes()).unwrap() {
                Outcome::Verified(last) => {
                    assert!(ok);
                    client.server_final(last.as_bytes()).unwrap();
                }
                Outcome::Failed => assert!(!ok),
            }
        }
        // A mock exchange fails even with the "right" password.
        let mut server = ServerExchange::new(None, &mock_salt("ghost", b"k"));
        let mut client = ClientExchange::new("s3cret");
        let first = server
            .client_first(client.client_first().as_bytes())
            .unwrap();
        let fin = client.server_first(first.as_bytes()).unwrap();
        assert_eq!(
            server.client_final(fin.as_bytes()).unwrap(),
            Outcome::Failed
        );
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        let mut server = ServerExchange::new(None, b"x");
        let e = server
            .client_first(b"p=tls-server-end-point,,n=,r=abc")
            .unwrap_err();
        assert_eq!(e.message, "malformed SCRAM message");
        let e = server.client_first(b"x,,n=,r=abc").unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("Unexpected channel-binding flag \"x\".")
        );
        let e = server.client_first(b"n,a=bob,n=,r=abc").unwrap_err();
        assert_eq!(
            e.message,
            "client uses authorization identity, but it is not supported"
        );
        let e = server.client_first(b"n,,r=abc").unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("Expected attribute \"n\" but found \"r\".")
        );
        assert!(server.client_first(b"").is_err());
        let first = server.client_first(b"n,,n=,r=abc").unwrap();
        assert!(
            first.starts_with("r=abc") && first.ends_with(",i=4096"),
            "{first}"
        );
        let e = server.client_final(b"c=biws,r=wrong,p=AAAA").unwrap_err();
        assert_eq!(e.message, "invalid SCRAM response");
        assert!(Verifier::parse("SCRAM-SHA-256$0:AAAA$AAAA:AAAA").is_none());
        assert!(Verifier::parse("md5abc").is_none());
    }
}
