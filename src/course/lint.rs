//! `kubetutor lint`: every rule a course must follow, as `file:line:col`
//! diagnostics sorted by file and position.
//!
//! Rules: file layout and names, everything the parser checks (front matter
//! schema, step ids, one valid check per step...), unique lesson ids and
//! orders per language, file number = `order`, `assets/...` paths that
//! exist, and English and French trees with the same lessons and steps.

use super::{CourseFiles, field_pos, lesson_file_lang, parse_all, sort};
use crate::check::spec::Goal;
use crate::lesson::model::{Diagnostic, Lang, Lesson, Pos};
use crate::lesson::parse::LineIndex;
use std::collections::{HashMap, HashSet};

/// Lint a whole course. An empty result means it is clean.
pub fn lint(files: &CourseFiles) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let top = Pos { line: 1, col: 1 };
    let mut any_lesson = false;
    for (path, _) in files.iter() {
        if path.starts_with("assets/") {
            continue;
        }
        if !path.starts_with("lessons/") {
            diags.push(diag(
                path,
                top,
                "not part of a course: lessons go under lessons/<lang>/, the files they use under assets/",
            ));
            continue;
        }
        any_lesson = true;
        if lesson_file_lang(path).is_none() || !good_file_name(path) {
            diags.push(diag(
                path,
                top,
                "lesson files are lessons/en/NN-slug.md or lessons/fr/NN-slug.md (two digits, then lowercase words joined by dashes, e.g. 01-ephemeral-filesystem.md)",
            ));
        }
    }
    if !any_lesson {
        diags.push(diag(
            "lessons/",
            top,
            "the course has no lessons: add lessons/en/01-first.md and its French version",
        ));
    }

    // Variables are checked on the raw files, everything else on the
    // course as it loads by default.
    for (path, bytes) in files.iter() {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        for (line, col, name) in crate::lesson::vars::unknown(text) {
            diags.push(diag(
                path,
                Pos {
                    line: line + 1,
                    col,
                },
                format!(
                    "unknown course variable `{{{{{name}}}}}` (known: {})",
                    crate::lesson::vars::NAMES
                        .iter()
                        .map(|n| format!("{{{{{n}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let substituted = files.with_vars(&crate::lesson::vars::Vars::default());
    let files = &substituted;
    let (lessons, parse_diags) = parse_all(files);
    diags.extend(parse_diags);

    for lang in Lang::ALL {
        let of_lang: Vec<&Lesson> = lessons.iter().filter(|l| l.lang == lang).collect();
        for (i, l) in of_lang.iter().enumerate() {
            if let Some(first) = of_lang[..i].iter().find(|o| o.meta.order == l.meta.order) {
                diags.push(diag(
                    &l.path,
                    field_pos(files, &l.path, "order"),
                    format!(
                        "`order: {}` is already used by {}: give each lesson its own position",
                        l.meta.order, first.path
                    ),
                ));
            }
            if let Some(n) = file_number(&l.path)
                && n != l.meta.order
            {
                diags.push(diag(
                    &l.path,
                    field_pos(files, &l.path, "order"),
                    format!(
                        "the file is numbered {n:02} but says `order: {}`: make them agree",
                        l.meta.order
                    ),
                ));
            }
        }
    }

    for (path, bytes) in files.iter() {
        if lesson_file_lang(path).is_some()
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            diags.extend(missing_assets(path, text, files));
            for (line, message) in crate::lesson::adapt::problems(text) {
                diags.push(diag(
                    path,
                    Pos {
                        line: line + 1,
                        col: 1,
                    },
                    message,
                ));
            }
        }
    }
    // Solutions become scripts (`kubetutor solution --script`): they must
    // not depend on the cluster.
    for l in &lessons {
        for step in &l.steps {
            if let Some(sol) = &step.solution
                && sol.source.contains("<!-- when")
            {
                diags.push(diag(
                    &l.path,
                    sol.pos,
                    "a solution cannot hold `<!-- when ... -->` blocks: put the variants in the step's text, and make the solution work on every cluster",
                ));
            }
        }
    }

    // A lesson that failed to parse is already reported; do not also call
    // its translation orphaned.
    let parsed: HashSet<&str> = lessons.iter().map(|l| l.path.as_str()).collect();
    let mut broken: HashSet<(Lang, String)> = HashSet::new();
    for (path, bytes) in files.iter() {
        if let Some(lang) = lesson_file_lang(path)
            && !parsed.contains(path)
        {
            let name = path.rsplit('/').next().unwrap_or(path);
            broken.insert((lang, format!("file:{name}")));
            if let Some(id) = scan_id(bytes) {
                broken.insert((lang, id));
            }
        }
    }
    diags.extend(translations(&lessons, &broken));
    sort(&mut diags);
    diags
}

fn diag(file: &str, pos: Pos, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        pos,
        message: message.into(),
    }
}

/// `NN-slug.md`.
fn good_file_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let Some(stem) = name.strip_suffix(".md") else {
        return false;
    };
    let b = stem.as_bytes();
    b.len() > 3
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'-'
        && stem[3..].split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn file_number(path: &str) -> Option<u32> {
    let name = path.rsplit('/').next()?;
    name.get(..2)?.parse().ok()
}

/// Every `assets/...` path written in the lesson must be in the course.
fn missing_assets(path: &str, text: &str, files: &CourseFiles) -> Vec<Diagnostic> {
    let index = LineIndex::new(text);
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "._-/".contains(c);
    let mut out = Vec::new();
    for (start, _) in text.match_indices("assets/") {
        // Part of a longer path (`/srv/assets/x`, `myassets/`): not ours.
        if text[..start].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let len = text[start..]
            .find(|c: char| !is_path_char(c))
            .unwrap_or(text.len() - start);
        // A sentence may end right after the path.
        let mention = text[start..start + len].trim_end_matches(['.', ',', ':', ';', '-']);
        if mention == "assets/" || files.contains_path(mention) {
            continue;
        }
        out.push(diag(
            path,
            index.pos(start),
            format!("`{mention}` is not in the course: add it under assets/ or fix the path"),
        ));
    }
    out
}

/// English is the reference: every other language has the same lessons
/// with the same steps in the same order (and the same quiz answers).
fn translations(lessons: &[Lesson], broken: &HashSet<(Lang, String)>) -> Vec<Diagnostic> {
    let is_broken = |lang: Lang, l: &Lesson| {
        let name = l.path.rsplit('/').next().unwrap_or(&l.path);
        broken.contains(&(lang, l.id().to_string()))
            || broken.contains(&(lang, format!("file:{name}")))
    };
    let mut out = Vec::new();
    let by = |lang: Lang| -> HashMap<&str, &Lesson> {
        lessons
            .iter()
            .filter(|l| l.lang == lang)
            .map(|l| (l.id(), l))
            .collect()
    };
    let en = by(Lang::En);
    for lang in Lang::ALL.into_iter().filter(|&l| l != Lang::En) {
        let other = by(lang);
        for l in lessons.iter().filter(|l| l.lang == Lang::En) {
            if !other.contains_key(l.id()) && !is_broken(lang, l) {
                out.push(diag(
                    &l.path,
                    Pos { line: 1, col: 1 },
                    format!(
                        "lesson `{}` has no {} version: add lessons/{}/ with `id: {}`",
                        l.id(),
                        lang_name(lang),
                        lang.code(),
                        l.id()
                    ),
                ));
            }
        }
        for t in lessons.iter().filter(|l| l.lang == lang) {
            match en.get(t.id()) {
                None if is_broken(Lang::En, t) => {}
                None => out.push(diag(
                    &t.path,
                    Pos { line: 1, col: 1 },
                    format!(
                        "lesson `{}` has no English version: the English lessons are the reference, add lessons/en/ with `id: {}`",
                        t.id(),
                        t.id()
                    ),
                )),
                Some(e) => out.extend(compare_steps(e, t)),
            }
        }
    }
    out
}

/// The `id:` of a lesson file that did not parse, if it can be read.
fn scan_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let value = text
        .lines()
        .skip(1)
        .take_while(|l| l.trim_end() != "---")
        .find_map(|l| l.strip_prefix("id:"))?;
    let id = value.trim().trim_matches(['"', '\'']);
    (!id.is_empty()).then(|| id.to_string())
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "English",
        Lang::Fr => "French",
    }
}

/// Report the first step where translation `t` differs from `e`.
fn compare_steps(e: &Lesson, t: &Lesson) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if e.meta.order != t.meta.order {
        out.push(diag(
            &t.path,
            Pos { line: 1, col: 1 },
            format!(
                "`order: {}` here but `order: {}` in {}: translations keep the course order",
                t.meta.order, e.meta.order, e.path
            ),
        ));
    }
    for k in 0..e.steps.len().max(t.steps.len()) {
        match (e.steps.get(k), t.steps.get(k)) {
            (Some(es), Some(ts)) if es.id == ts.id => {
                if let Some(msg) = quiz_mismatch(es, ts) {
                    let pos = ts.check.as_ref().map_or(ts.pos, |c| c.pos);
                    out.push(diag(&t.path, pos, format!("{msg} ({}:{})", e.path, es.pos)));
                }
            }
            (Some(es), Some(ts)) => {
                out.push(diag(
                    &t.path,
                    ts.pos,
                    format!(
                        "step {} is `{}` here but `{}` in {}:{}: translations have the same steps in the same order",
                        k + 1,
                        ts.id,
                        es.id,
                        e.path,
                        es.pos
                    ),
                ));
                return out;
            }
            (Some(es), None) => {
                let pos = t.steps.last().map_or(Pos { line: 1, col: 1 }, |s| s.pos);
                out.push(diag(
                    &t.path,
                    pos,
                    format!(
                        "step `{}` ({}:{}) is missing here: translations have the same steps in the same order",
                        es.id, e.path, es.pos
                    ),
                ));
                return out;
            }
            (None, Some(ts)) => {
                out.push(diag(
                    &t.path,
                    ts.pos,
                    format!(
                        "step `{}` is not in {}: translations have the same steps in the same order",
                        ts.id, e.path
                    ),
                ));
                return out;
            }
            (None, None) => {}
        }
    }
    out
}

fn quiz_mismatch(es: &crate::lesson::Step, ts: &crate::lesson::Step) -> Option<String> {
    let quiz = |s: &crate::lesson::Step| match s.check.as_ref()?.spec().ok()?.goal {
        Goal::Quiz(q) => Some(q),
        _ => None,
    };
    match (quiz(es), quiz(ts)) {
        (Some(a), Some(b)) if a.choices.len() != b.choices.len() || a.answers != b.answers => {
            Some(format!(
                "the quiz of step `{}` differs from the English one (number of choices or answers): keep the same choices in the same order",
                ts.id
            ))
        }
        (Some(_), None) | (None, Some(_)) => {
            Some(format!("step `{}` is a quiz in one language only", ts.id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(id: &str, order: u32, steps: &[&str]) -> String {
        let mut s =
            format!("---\nid: {id}\ntitle: T\nsummary: S\nminutes: 5\norder: {order}\n---\n# T\n");
        for step in steps {
            s.push_str(&format!(
                "\n## Step {{#{step}}}\n\n```check\nresource: {{kind: Pod, name: a}}\n```\n"
            ));
        }
        s
    }

    fn course(files: &[(&str, String)]) -> CourseFiles {
        let mut f = CourseFiles::new();
        for (p, t) in files {
            f.insert(p.to_string(), t.clone().into_bytes());
        }
        f
    }

    fn run(files: &[(&str, String)]) -> Vec<String> {
        lint(&course(files)).iter().map(|d| d.to_string()).collect()
    }

    fn pair(id: &str, order: u32, steps: &[&str]) -> Vec<(String, String)> {
        vec![
            (
                format!("lessons/en/{order:02}-{id}.md"),
                md(id, order, steps),
            ),
            (
                format!("lessons/fr/{order:02}-{id}.md"),
                md(id, order, steps),
            ),
        ]
    }

    fn run_owned(files: Vec<(String, String)>) -> Vec<String> {
        let refs: Vec<(&str, String)> =
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        run(&refs)
    }

    #[test]
    fn clean_course() {
        let mut files = pair("a", 1, &["x", "y"]);
        files.extend(pair("b", 2, &["z"]));
        assert_eq!(run_owned(files), Vec::<String>::new());
    }

    #[test]
    fn file_names() {
        let mut files = pair("a", 1, &["x"]);
        files.push(("lessons/en/1-b.md".into(), md("b", 1, &["x"])));
        files.push(("lessons/de/01-a.md".into(), md("a", 1, &["x"])));
        files.push(("lessons/en/02-Bad_Name.md".into(), md("c", 2, &["x"])));
        files.push(("lessons/en/notes.txt".into(), "x".into()));
        files.push(("README.md".into(), "x".into()));
        let d = run_owned(files);
        assert!(
            d.iter()
                .any(|m| m.starts_with("README.md:1:1: not part of a course")),
            "{d:?}"
        );
        for p in [
            "lessons/en/1-b.md",
            "lessons/de/01-a.md",
            "lessons/en/02-Bad_Name.md",
            "lessons/en/notes.txt",
        ] {
            assert!(
                d.iter()
                    .any(|m| m.starts_with(&format!("{p}:1:1: lesson files are"))),
                "{p}: {d:?}"
            );
        }
        assert!(good_file_name("lessons/en/01-ephemeral-filesystem.md"));
        assert!(!good_file_name("lessons/en/01-.md"));
        assert!(!good_file_name("lessons/en/01-a--b.md"));
    }

    #[test]
    fn parser_rules_are_reported() {
        let mut files = pair("a", 1, &["x"]);
        files[0].1 = files[0]
            .1
            .replace("```check\nresource: {kind: Pod, name: a}\n```\n", "");
        let d = run_owned(files);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("lessons/en/01-a.md:10:1: step `x` has no check"),
            "{d:?}"
        );
    }

    #[test]
    fn unique_lesson_ids_and_orders() {
        let mut files = pair("a", 1, &["x"]);
        files.push(("lessons/en/02-b.md".into(), md("a", 2, &["x"])));
        files.push(("lessons/en/03-c.md".into(), md("c", 1, &["x"])));
        let d = run_owned(files);
        assert!(
            d.iter().any(|m| m.starts_with(
                "lessons/en/02-b.md:2:1: lesson id `a` is already used by lessons/en/01-a.md"
            )),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|m| m.starts_with("lessons/en/03-c.md:6:1: `order: 1` is already used")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|m| m.starts_with(
                "lessons/en/03-c.md:6:1: the file is numbered 03 but says `order: 1`"
            )),
            "{d:?}"
        );
    }

    #[test]
    fn bad_check_is_reported() {
        let mut files = pair("a", 1, &["x"]);
        files[1].1 = files[1].1.replace("kind: Pod", "kind: Pods");
        let d = run_owned(files);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("lessons/fr/01-a.md:13:"), "{d:?}");
        assert!(d[0].contains("unknown variant `Pods`"), "{d:?}");
    }

    #[test]
    fn assets_must_exist() {
        let mut files = pair("a", 1, &["x"]);
        files[0].1.push_str(
            "\nRun `kubectl apply -f assets/a/` then assets/a/x.yaml and assets/a/missing.yaml.\nNot ours: /srv/assets/nope and myassets/nope.\n",
        );
        files.push(("assets/a/x.yaml".into(), "k: v".into()));
        let d = run_owned(files);
        assert_eq!(
            d,
            vec![
                "lessons/en/01-a.md:16:59: `assets/a/missing.yaml` is not in the course: add it under assets/ or fix the path"
            ]
        );
    }

    #[test]
    fn translations_must_match() {
        let mut files = pair("a", 1, &["x", "y", "z"]);
        files[1].1 = md("a", 1, &["x", "z", "y"]);
        files.push(("lessons/en/02-b.md".into(), md("b", 2, &["x"])));
        files.push(("lessons/fr/03-c.md".into(), md("c", 3, &["x"])));
        let d = run_owned(files);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].starts_with("lessons/en/02-b.md:1:1: lesson `b` has no French version"),
            "{d:?}"
        );
        assert!(
            d[1].starts_with(
                "lessons/fr/01-a.md:16:1: step 2 is `z` here but `y` in lessons/en/01-a.md:16:1"
            ),
            "{d:?}"
        );
        assert!(
            d[2].starts_with("lessons/fr/03-c.md:1:1: lesson `c` has no English version"),
            "{d:?}"
        );

        let mut files = pair("a", 1, &["x", "y"]);
        files[1].1 = md("a", 1, &["x"]);
        let d = run_owned(files);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with(
                "lessons/fr/01-a.md:10:1: step `y` (lessons/en/01-a.md:16:1) is missing here"
            ),
            "{d:?}"
        );

        let mut files = pair("a", 1, &["x"]);
        files[1].1 = md("a", 1, &["x", "extra"]);
        let d = run_owned(files);
        assert!(
            d[0].starts_with("lessons/fr/01-a.md:16:1: step `extra` is not in lessons/en/01-a.md"),
            "{d:?}"
        );
    }

    #[test]
    fn quiz_answers_must_match() {
        let quiz = |answer: &str| {
            format!(
                "---\nid: q\ntitle: T\nsummary: S\nminutes: 1\norder: 1\n---\n## Q {{#q}}\n\n```check\nquiz:\n  question: Why?\n  choices: [one, two]\n  answer: {answer}\n```\n"
            )
        };
        let d = run(&[
            ("lessons/en/01-q.md", quiz("a")),
            ("lessons/fr/01-q.md", quiz("b")),
        ]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("lessons/fr/01-q.md:11:1: the quiz of step `q` differs"),
            "{d:?}"
        );
    }

    #[test]
    fn non_utf8_and_empty_course() {
        let d = run(&[]);
        assert!(d[0].contains("the course has no lessons"), "{d:?}");
        let mut f = course(&[("lessons/fr/01-a.md", md("a", 1, &["x"]))]);
        f.insert(
            "lessons/en/01-a.md",
            b"---\nid: a\ntitle: caf\xE9\n".to_vec(),
        );
        let d: Vec<String> = lint(&f).iter().map(|d| d.to_string()).collect();
        assert!(
            d.iter()
                .any(|m| m.starts_with("lessons/en/01-a.md:3:11: the file is not valid UTF-8")),
            "{d:?}"
        );
    }
}
