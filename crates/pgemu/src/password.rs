//! Role passwords as PostgreSQL keeps them: never in clear, but as a
//! SCRAM-SHA-256 verifier (`password_encryption = scram-sha-256`, the
//! default) or an MD5 hash (`md5` + md5(password || role)); a hashed
//! value given to `CREATE ROLE ... PASSWORD` is stored as it is. Checks a
//! cleartext password against either, and answers the `md5` method's
//! salted challenge.

use md5::{Digest as _, Md5};

use crate::scram::Verifier;

/// What `password_encryption` may be set to.
pub const ENCRYPTIONS: &[&str] = &["md5", "scram-sha-256"];

/// A stored secret, as `pg_authid.rolpassword` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Scram(Verifier),
    /// `md5` followed by 32 hex digits.
    Md5(String),
    /// Anything else PostgreSQL would treat as a plain password (only
    /// written by older versions of the emulation).
    Plain(String),
}

impl Secret {
    pub fn parse(stored: &str) -> Secret {
        if let Some(v) = Verifier::parse(stored) {
            return Secret::Scram(v);
        }
        if is_md5_hash(stored) {
            return Secret::Md5(stored.to_string());
        }
        Secret::Plain(stored.to_string())
    }

    /// Whether a cleartext password (the `password` method) is right.
    pub fn matches(&self, role: &str, password: &str) -> bool {
        match self {
            Secret::Scram(v) => v.matches(password),
            Secret::Md5(hash) => *hash == md5_password(role, password),
            Secret::Plain(p) => p == password,
        }
    }
}

fn is_md5_hash(s: &str) -> bool {
    s.len() == 35
        && s.starts_with("md5")
        && s[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `md5` + hex(md5(password || role)): the stored MD5 hash.
pub fn md5_password(role: &str, password: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(role.as_bytes());
    format!("md5{}", hex(&h.finalize()))
}

/// The answer to an md5 challenge from the stored hash (`md5...`):
/// `md5` + hex(md5(hex-part || salt)). The client computes the same from
/// the password.
pub fn md5_response(stored_hash: &str, salt: [u8; 4]) -> String {
    let mut h = Md5::new();
    h.update(stored_hash.trim_start_matches("md5").as_bytes());
    h.update(salt);
    format!("md5{}", hex(&h.finalize()))
}

/// What `CREATE ROLE ... PASSWORD 'x'` stores, under `password_encryption`
/// (`None` means the default, scram-sha-256). Already-hashed values are
/// kept as they are.
pub fn encrypt(role: &str, password: &str, encryption: Option<&str>) -> String {
    if Verifier::parse(password).is_some() || is_md5_hash(password) {
        return password.to_string();
    }
    match encryption {
        Some("md5") => md5_password(role, password),
        _ => Verifier::new(password).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_postgres_hashes() {
        // SELECT 'md5' || md5('secret' || 'postgres')
        assert_eq!(
            md5_password("postgres", "secret"),
            "md553f48b7c4b76a86ce72276c5755f217d"
        );
        let stored = encrypt("postgres", "secret", None);
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        let secret = Secret::parse(&stored);
        assert!(secret.matches("postgres", "secret"));
        assert!(!secret.matches("postgres", "Secret"));
        let md5 = encrypt("postgres", "secret", Some("md5"));
        assert_eq!(Secret::parse(&md5), Secret::Md5(md5.clone()));
        assert!(Secret::parse(&md5).matches("postgres", "secret"));
        assert_eq!(encrypt("other", &md5, None), md5, "a hash is kept");
        assert_eq!(encrypt("other", &stored, Some("md5")), stored);
        assert_eq!(Secret::parse("hunter2"), Secret::Plain("hunter2".into()));
    }
}
