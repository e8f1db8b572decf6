//! What a learner's kubetutor remembers of classrooms, in
//! `<data-dir>/classroom.json` (mode 0600: it holds the join code and the
//! tokens): the classroom `kubetutor join` chose, and for each classroom
//! joined, the name, token and last message seen, so that joining again
//! (after a restart of either side) is being the same learner.

use super::code::JoinTarget;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in the data directory.
pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("classroom.json")
}

/// A classroom joined once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Seat {
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub seen_message: u64,
}

/// The classroom `kubetutor join` remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// `CODE@HOST:PORT`.
    pub target: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Membership {
    #[serde(default)]
    pub joined: Option<Joined>,
    /// By [`seat_key`].
    #[serde(default)]
    pub seats: BTreeMap<String, Seat>,
}

/// One classroom's key: its address and a fingerprint of its code (a new
/// classroom at the same address is another classroom).
pub fn seat_key(t: &JoinTarget) -> String {
    let k = t.code.key();
    let fp: String = ring::digest::digest(&ring::digest::SHA256, &k).as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}#{fp}", t.addr())
}

impl Membership {
    /// The remembered memberships; a missing or unreadable file is none
    /// (the learner joins afresh and gets a new token).
    pub fn load(data_dir: &Path) -> Membership {
        std::fs::read(file(data_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::paths::write_private(&file(data_dir), &json)
    }

    /// The remembered classroom, if any, as a target to join.
    pub fn remembered(&self) -> Option<(JoinTarget, String)> {
        let j = self.joined.as_ref()?;
        Some((JoinTarget::parse(&j.target).ok()?, j.name.clone()))
    }
}

/// Reads, changes and saves the file (errors are logged: a learner who
/// cannot save a token just joins as new next time... under another name).
pub fn update(data_dir: &Path, f: impl FnOnce(&mut Membership)) {
    let mut m = Membership::load(data_dir);
    f(&mut m);
    if let Err(e) = m.save(data_dir) {
        tracing::warn!("cannot save {}: {e}", file(data_dir).display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_and_private() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Membership::load(dir.path()), Membership::default());
        let t = JoinTarget::parse("ABCD-EFGH@10.0.0.1:7443").unwrap();
        update(dir.path(), |m| {
            m.joined = Some(Joined {
                target: t.to_string(),
                name: "ana".into(),
            });
            m.seats.insert(
                seat_key(&t),
                Seat {
                    name: "ana".into(),
                    token: "tok".into(),
                    seen_message: 2,
                },
            );
        });
        let m = Membership::load(dir.path());
        assert_eq!(m.remembered().unwrap(), (t.clone(), "ana".into()));
        assert_eq!(m.seats[&seat_key(&t)].seen_message, 2);
        let other = JoinTarget::parse("ABCD-EFGJ@10.0.0.1:7443").unwrap();
        assert_ne!(seat_key(&t), seat_key(&other));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
