//! The course: every lesson of every language, loaded from the copy embedded
//! in the binary or from a directory on disk (for lesson authors).

pub mod lint;

use crate::lesson::parse::LineIndex;
use crate::lesson::{Diagnostic, Lang, Lesson, Pos, parse_lesson};
use include_dir::{Dir, include_dir};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

static EMBEDDED_LESSONS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/lessons");
static EMBEDDED_ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets");

/// The raw files of a course: relative path (`lessons/en/01-x.md`,
/// `assets/01-ephemeral/deployment.yaml`) → bytes. Paths always use `/`.
#[derive(Debug, Clone, Default)]
pub struct CourseFiles {
    files: BTreeMap<String, Cow<'static, [u8]>>,
}

impl CourseFiles {
    pub fn new() -> CourseFiles {
        CourseFiles::default()
    }

    /// The course compiled into the binary (`lessons/` and `assets/`).
    pub fn embedded() -> CourseFiles {
        let mut files = CourseFiles::new();
        for (prefix, dir) in [("lessons", &EMBEDDED_LESSONS), ("assets", &EMBEDDED_ASSETS)] {
            add_embedded(&mut files, prefix, dir);
        }
        files
    }

    /// Read `root/lessons/**` and `root/assets/**` (hidden files skipped).
    pub fn from_dir(root: &Path) -> Result<CourseFiles, std::io::Error> {
        let lessons = root.join("lessons");
        if !lessons.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} has no lessons/ directory: point to the root of a course (the directory holding lessons/ and assets/)",
                    root.display()
                ),
            ));
        }
        let mut files = CourseFiles::new();
        for top in ["lessons", "assets"] {
            let dir = root.join(top);
            if dir.is_dir() {
                read_tree(&dir, top, &mut files)?;
            }
        }
        Ok(files)
    }

    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Cow<'static, [u8]>>) {
        self.files.insert(path.into(), bytes.into());
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|b| b.as_ref())
    }

    /// Every file, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, b)| (p.as_str(), b.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether `path` is a file, or a directory holding files (`path/...`).
    pub fn contains_path(&self, path: &str) -> bool {
        let dir = format!("{}/", path.trim_end_matches('/'));
        self.files.contains_key(path)
            || self
                .files
                .range(dir.clone()..)
                .next()
                .is_some_and(|(p, _)| p.starts_with(&dir))
    }
}

fn add_embedded(files: &mut CourseFiles, prefix: &str, dir: &'static Dir<'static>) {
    for file in dir.files() {
        let rel = file.path().to_string_lossy().replace('\\', "/");
        files.insert(format!("{prefix}/{rel}"), Cow::Borrowed(file.contents()));
    }
    for sub in dir.dirs() {
        add_embedded(files, prefix, sub);
    }
}

/// A lesson file may hold at most this: the largest built-in one is about
/// 20 KiB; a bigger file is a mistake (or an attack on the parser and the
/// TUI), refused with a clear error before it is read.
pub const MAX_LESSON_BYTES: u64 = 1024 * 1024;
/// Any other course file (assets: manifests a learner applies) at most:
/// the API server's own request limit.
pub const MAX_ASSET_BYTES: u64 = 3 * 1024 * 1024;
/// A whole course at most, and at most this many files.
pub const MAX_COURSE_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_COURSE_FILES: usize = 4096;

fn read_tree(dir: &Path, rel: &str, files: &mut CourseFiles) -> Result<(), std::io::Error> {
    let context = |e: std::io::Error, p: &Path| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display()))
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| context(e, dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| context(e, dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = format!("{rel}/{name}");
        if path.is_dir() {
            read_tree(&path, &rel, files)?;
        } else {
            let bytes = read_bounded(&path, &rel, files)?;
            files.insert(rel, bytes);
        }
    }
    Ok(())
}

const LESSON_FIX: &str = "split the lesson into several, or move long listings to assets/";

/// Reads one course file within the limits above.
fn read_bounded(path: &Path, rel: &str, files: &CourseFiles) -> Result<Vec<u8>, std::io::Error> {
    if files.len() >= MAX_COURSE_FILES {
        return Err(too_big(format!(
            "{}: a course may have at most {MAX_COURSE_FILES} files",
            path.display()
        )));
    }
    let bytes = if rel.starts_with("lessons/") {
        read_capped(path, MAX_LESSON_BYTES, "a lesson file", LESSON_FIX)?
    } else {
        read_capped(
            path,
            MAX_ASSET_BYTES,
            "a course asset",
            "keep assets to manifests and small files",
        )?
    };
    let total: u64 = files.iter().map(|(_, b)| b.len() as u64).sum::<u64>() + bytes.len() as u64;
    if total > MAX_COURSE_BYTES {
        return Err(too_big(format!(
            "{}: the course is larger than {} MiB",
            path.display(),
            MAX_COURSE_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// One lesson file on its own (`kubetutor lint FILE`), within the limit.
pub fn read_lesson_file(path: &Path) -> Result<String, std::io::Error> {
    let bytes = read_capped(path, MAX_LESSON_BYTES, "a lesson file", LESSON_FIX)?;
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

fn too_big(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Reads at most `limit` bytes of `path`; a larger file is an error that
/// says what the limit is and what to do (`fix`).
fn read_capped(path: &Path, limit: u64, kind: &str, fix: &str) -> Result<Vec<u8>, std::io::Error> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a too large file (whatever its size
    // on disk says, which could change meanwhile).
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(limit + 1);
        return Err(too_big(format!(
            "{} is too large ({size} bytes): {kind} may be at most {} MiB; {fix}",
            path.display(),
            limit / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// The lessons of every language, sorted by `order`, and the assets.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Course {
    lessons: Arc<HashMap<Lang, Vec<Lesson>>>,
    files: CourseFiles,
    /// The variables the course was loaded with.
    vars: crate::lesson::vars::Vars,
}

impl Course {
    /// Parse every lesson; fails with every problem found. (`lint` checks
    /// more: file names, assets, translations.)
    pub fn load(files: &CourseFiles) -> Result<Course, Vec<Diagnostic>> {
        Course::load_with(files, &crate::lesson::vars::Vars::default())
    }

    /// [`Course::load`] with course variables (`{{namespace}}`...) set.
    pub fn load_with(
        files: &CourseFiles,
        vars: &crate::lesson::vars::Vars,
    ) -> Result<Course, Vec<Diagnostic>> {
        let files = &files.with_vars(vars);
        let (lessons, mut diags) = parse_all(files);
        if !diags.is_empty() {
            sort(&mut diags);
            return Err(diags);
        }
        let mut by_lang: HashMap<Lang, Vec<Lesson>> = HashMap::new();
        for l in lessons {
            by_lang.entry(l.lang).or_default().push(l);
        }
        Ok(Course {
            lessons: Arc::new(by_lang),
            files: files.clone(),
            vars: vars.clone(),
        })
    }

    /// A course from lessons parsed elsewhere (fixtures), sorted by `order`,
    /// with no assets.
    pub fn from_lessons(lessons: Vec<Lesson>) -> Course {
        let mut by_lang: HashMap<Lang, Vec<Lesson>> = HashMap::new();
        for l in lessons {
            by_lang.entry(l.lang).or_default().push(l);
        }
        for list in by_lang.values_mut() {
            list.sort_by_key(|l| l.meta.order);
        }
        Course {
            lessons: Arc::new(by_lang),
            files: CourseFiles::default(),
            vars: crate::lesson::vars::Vars::default(),
        }
    }

    /// The course compiled into the binary.
    pub fn embedded() -> Result<Course, Vec<Diagnostic>> {
        Course::load(&CourseFiles::embedded())
    }

    /// The variables the course was loaded with.
    pub fn vars(&self) -> &crate::lesson::vars::Vars {
        &self.vars
    }

    /// The lessons of `lang`, in course order.
    pub fn lessons(&self, lang: Lang) -> &[Lesson] {
        self.lessons.get(&lang).map_or(&[], Vec::as_slice)
    }

    pub fn lesson(&self, lang: Lang, id: &str) -> Option<&Lesson> {
        self.lessons(lang).iter().find(|l| l.id() == id)
    }

    /// A file under `assets/` (`assets/01-ephemeral/deployment.yaml`).
    pub fn asset(&self, path: &str) -> Option<&[u8]> {
        if path.starts_with("assets/") {
            self.files.get(path)
        } else {
            None
        }
    }

    /// Every asset, sorted by path (e.g. to write them to disk for kubectl).
    pub fn assets(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().filter(|(p, _)| p.starts_with("assets/"))
    }
}

/// A file under `lessons/` that names a language: `lessons/<lang>/<name>.md`.
pub(crate) fn lesson_file_lang(path: &str) -> Option<Lang> {
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("lessons"), Some(lang), Some(name), None) if name.ends_with(".md") => {
            Lang::from_code(lang).filter(|l| l.code() == lang)
        }
        _ => None,
    }
}

/// The text of a lesson file, or a diagnostic at the first invalid byte.
pub(crate) fn lesson_text<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
        let pos = LineIndex::new(valid).pos(valid.len());
        let byte = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
        Diagnostic {
            file: path.to_string(),
            pos,
            message: format!(
                "the file is not valid UTF-8 (byte 0x{byte:02X} here): save it as UTF-8"
            ),
        }
    })
}

/// Parse every lesson file, sorted by language then `order`; also reports
/// lesson ids used twice in one language.
pub(crate) fn parse_all(files: &CourseFiles) -> (Vec<Lesson>, Vec<Diagnostic>) {
    let mut lessons = Vec::new();
    let mut diags = Vec::new();
    for (path, bytes) in files.iter() {
        let Some(lang) = lesson_file_lang(path) else {
            continue;
        };
        let text = match lesson_text(path, bytes) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match parse_lesson(path, lang, text) {
            Ok(l) => lessons.push(l),
            Err(ds) => diags.extend(ds),
        }
    }
    lessons.sort_by(|a: &Lesson, b: &Lesson| {
        (a.lang.code(), a.meta.order, &a.meta.id, &a.path).cmp(&(
            b.lang.code(),
            b.meta.order,
            &b.meta.id,
            &b.path,
        ))
    });
    for (i, l) in lessons.iter().enumerate() {
        if let Some(first) = lessons[..i]
            .iter()
            .find(|o| o.lang == l.lang && o.meta.id == l.meta.id)
        {
            diags.push(Diagnostic {
                file: l.path.clone(),
                pos: field_pos(files, &l.path, "id"),
                message: format!(
                    "lesson id `{}` is already used by {}: lesson ids must be unique in a language",
                    l.meta.id, first.path
                ),
            });
        }
    }
    (lessons, diags)
}

/// Where `field:` is written in the front matter of `path` (1:1 if unknown).
pub(crate) fn field_pos(files: &CourseFiles, path: &str, field: &str) -> Pos {
    let text = files
        .get(path)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("");
    let key = format!("{field}:");
    text.lines()
        .enumerate()
        .skip(1)
        .take_while(|(_, l)| l.trim_end() != "---")
        .find(|(_, l)| l.starts_with(&key))
        .map_or(Pos { line: 1, col: 1 }, |(i, _)| Pos {
            line: i + 1,
            col: 1,
        })
}

pub(crate) fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.file, a.pos.line, a.pos.col, &a.message)
            .cmp(&(&b.file, b.pos.line, b.pos.col, &b.message))
    });
    diags.dedup();
}

impl CourseFiles {
    /// The files with the variables replaced (text files only).
    pub fn with_vars(&self, vars: &crate::lesson::vars::Vars) -> CourseFiles {
        let mut out = CourseFiles::new();
        for (path, bytes) in &self.files {
            match std::str::from_utf8(bytes).map(|t| crate::lesson::vars::substitute(t, vars)) {
                Ok(std::borrow::Cow::Owned(t)) => out.insert(path.clone(), t.into_bytes()),
                // Unchanged (or binary): the same bytes, not a copy.
                _ => out.insert(path.clone(), bytes.clone()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson_md(id: &str, order: u32, steps: &[&str]) -> String {
        let mut s =
            format!("---\nid: {id}\ntitle: T\nsummary: S\nminutes: 5\norder: {order}\n---\n# T\n");
        for step in steps {
            s.push_str(&format!(
                "\n## Step {{#{step}}}\n\n```check\nresource: {{kind: Pod, name: a}}\n```\n"
            ));
        }
        s
    }

    #[test]
    fn loads_and_sorts_by_order() {
        let mut f = CourseFiles::new();
        f.insert("lessons/en/02-b.md", lesson_md("b", 2, &["x"]).into_bytes());
        f.insert("lessons/en/01-a.md", lesson_md("a", 1, &["x"]).into_bytes());
        f.insert("lessons/fr/01-a.md", lesson_md("a", 1, &["x"]).into_bytes());
        f.insert("assets/a/b.yaml", b"x: 1".to_vec());
        let c = Course::load(&f).unwrap();
        let ids: Vec<_> = c.lessons(Lang::En).iter().map(|l| l.id()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(c.lessons(Lang::Fr).len(), 1);
        assert!(c.lesson(Lang::En, "b").is_some());
        assert!(c.lesson(Lang::Fr, "b").is_none());
        assert_eq!(c.asset("assets/a/b.yaml"), Some(&b"x: 1"[..]));
        assert_eq!(c.asset("lessons/en/01-a.md"), None);
        assert_eq!(c.assets().count(), 1);
        assert!(f.contains_path("assets/a"));
        assert!(f.contains_path("assets/a/"));
        assert!(!f.contains_path("assets/ab"));
    }

    #[test]
    fn reports_every_broken_lesson() {
        let mut f = CourseFiles::new();
        f.insert("lessons/en/01-a.md", lesson_md("a", 1, &["x"]).into_bytes());
        f.insert("lessons/en/02-b.md", b"---\nid: b\n\xE9\n".to_vec());
        f.insert("lessons/en/03-c.md", lesson_md("a", 3, &["x"]).into_bytes());
        f.insert("lessons/en/04-d.md", b"".to_vec());
        let d = Course::load(&f).unwrap_err();
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert_eq!(
            msgs[0],
            "lessons/en/02-b.md:3:1: the file is not valid UTF-8 (byte 0xE9 here): save it as UTF-8"
        );
        assert!(
            msgs[1].starts_with(
                "lessons/en/03-c.md:2:1: lesson id `a` is already used by lessons/en/01-a.md"
            ),
            "{msgs:?}"
        );
        assert!(msgs[2].starts_with("lessons/en/04-d.md:1:1: the file is empty"));
    }

    #[test]
    fn reads_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CourseFiles::from_dir(dir.path()).is_err());
        std::fs::create_dir_all(dir.path().join("lessons/en")).unwrap();
        std::fs::create_dir_all(dir.path().join("assets/x")).unwrap();
        std::fs::write(
            dir.path().join("lessons/en/01-a.md"),
            lesson_md("a", 1, &["s"]),
        )
        .unwrap();
        std::fs::write(dir.path().join("lessons/en/.01-a.md.swp"), "junk").unwrap();
        std::fs::write(dir.path().join("assets/x/y.txt"), "hi").unwrap();
        let f = CourseFiles::from_dir(dir.path()).unwrap();
        let paths: Vec<_> = f.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["assets/x/y.txt", "lessons/en/01-a.md"]);
        assert_eq!(Course::load(&f).unwrap().lessons(Lang::En).len(), 1);
    }

    #[test]
    fn lesson_paths() {
        assert_eq!(lesson_file_lang("lessons/en/01-a.md"), Some(Lang::En));
        assert_eq!(lesson_file_lang("lessons/fr/x.md"), Some(Lang::Fr));
        assert_eq!(lesson_file_lang("lessons/FR/x.md"), None);
        assert_eq!(lesson_file_lang("lessons/de/x.md"), None);
        assert_eq!(lesson_file_lang("lessons/en/a/x.md"), None);
        assert_eq!(lesson_file_lang("lessons/en/x.txt"), None);
    }
}
