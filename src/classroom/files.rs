//! The instructor's classroom directory, `<data-dir>/classroom/` (mode
//! 0700, every file 0600): the join code and TLS key (`server.json`, kept
//! so that a restarted `classroom serve` is the same classroom to the
//! learners), the roster (`roster.json`: names, hashed tokens, last
//! reports, hold, message) and, while `serve` runs, the live status
//! `classroom status` reads (`status.json`, with the server's pid).

use super::code::JoinCode;
use super::roster::Roster;
use super::tls::Material;
use anyhow::{Context as _, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The classroom directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("classroom")
}

/// The live status of a running `classroom serve`.
pub fn status_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("status.json")
}

fn server_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("server.json")
}

fn roster_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("roster.json")
}

/// Creates the classroom directory, readable by its owner only.
pub fn create_dir(data_dir: &Path) -> Result<PathBuf> {
    let d = dir(data_dir);
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(&d)
        .with_context(|| format!("cannot create the classroom directory {}", d.display()))?;
    #[cfg(unix)]
    {
        // An older directory may have been made with the umask's mode.
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
    }
    Ok(d)
}

/// What makes the classroom the same from one `serve` to the next.
#[derive(Debug, Clone)]
pub struct Identity {
    pub code: JoinCode,
    pub tls: Material,
}

impl Identity {
    /// The kept identity, with `code` instead of the kept one when given;
    /// a fresh one (new code, new certificate) when there is none, it is
    /// unreadable, or `fresh` asks for it.
    pub fn load_or_create(
        data_dir: &Path,
        code: Option<JoinCode>,
        fresh: bool,
    ) -> Result<Identity> {
        create_dir(data_dir)?;
        let kept = (!fresh).then(|| Identity::load(data_dir)).flatten();
        let id = match (kept, code) {
            (Some(mut k), Some(c)) => {
                k.code = c;
                k
            }
            (Some(k), None) => return Ok(k),
            (None, c) => Identity {
                code: match c {
                    Some(c) => c,
                    None => JoinCode::generate().map_err(anyhow::Error::msg)?,
                },
                tls: super::tls::generate()?,
            },
        };
        id.save(data_dir)?;
        Ok(id)
    }

    fn load(data_dir: &Path) -> Option<Identity> {
        let text = std::fs::read_to_string(server_file(data_dir)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let b64 = |k: &str| B64.decode(v.get(k)?.as_str()?).ok();
        Some(Identity {
            code: JoinCode::parse(v.get("code")?.as_str()?).ok()?,
            tls: Material {
                cert_der: b64("cert_der")?,
                key_der: b64("key_der")?,
            },
        })
    }

    fn save(&self, data_dir: &Path) -> Result<()> {
        let doc = serde_json::json!({
            "code": self.code.as_str(),
            "cert_der": B64.encode(&self.tls.cert_der),
            "key_der": B64.encode(&self.tls.key_der),
        });
        let path = server_file(data_dir);
        crate::paths::write_private(&path, doc.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The kept roster (everyone disconnected), and a warning when the file
/// was unreadable (it is moved aside, the class starts empty).
pub fn load_roster(data_dir: &Path) -> (Roster, Option<String>) {
    let path = roster_file(data_dir);
    let Ok(bytes) = std::fs::read(&path) else {
        return (Roster::default(), None);
    };
    match serde_json::from_slice::<Roster>(&bytes) {
        Ok(r) => (r, None),
        Err(e) => {
            let aside = path.with_extension(format!(
                "json.corrupt-{}",
                jiff::Timestamp::now().as_second()
            ));
            let _ = std::fs::rename(&path, &aside);
            (
                Roster::default(),
                Some(format!(
                    "the roster {} was unreadable ({e}); it was moved to {} and the class starts empty",
                    path.display(),
                    aside.display()
                )),
            )
        }
    }
}

pub fn save_roster(data_dir: &Path, roster: &Roster) -> std::io::Result<()> {
    let json = serde_json::to_vec(roster).map_err(std::io::Error::other)?;
    crate::paths::write_private(&roster_file(data_dir), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_kept_and_private() {
        let d = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(d.path(), None, false).unwrap();
        let b = Identity::load_or_create(d.path(), None, false).unwrap();
        assert_eq!(a.code, b.code);
        assert_eq!(a.tls, b.tls);
        let given = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        let c = Identity::load_or_create(d.path(), Some(given.clone()), false).unwrap();
        assert_eq!((c.code, c.tls), (given, a.tls.clone()));
        let fresh = Identity::load_or_create(d.path(), None, true).unwrap();
        assert_ne!(fresh.tls, a.tls);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir(d.path())), 0o700);
            assert_eq!(mode(&server_file(d.path())), 0o600);
        }
    }

    #[test]
    fn roster_round_trip_and_corrupt_file() {
        let d = tempfile::tempdir().unwrap();
        create_dir(d.path()).unwrap();
        let mut r = Roster::default();
        r.admit("ana", None).unwrap();
        save_roster(d.path(), &r).unwrap();
        let (back, warn) = load_roster(d.path());
        assert!(warn.is_none());
        assert!(!back.learners["ana"].connected);
        std::fs::write(roster_file(d.path()), "{").unwrap();
        let (empty, warn) = load_roster(d.path());
        assert!(empty.learners.is_empty());
        assert!(warn.unwrap().contains("moved to"));
    }
}
