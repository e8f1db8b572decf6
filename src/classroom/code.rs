//! The join code an instructor reads out, and where learners find the
//! classroom server: `CODE@HOST:PORT`.
//!
//! A code is 16 characters of Crockford's base32 (80 bits), shown in four
//! groups (`7KQ2-M9XD-4HPA-WT3R`). It is the classroom's shared secret:
//! it never crosses the network, both sides prove they know it over the
//! TLS session they share (see `handshake`). Reading it back is forgiving,
//! as Crockford intended: case, dashes and spaces do not matter, `O` is
//! `0` and `I`/`L` are `1`.

use ring::digest;
use std::fmt;

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a generated code.
const GENERATED_LEN: usize = 16;
/// Bounds of a code given with `--code`.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 64;

/// A classroom's join code, normalised (upper case, no separators).
#[derive(Clone, PartialEq, Eq)]
pub struct JoinCode(String);

impl fmt::Debug for JoinCode {
    // The code is a secret: never in logs by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinCode(..)")
    }
}

impl JoinCode {
    /// A fresh random code of 80 bits.
    pub fn generate() -> Result<JoinCode, String> {
        use ring::rand::SecureRandom as _;
        let mut bytes = [0u8; GENERATED_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system's random generator failed".to_string())?;
        Ok(JoinCode(
            bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        ))
    }

    /// Reads a code as a person typed it. Letters and digits only (dashes
    /// and spaces are ignored), between 8 and 64 of them.
    pub fn parse(text: &str) -> Result<JoinCode, String> {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '-' | ' ' | '_' => {}
                c if c.is_ascii_alphanumeric() => out.push(match c.to_ascii_uppercase() {
                    'O' => '0',
                    'I' | 'L' => '1',
                    c => c,
                }),
                _ => {
                    return Err(format!(
                        "a join code is made of letters and digits (dashes are ignored), not `{}`",
                        c.escape_default()
                    ));
                }
            }
        }
        if !(MIN_LEN..=MAX_LEN).contains(&out.len()) {
            return Err(format!(
                "a join code has {MIN_LEN} to {MAX_LEN} letters and digits; this one has {}",
                out.len()
            ));
        }
        Ok(JoinCode(out))
    }

    /// Whether the code is weaker than a generated one.
    pub fn is_short(&self) -> bool {
        self.0.len() < GENERATED_LEN
    }

    /// The key both sides derive from the code for their proofs.
    pub fn key(&self) -> [u8; 32] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"kubetutor-classroom-v1\0");
        ctx.update(self.0.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// The code as it is stored (normalised).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JoinCode {
    /// Groups of four separated by dashes, to be read out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(chunk).unwrap_or(""))?;
        }
        Ok(())
    }
}

/// `CODE@HOST:PORT`: what a learner types to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTarget {
    pub code: JoinCode,
    /// A host name, an IPv4 address or an IPv6 address (without brackets).
    pub host: String,
    pub port: u16,
}

impl JoinTarget {
    pub fn parse(text: &str) -> Result<JoinTarget, String> {
        let text = text.trim();
        let Some((code, addr)) = text.rsplit_once('@') else {
            return Err(format!(
                "`{text}` is not a classroom address: give CODE@HOST:PORT, as your instructor says it (e.g. 7KQ2-M9XD-4HPA-WT3R@192.168.1.10:7443)"
            ));
        };
        let code = JoinCode::parse(code)?;
        let (host, port) = split_host_port(addr)?;
        Ok(JoinTarget { code, host, port })
    }

    /// `HOST:PORT` (IPv6 in brackets), for connecting and showing.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for JoinTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.code, self.addr())
    }
}

/// `HOST:PORT` or `[V6]:PORT`.
pub fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let bad = || format!("`{addr}` is not HOST:PORT (e.g. 192.168.1.10:7443)");
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        addr.rsplit_once(':').ok_or_else(bad)?
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '%'));
    if !valid_host {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(format!("`{addr}`: port 0 is not a port to join"));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_grouped_and_read_back() {
        let c = JoinCode::generate().unwrap();
        let shown = c.to_string();
        assert_eq!(shown.len(), 19, "{shown}");
        assert_eq!(shown.matches('-').count(), 3);
        assert_eq!(JoinCode::parse(&shown.to_lowercase()).unwrap(), c);
        assert!(!c.is_short());
        assert_ne!(JoinCode::generate().unwrap(), c);
        assert_eq!(format!("{c:?}"), "JoinCode(..)");
    }

    #[test]
    fn reading_is_forgiving_but_bounded() {
        let a = JoinCode::parse("ab0l-i9xd").unwrap();
        assert_eq!(a.as_str(), "AB0119XD");
        assert_eq!(JoinCode::parse("AB01 19XD").unwrap(), a);
        assert_eq!(JoinCode::parse("abol19xd").unwrap(), a);
        assert!(a.is_short());
        assert!(JoinCode::parse("short").unwrap_err().contains("8 to 64"));
        assert!(JoinCode::parse("abcd/efgh").unwrap_err().contains("`/`"));
        assert_ne!(a.key(), JoinCode::parse("AB0119XE").unwrap().key());
    }

    #[test]
    fn targets() {
        let t = JoinTarget::parse("7kq2-m9xd-4hpa-wt3r@192.168.1.10:7443").unwrap();
        assert_eq!(t.host, "192.168.1.10");
        assert_eq!(t.port, 7443);
        assert_eq!(t.to_string(), "7KQ2-M9XD-4HPA-WT3R@192.168.1.10:7443");
        let v6 = JoinTarget::parse("ABCDEFGH@[::1]:9000").unwrap();
        assert_eq!((v6.host.as_str(), v6.addr()), ("::1", "[::1]:9000".into()));
        assert!(
            JoinTarget::parse("ABCDEFGH")
                .unwrap_err()
                .contains("CODE@HOST:PORT")
        );
        assert!(JoinTarget::parse("ABCDEFGH@host").is_err());
        assert!(JoinTarget::parse("ABCDEFGH@host:0").is_err());
        assert!(JoinTarget::parse("ABCDEFGH@ho st:80").is_err());
    }
}
