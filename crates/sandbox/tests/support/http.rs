//! A minimal blocking HTTPS/1.1 client for raw API requests (no
//! keep-alive): what the dry-run and hardening tests send byte for byte.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use sandbox::Sandbox;
use serde_json::Value;
use tokio_rustls::rustls;

/// Where and how to reach a sandbox's API.
#[derive(Clone)]
pub struct Api {
    pub addr: String,
    pub token: String,
    tls: Arc<rustls::ClientConfig>,
}

/// An answer: status code, headers (lower-cased names) and body.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Api {
    pub fn of(sb: &Sandbox) -> Api {
        Api {
            addr: sb.addr().to_string(),
            token: sb.token().to_string(),
            tls: client_tls(sb.ca_pem()),
        }
    }

    /// Sends a request; `body` with its content type.
    pub fn send(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Answer {
        let tcp = std::net::TcpStream::connect(&self.addr).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let (ct, bytes) = body.unwrap_or(("application/json", b""));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: {ct}\r\nAccept: application/json\r\nUser-Agent: conformance-test/v1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            self.token,
            bytes.len()
        );
        // The server may answer (413) and close before the whole body is
        // written: what it answered is read all the same.
        let _ = s
            .write_all(head.as_bytes())
            .and_then(|()| s.write_all(bytes));
        let mut raw = Vec::new();
        // The server may close without a TLS close_notify; what arrived is enough.
        let _ = s.read_to_end(&mut raw);
        parse(&raw)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None)
    }

    pub fn json(&self, method: &str, path: &str, body: &Value) -> Answer {
        let b = serde_json::to_vec(body).unwrap();
        self.send(method, path, Some(("application/json", &b)))
    }

    pub fn patch(&self, path: &str, content_type: &str, body: &str) -> Answer {
        self.send("PATCH", path, Some((content_type, body.as_bytes())))
    }
}

/// Splits a response; a chunked body is de-chunked.
fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        code,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            out.push_str(rest.get(..n.min(rest.len())).unwrap_or(""));
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

pub fn client_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use base64::Engine as _;
    let body: String = ca_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
