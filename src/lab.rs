//! The lab directory: where the course's assets are written so that the
//! `assets/...` paths in the lessons work from an installed kubetutor.
//!
//! The learner `cd`s into it and runs kubectl there; lessons ask them to
//! edit some files, so a file whose content differs from what kubetutor last
//! wrote is never overwritten silently: a manifest keeps the hash of every
//! file written, and an edited file is left alone and reported until the
//! learner asks for it to be restored.

use crate::course::Course;
use crate::text::{Lang, fill};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Environment variable that overrides the lab directory.
pub const LAB_DIR_ENV: &str = "KUBETUTOR_LAB_DIR";

/// The manifest file, inside the lab directory (hidden: `kubectl apply -f
/// assets/...` never sees it, it is at the top).
pub const MANIFEST_FILE: &str = ".kubetutor-lab.json";

/// The lab directory: `explicit`, else `$KUBETUTOR_LAB_DIR`, else
/// `<data-dir>/lab`.
pub fn lab_dir(explicit: Option<&Path>, data_dir: &Path) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(LAB_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    crate::paths::lab_dir(data_dir)
}

/// What kubetutor wrote last time, by path relative to the lab directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// `assets/01-ephemeral/deployment.yaml` → hash of the bytes written.
    files: BTreeMap<String, String>,
}

/// What [`sync`] did to each course file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The lab directory (absolute).
    pub dir: PathBuf,
    /// Written because they were missing.
    pub created: Vec<String>,
    /// Replaced by a newer course version (the learner had not edited them).
    pub updated: Vec<String>,
    /// Edited by the learner, put back to the course's version on request.
    pub restored: Vec<String>,
    /// Edited by the learner and left alone.
    pub kept: Vec<String>,
    /// Already identical to the course's version.
    pub unchanged: usize,
}

impl SyncReport {
    /// A few lines for the terminal: what changed, and how to restore the
    /// files that were kept.
    pub fn describe(&self, lang: Lang) -> String {
        let w = words(lang);
        let mut s = fill(w.dir, &[&self.dir.display()]);
        s.push('\n');
        let list = |label: &str, files: &[String], s: &mut String| {
            if !files.is_empty() {
                s.push_str(&format!("{label} ({}):\n", files.len()));
                for f in files {
                    s.push_str(&format!("  {f}\n"));
                }
            }
        };
        list(w.written, &self.created, &mut s);
        list(w.updated, &self.updated, &mut s);
        list(w.restored, &self.restored, &mut s);
        if !self.kept.is_empty() {
            list(w.kept, &self.kept, &mut s);
            s.push_str(w.kept_how);
            s.push('\n');
        }
        if self.created.is_empty()
            && self.updated.is_empty()
            && self.restored.is_empty()
            && self.kept.is_empty()
        {
            s.push_str(&fill(w.up_to_date, &[&self.unchanged]));
            s.push('\n');
        }
        s
    }
}

/// What `kubetutor lab` says, in the course language.
struct Words {
    dir: &'static str,
    written: &'static str,
    updated: &'static str,
    restored: &'static str,
    kept: &'static str,
    kept_how: &'static str,
    up_to_date: &'static str,
    kept_note: &'static str,
    restore_question: &'static str,
    kept_yours: &'static str,
    run_from: &'static str,
}

static EN: Words = Words {
    dir: "Lab directory: {0}",
    written: "Written",
    updated: "Updated to the course's new version",
    restored: "Restored to the course's version",
    kept: "You edited these files; they were left as they are",
    kept_how: "  (`kubetutor lab --restore FILE` puts one back, `kubetutor lab --force` all of them)",
    up_to_date: "All {0} course files are up to date.",
    kept_note: "note: {0} file(s) you edited in the lab were kept (`kubetutor lab` lists them)",
    restore_question: "Put these {0} file(s) back to the course's version (your changes are lost)?",
    kept_yours: "Kept your versions.",
    run_from: "Run the lessons' commands from there: cd {0}",
};

static FR: Words = Words {
    dir: "Répertoire de travail : {0}",
    written: "Écrits",
    updated: "Mis à jour vers la nouvelle version du cours",
    restored: "Remis à la version du cours",
    kept: "Vous avez modifié ces fichiers ; ils sont restés tels quels",
    kept_how: "  (`kubetutor lab --restore FICHIER` en remet un, `kubetutor lab --force` les remet tous)",
    up_to_date: "Les {0} fichiers du cours sont à jour.",
    kept_note: "note : {0} fichier(s) que vous avez modifiés dans le répertoire de travail sont conservés (`kubetutor lab` les liste)",
    restore_question: "Remettre ces {0} fichier(s) à la version du cours (vos modifications seront perdues) ?",
    kept_yours: "Vos versions sont conservées.",
    run_from: "Lancez les commandes des leçons depuis ce répertoire : cd {0}",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// Which edited files to put back to the course's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore<'a> {
    /// None: edited files are kept.
    Nothing,
    /// These paths (relative to the lab directory, or absolute inside it).
    Files(&'a [PathBuf]),
    /// Every edited file.
    All,
}

/// Write the course's assets into `dir`: missing files are created, files the
/// learner did not touch follow the course, edited files are kept unless
/// `restore` names them. Files the learner added are never touched.
pub fn sync(course: &Course, dir: &Path, restore: Restore<'_>) -> Result<SyncReport> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the lab directory {}: choose another one with --lab-dir or {LAB_DIR_ENV}",
            dir.display()
        )
    })?;
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot use the lab directory {}", dir.display()))?;
    let wanted: Vec<String> = match restore {
        Restore::Files(files) => files
            .iter()
            .map(|f| relative_name(&dir, f))
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    for w in &wanted {
        if course.asset(w).is_none() {
            let names: Vec<&str> = course.assets().map(|(p, _)| p).collect();
            bail!(
                "{w} is not a course file; the course files are:\n  {}",
                names.join("\n  ")
            );
        }
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut manifest = read_manifest(&manifest_path);
    let mut report = SyncReport {
        dir: dir.clone(),
        ..SyncReport::default()
    };
    for (rel, bytes) in course.assets() {
        let path = dir.join(rel);
        let want = hash(bytes);
        let current = match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let action = match &current {
            None => Some(&mut report.created),
            Some(cur) if cur.as_slice() == bytes => {
                report.unchanged += 1;
                None
            }
            // Still what kubetutor wrote: the course changed, follow it.
            Some(cur) if manifest.files.get(rel) == Some(&hash(cur)) => Some(&mut report.updated),
            Some(_) => {
                let asked = match restore {
                    Restore::All => true,
                    Restore::Files(_) => wanted.iter().any(|w| w == rel),
                    Restore::Nothing => false,
                };
                if asked {
                    Some(&mut report.restored)
                } else {
                    report.kept.push(rel.to_owned());
                    continue;
                }
            }
        };
        if let Some(list) = action {
            crate::paths::write_atomic(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            list.push(rel.to_owned());
        }
        manifest.files.insert(rel.to_owned(), want);
    }
    let json = serde_json::to_vec_pretty(&manifest).context("cannot encode the lab manifest")?;
    crate::paths::write_atomic(&manifest_path, &json)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(report)
}

/// `file` as a course path (`assets/...`): relative to the lab directory (or
/// to the current directory when it exists there), or absolute inside it.
fn relative_name(dir: &Path, file: &Path) -> Result<String> {
    let abs = if file.is_absolute() {
        Some(file.to_path_buf())
    } else if file.starts_with("assets") {
        None
    } else {
        std::env::current_dir().ok().map(|cwd| cwd.join(file))
    };
    let rel = match abs {
        Some(abs) => {
            let abs = normalize(&abs);
            match abs.strip_prefix(dir) {
                Ok(r) => r.to_path_buf(),
                Err(_) => bail!(
                    "{} is not in the lab directory {}",
                    file.display(),
                    dir.display()
                ),
            }
        }
        None => file.to_path_buf(),
    };
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Ok(parts.join("/"))
}

/// `a/./b/../c` → `a/c`, without touching the disk (the file may be gone).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    // The lab directory is canonical; so must the prefix we compare be.
    let mut existing = out.clone();
    let mut tail = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => tail.push(name.to_owned()),
            None => break,
        }
        if !existing.pop() {
            break;
        }
    }
    match std::fs::canonicalize(&existing) {
        Ok(mut c) => {
            for t in tail.iter().rev() {
                c.push(t);
            }
            c
        }
        Err(_) => out,
    }
}

fn read_manifest(path: &Path) -> Manifest {
    // A missing or damaged manifest only means "we don't know what we
    // wrote": every differing file then counts as edited, the safe side.
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// FNV-1a 64 plus the length: enough to tell whether a file is still what
/// kubetutor wrote (this is change detection, not security).
fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}:{}", bytes.len())
}

/// `kubetutor lab [--path] [--restore FILE]... [--force]`: write the assets,
/// then print the directory (only it with `--path`, for `cd "$(kubetutor lab
/// --path)"`) and what was done. On a terminal, edited files may be restored
/// after asking.
pub fn command(
    course: &Course,
    dir: &Path,
    path_only: bool,
    restore: &[PathBuf],
    force: bool,
    lang: Lang,
    out: &mut impl std::io::Write,
) -> Result<std::process::ExitCode> {
    use std::io::IsTerminal as _;
    let w = words(lang);
    let how = if force {
        Restore::All
    } else if restore.is_empty() {
        Restore::Nothing
    } else {
        Restore::Files(restore)
    };
    let mut report = sync(course, dir, how)?;
    if path_only {
        if !report.kept.is_empty() {
            eprintln!("{}", fill(w.kept_note, &[&report.kept.len()]));
        }
        writeln!(out, "{}", report.dir.display())?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if !report.kept.is_empty() && std::io::stdin().is_terminal() {
        write!(out, "{}", report.describe(lang))?;
        let question = fill(w.restore_question, &[&report.kept.len()]);
        if crate::prompt::confirm(lang, &question, out)? == Some(true) {
            let again = sync(course, dir, Restore::All)?;
            report.restored = again.restored;
            report.kept = again.kept;
        } else {
            writeln!(out, "{}", w.kept_yours)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
    }
    write!(out, "{}", report.describe(lang))?;
    writeln!(out, "{}", fill(w.run_from, &[&report.dir.display()]))?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::CourseFiles;

    fn course(version: &str) -> Course {
        let mut f = CourseFiles::new();
        f.insert(
            "lessons/en/01-a.md",
            b"---\nid: a\ntitle: T\nsummary: S\nminutes: 5\norder: 1\n---\n# T\n\n## S {#s}\n\n```check\nresource: {kind: Pod, name: a}\n```\n".to_vec(),
        );
        f.insert("assets/01/a.yaml", format!("a: {version}\n").into_bytes());
        f.insert("assets/01/b.yaml", b"b: 1\n".to_vec());
        Course::load(&f).unwrap()
    }

    #[test]
    fn writes_then_keeps_edits_then_restores() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let r = sync(&course("1"), &dir, Restore::Nothing).unwrap();
        assert_eq!(r.created, ["assets/01/a.yaml", "assets/01/b.yaml"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("assets/01/a.yaml")).unwrap(),
            "a: 1\n"
        );
        // Again: nothing to do.
        let r = sync(&course("1"), &dir, Restore::Nothing).unwrap();
        assert_eq!(r.unchanged, 2);
        assert!(
            r.describe(Lang::En)
                .contains("All 2 course files are up to date")
        );
        // A new course version replaces an untouched file.
        let r = sync(&course("2"), &dir, Restore::Nothing).unwrap();
        assert_eq!(r.updated, ["assets/01/a.yaml"]);
        // The learner edits a file and adds one: both survive.
        std::fs::write(dir.join("assets/01/a.yaml"), "a: mine\n").unwrap();
        std::fs::write(dir.join("mine.yaml"), "x\n").unwrap();
        let r = sync(&course("3"), &dir, Restore::Nothing).unwrap();
        assert_eq!(r.kept, ["assets/01/a.yaml"]);
        assert!(
            r.describe(Lang::En)
                .contains("kubetutor lab --restore FILE")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("assets/01/a.yaml")).unwrap(),
            "a: mine\n"
        );
        // Restoring by name, relative to the lab or absolute.
        let r = sync(
            &course("3"),
            &dir,
            Restore::Files(&[PathBuf::from("assets/01/a.yaml")]),
        )
        .unwrap();
        assert_eq!(r.restored, ["assets/01/a.yaml"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("assets/01/a.yaml")).unwrap(),
            "a: 3\n"
        );
        std::fs::write(dir.join("assets/01/b.yaml"), "b: mine\n").unwrap();
        let abs = dir.join("assets/./01/b.yaml");
        let r = sync(&course("3"), &dir, Restore::Files(&[abs])).unwrap();
        assert_eq!(r.restored, ["assets/01/b.yaml"]);
        assert!(dir.join("mine.yaml").exists());
    }

    #[test]
    fn a_file_that_was_there_before_counts_as_edited() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("assets/01")).unwrap();
        std::fs::write(tmp.path().join("assets/01/a.yaml"), "old\n").unwrap();
        let r = sync(&course("1"), tmp.path(), Restore::Nothing).unwrap();
        assert_eq!(r.kept, ["assets/01/a.yaml"]);
        let r = sync(&course("1"), tmp.path(), Restore::All).unwrap();
        assert_eq!(r.restored, ["assets/01/a.yaml"]);
    }

    #[test]
    fn restoring_an_unknown_file_lists_the_course_files() {
        let tmp = tempfile::tempdir().unwrap();
        let e = sync(
            &course("1"),
            tmp.path(),
            Restore::Files(&[PathBuf::from("assets/nope.yaml")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("assets/nope.yaml is not a course file"), "{e}");
        assert!(e.contains("assets/01/b.yaml"), "{e}");
        let e = sync(
            &course("1"),
            tmp.path(),
            Restore::Files(&[PathBuf::from("/etc/passwd")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not in the lab directory"), "{e}");
    }

    #[test]
    fn the_environment_overrides_the_default() {
        let data = Path::new("/data");
        assert_eq!(
            lab_dir(Some(Path::new("/x")), data),
            PathBuf::from("/x"),
            "explicit wins"
        );
    }
}
