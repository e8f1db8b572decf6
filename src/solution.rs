//! Step solutions outside the TUI: as plain text (`kubetutor solution LESSON
//! STEP`) and as a self-contained POSIX shell script that performs the step
//! (`--script`), which the playthrough tests run against the sandbox.
//!
//! The script is built from the solution's `sh`, `bash`, `shell` and
//! `console` blocks (console: only the `$ ` commands), in order. Solutions of
//! edit steps carry the full edited file in a heredoc, so the script applies
//! the edit exactly as the learner would.

use crate::check::spec::Goal;
use crate::course::{Course, CourseFiles};
use crate::lesson::{Diagnostic, Lang, Lesson, Step, markdown_options};
use anyhow::{Result, bail};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use std::path::Path;

/// The port `kubectl proxy` listens on in the lessons' URLs.
const LESSON_PROXY_PORT: &str = "8001";

/// A lesson by id or 1-based number, and one of its steps by id or 1-based
/// number; errors list the valid ids.
pub fn find_step<'a>(
    course: &'a Course,
    lang: Lang,
    lesson: &str,
    step: &str,
) -> Result<(&'a Lesson, &'a Step)> {
    let lessons = course.lessons(lang);
    let by_number = |key: &str, len: usize| {
        key.parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|i| *i < len)
    };
    let Some(l) = lessons
        .iter()
        .find(|l| l.id() == lesson)
        .or_else(|| by_number(lesson, lessons.len()).and_then(|i| lessons.get(i)))
    else {
        let ids: Vec<&str> = lessons.iter().map(|l| l.id()).collect();
        bail!(
            "no lesson '{lesson}'; the lessons are: {} (see `kubetutor list`)",
            ids.join(", ")
        );
    };
    let Some(s) = l
        .step(step)
        .or_else(|| by_number(step, l.steps.len()).and_then(|i| l.steps.get(i)))
    else {
        let ids: Vec<&str> = l.steps.iter().map(|s| s.id.as_str()).collect();
        bail!(
            "lesson {} has no step '{step}'; its steps are: {}",
            l.id(),
            ids.join(", ")
        );
    };
    Ok((l, s))
}

/// The step's solution as plain text (no markdown markup), for a terminal.
pub fn solution_text(lesson: &Lesson, step: &Step) -> Result<String> {
    let Some(sol) = &step.solution else {
        bail!(
            "step {} of lesson {} has no solution; `kubetutor start {}` shows its hints",
            step.id,
            lesson.id(),
            lesson.id()
        );
    };
    Ok(plain_text(&sol.source))
}

/// Markdown as plain text: markup removed, code blocks indented, list items
/// with a dash, links followed by their address.
pub fn plain_text(md: &str) -> String {
    let mut out = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_code = false;
    let mut link: Option<String> = None;
    let blank = |out: &mut String| {
        if !out.is_empty() && !out.ends_with("\n\n") {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
    };
    for ev in Parser::new_ext(md, markdown_options()) {
        match ev {
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::BlockQuote(_))
                if lists.is_empty() =>
            {
                blank(&mut out);
            }
            Event::Start(Tag::CodeBlock(_)) => {
                blank(&mut out);
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                blank(&mut out);
            }
            Event::Start(Tag::List(start)) => {
                if lists.is_empty() {
                    blank(&mut out);
                }
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    blank(&mut out);
                }
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                let depth = lists.len().saturating_sub(1);
                out.push_str(&"  ".repeat(depth));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => link = Some(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link.take() {
                    out.push_str(&format!(" ({url})"));
                }
            }
            Event::Text(t) if in_code => {
                for line in t.split_inclusive('\n') {
                    out.push_str("    ");
                    out.push_str(line);
                }
            }
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => {
                blank(&mut out);
                out.push_str("----\n");
            }
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    let trimmed = out.trim_end();
    format!("{trimmed}\n")
}

/// The commands of a solution's runnable code blocks, in order, one string
/// per block.
pub fn runnable_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for ev in Parser::new_ext(md, markdown_options()) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let lang = info.split_whitespace().next().unwrap_or("");
                current = match lang {
                    "sh" | "bash" | "shell" => Some((false, String::new())),
                    "console" => Some((true, String::new())),
                    _ => None,
                };
            }
            Event::Text(t) => {
                if let Some((_, text)) = &mut current {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((console, text)) = current.take() {
                    let code = if console {
                        console_commands(&text)
                    } else {
                        text
                    };
                    if !code.trim().is_empty() {
                        blocks.push(code);
                    }
                }
            }
            _ => {}
        }
    }
    blocks
}

/// The commands of a console transcript: `$ ` lines and their `\`
/// continuations; output lines are dropped.
fn console_commands(text: &str) -> String {
    let mut out = String::new();
    let mut continued = false;
    for line in text.lines() {
        let cmd = if continued {
            Some(line)
        } else {
            line.strip_prefix("$ ")
        };
        continued = false;
        if let Some(cmd) = cmd {
            out.push_str(cmd);
            out.push('\n');
            continued = cmd.ends_with('\\');
        }
    }
    out
}

/// Whether a line starts `kubectl proxy` in the background (the script runs
/// its own proxy instead).
fn is_background_proxy(line: &str) -> bool {
    let l = line.trim();
    l.starts_with("kubectl proxy") && l.ends_with('&') && !l.ends_with("&&")
}

/// `localhost:8001` → `localhost:${KUBETUTOR_PROXY_PORT}` where the shell
/// expands it (outside single quotes).
fn rewrite_proxy_port(line: &str) -> String {
    let mut out = String::new();
    let mut in_single = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let hit = ["localhost:", "127.0.0.1:"].iter().find_map(|host| {
            let pat = format!("{host}{LESSON_PROXY_PORT}");
            rest.starts_with(&pat)
                .then_some((host, pat.len()))
                .filter(|(_, n)| !rest[*n..].starts_with(|c: char| c.is_ascii_digit()))
        });
        match hit {
            Some((host, n)) if !in_single => {
                out.push_str(host);
                out.push_str("${KUBETUTOR_PROXY_PORT}");
                rest = &rest[n..];
            }
            _ => {
                if c == '\'' {
                    in_single = !in_single;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Starts a private `kubectl proxy` on a free port and stops it on exit.
const PROXY_PREAMBLE: &str = r#"# The lesson talks to the API server through `kubectl proxy`: run a private
# one on a free port (never someone else's, which may serve another cluster).
kubetutor_proxy_log=$(mktemp)
kubectl proxy --port 0 >"$kubetutor_proxy_log" 2>&1 &
kubetutor_proxy=$!
trap 'kill "$kubetutor_proxy" 2>/dev/null || :; rm -f "$kubetutor_proxy_log"' EXIT
trap 'exit 130' INT TERM
KUBETUTOR_PROXY_PORT=
kubetutor_tries=0
while [ -z "$KUBETUTOR_PROXY_PORT" ]; do
  KUBETUTOR_PROXY_PORT=$(sed -n 's/^Starting to serve on .*:\([0-9][0-9]*\)$/\1/p' "$kubetutor_proxy_log")
  kubetutor_tries=$((kubetutor_tries + 1))
  if [ -z "$KUBETUTOR_PROXY_PORT" ]; then
    if [ "$kubetutor_tries" -gt 300 ] || ! kill -0 "$kubetutor_proxy" 2>/dev/null; then
      echo "kubectl proxy did not start:" >&2
      cat "$kubetutor_proxy_log" >&2
      exit 1
    fi
    sleep 0.1
  fi
done
"#;

/// A POSIX shell script that performs the step: `set -eu`, the environment's
/// `KUBECONFIG`, run from `lab_dir` (absolute), the solution's commands in
/// order. Fails when the solution has no runnable block.
pub fn solution_script(lesson: &Lesson, step: &Step, lab_dir: &Path) -> Result<String> {
    let Some(sol) = &step.solution else {
        bail!(
            "step {} of lesson {} has no solution to run",
            step.id,
            lesson.id()
        );
    };
    let blocks = runnable_blocks(&sol.source);
    if blocks.is_empty() {
        bail!(
            "the solution of step {} of lesson {} has no commands to run (it is an answer to read: `kubetutor solution {} {}`)",
            step.id,
            lesson.id(),
            lesson.id(),
            step.id
        );
    }
    let lab = lab_dir.to_string_lossy();
    let mut body = String::new();
    let mut needs_proxy = false;
    for block in &blocks {
        let mut heredoc: Option<String> = None;
        for line in block.lines() {
            if let Some(end) = &heredoc {
                // Heredoc content is data: copied as it is.
                if line == end.as_str() {
                    heredoc = None;
                }
                body.push_str(line);
                body.push('\n');
                continue;
            }
            heredoc = heredoc_delimiter(line);
            if is_background_proxy(line) {
                needs_proxy = true;
                continue;
            }
            let rewritten = rewrite_proxy_port(line);
            needs_proxy |= rewritten != line;
            body.push_str(&rewritten);
            body.push('\n');
        }
    }
    let mut s = format!(
        "#!/bin/sh\n\
         # kubetutor: solution of step \"{step_id}\" ({title}) of lesson \"{lesson_id}\".\n\
         # Runs against the cluster of $KUBECONFIG (or kubectl's default), in the\n\
         # lab directory that holds the course's assets/.\n\
         set -eu\n\
         cd {lab}\n\n",
        step_id = step.id,
        title = step.title.replace('\n', " "),
        lesson_id = lesson.id(),
        lab = shell_quote(&lab),
    );
    if needs_proxy {
        s.push_str(PROXY_PREAMBLE);
        s.push('\n');
    }
    s.push_str(&body);
    Ok(s)
}

/// The end word of a heredoc started on this line (`<<'EOF'`, `<<EOF`,
/// `<<-EOF`, `<< "EOF"`).
fn heredoc_delimiter(line: &str) -> Option<String> {
    let at = line.find("<<")?;
    let rest = line[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// `'...'` with embedded quotes escaped, unless the text needs no quoting.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Warnings about solutions for lesson authors (`kubetutor lint` prints them
/// without failing): a step the learner acts in whose solution has no
/// runnable block, or commands a script cannot run unattended.
pub fn lint_warnings(files: &CourseFiles) -> Vec<Diagnostic> {
    let Ok(course) = Course::load(files) else {
        // The linter proper reports why the course does not load.
        return Vec::new();
    };
    let mut out = Vec::new();
    for lang in Lang::ALL {
        for lesson in course.lessons(lang) {
            for step in &lesson.steps {
                out.extend(step_warnings(lesson, step));
            }
        }
    }
    out
}

fn step_warnings(lesson: &Lesson, step: &Step) -> Vec<Diagnostic> {
    let is_quiz = step
        .check
        .as_ref()
        .and_then(|c| c.spec().ok())
        .is_some_and(|s| matches!(s.goal, Goal::Quiz(_)));
    let warn = |pos, message: String| Diagnostic {
        file: lesson.path.clone(),
        pos,
        message: format!("warning: {message}"),
    };
    let Some(sol) = &step.solution else {
        return if is_quiz {
            Vec::new()
        } else {
            vec![warn(
                step.pos,
                format!(
                    "step {} has no solution: `kubetutor solution --script` and the playthrough tests cannot perform it",
                    step.id
                ),
            )]
        };
    };
    let blocks = runnable_blocks(&sol.source);
    let mut out = Vec::new();
    if blocks.is_empty() && !is_quiz {
        out.push(warn(
            sol.pos,
            format!(
                "the solution of step {} has no runnable block (```sh, ```bash or ```console): give the commands, with edited files written in full (heredoc) or as a patch",
                step.id
            ),
        ));
    }
    for block in &blocks {
        for line in block.lines() {
            let l = line.trim();
            if l.starts_with("kubectl edit") {
                out.push(warn(
                    sol.pos,
                    format!(
                        "the solution of step {} runs `kubectl edit`, which needs an editor: write the file with a heredoc or use `kubectl patch`",
                        step.id
                    ),
                ));
            } else if l.contains(" --watch") || l.contains(" -w ") || l.ends_with(" -w") {
                out.push(warn(
                    sol.pos,
                    format!(
                        "the solution of step {} watches (`--watch`), which never ends in a script: use `kubectl rollout status` or `kubectl wait`",
                        step.id
                    ),
                ));
            }
        }
    }
    out
}

/// `kubetutor solution LESSON STEP [--script]`: the solution as text, or
/// the script that performs it (after writing the lab's assets, which the
/// script `cd`s into).
pub fn command(
    course: &Course,
    lang: Lang,
    lesson: &str,
    step: &str,
    script: bool,
    lab_dir: &Path,
    out: &mut impl std::io::Write,
) -> Result<std::process::ExitCode> {
    let (l, s) = find_step(course, lang, lesson, step)?;
    if script {
        let report = crate::lab::sync(course, lab_dir, crate::lab::Restore::Nothing)?;
        if !report.kept.is_empty() {
            eprintln!(
                "note: the script uses your edited {} (`kubetutor lab` can restore the course's version)",
                report.kept.join(", ")
            );
        }
        write!(out, "{}", solution_script(l, s, &report.dir)?)?;
    } else {
        writeln!(
            out,
            "{} ({}), step {} ({}):\n",
            l.meta.title,
            l.id(),
            s.title,
            s.id
        )?;
        write!(out, "{}", solution_text(l, s)?)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LESSON: &str = "---
id: demo
title: Demo
summary: S
minutes: 5
order: 1
---
# Demo

## Apply {#apply}

```check
resource: {kind: Pod, name: a}
```

### Solution {.solution}

Write `a.yaml`, then **apply** it ([docs](https://k8s.io)):

```sh
cat > a.yaml <<'EOF'
url: http://localhost:8001/x
EOF
kubectl apply -f a.yaml
```

```console
$ kubectl get pods \\
    -o wide
NAME  READY
a     1/1
$ kubectl proxy &
```

```yaml
not: run
```

## Read {#read}

```check
resource: {kind: Pod, name: a}
```

### Solution {.solution}

- one
- two

## Quiz {#quiz}

```check
quiz:
  question: Q?
  choices: [x, y]
  answer: a
```

### Solution {.solution}

**a**: because.

## Post {#post}

```check
resource: {kind: Pod, name: a}
```

### Solution {.solution}

```bash
URL=http://localhost:8001/api/v1/x
curl -s -d '{\"a\": \"localhost:8001\"}' \"$URL\"
kubectl edit configmap x
```
";

    fn course() -> (Course, CourseFiles) {
        let mut f = CourseFiles::new();
        f.insert("lessons/en/01-demo.md", LESSON.as_bytes().to_vec());
        (Course::load(&f).unwrap(), f)
    }

    #[test]
    fn finds_steps_by_id_or_number_and_lists_the_valid_ids() {
        let (c, _) = course();
        let (l, s) = find_step(&c, Lang::En, "demo", "read").unwrap();
        assert_eq!((l.id(), s.id.as_str()), ("demo", "read"));
        let (_, s) = find_step(&c, Lang::En, "1", "1").unwrap();
        assert_eq!(s.id, "apply");
        let e = find_step(&c, Lang::En, "nope", "x")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no lesson 'nope'; the lessons are: demo (see `kubetutor list`)"
        );
        let e = find_step(&c, Lang::En, "demo", "9")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "lesson demo has no step '9'; its steps are: apply, read, quiz, post"
        );
    }

    #[test]
    fn renders_markdown_as_plain_text() {
        let (c, _) = course();
        let (l, s) = find_step(&c, Lang::En, "demo", "apply").unwrap();
        let t = solution_text(l, s).unwrap();
        assert!(
            t.starts_with(
                "Write a.yaml, then apply it (docs (https://k8s.io)):\n\n    cat > a.yaml <<'EOF'\n"
            ),
            "{t}"
        );
        let (l, s) = find_step(&c, Lang::En, "demo", "read").unwrap();
        assert_eq!(solution_text(l, s).unwrap(), "- one\n- two\n");
    }

    #[test]
    fn script_runs_the_commands_with_a_private_proxy() {
        let (c, _) = course();
        let (l, s) = find_step(&c, Lang::En, "demo", "apply").unwrap();
        let sc = solution_script(l, s, Path::new("/tmp/lab dir")).unwrap();
        assert!(sc.starts_with("#!/bin/sh\n"), "{sc}");
        assert!(sc.contains("set -eu\ncd '/tmp/lab dir'\n"), "{sc}");
        // Heredoc data is kept as written; console output lines are dropped.
        assert!(sc.contains("url: http://localhost:8001/x\nEOF\n"), "{sc}");
        assert!(sc.contains("kubectl get pods \\\n    -o wide\n"), "{sc}");
        assert!(!sc.contains("a     1/1"), "{sc}");
        assert!(!sc.contains("not: run"), "{sc}");
        // `kubectl proxy &` becomes the private proxy.
        assert!(sc.contains("kubectl proxy --port 0"), "{sc}");
        assert!(!sc.contains("kubectl proxy &"), "{sc}");

        let (l, s) = find_step(&c, Lang::En, "demo", "post").unwrap();
        let sc = solution_script(l, s, Path::new("/lab")).unwrap();
        assert!(sc.contains("cd /lab\n"), "{sc}");
        assert!(
            sc.contains("URL=http://localhost:${KUBETUTOR_PROXY_PORT}/api/v1/x\n"),
            "{sc}"
        );
        // Not inside single quotes (the shell would not expand it).
        assert!(sc.contains("-d '{\"a\": \"localhost:8001\"}'"), "{sc}");

        let (l, s) = find_step(&c, Lang::En, "demo", "quiz").unwrap();
        let e = solution_script(l, s, Path::new("/lab"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no commands to run"), "{e}");
    }

    #[test]
    fn the_script_is_valid_posix_shell() {
        let (c, _) = course();
        let (l, s) = find_step(&c, Lang::En, "demo", "post").unwrap();
        let sc = solution_script(l, s, Path::new("/lab")).unwrap();
        let Ok(out) = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&sc)
            .output()
        else {
            eprintln!("notice: no sh; skipping the syntax check");
            return;
        };
        assert!(out.status.success(), "{sc}\n{:?}", out);
    }

    #[test]
    fn lint_warns_about_solutions_a_script_cannot_run() {
        let (_, f) = course();
        let w: Vec<String> = lint_warnings(&f).iter().map(|d| d.to_string()).collect();
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].contains("warning: the solution of step read has no runnable block"),
            "{w:#?}"
        );
        assert!(w[1].contains("runs `kubectl edit`"), "{w:#?}");
    }

    #[test]
    fn every_shipped_solution_is_runnable_or_an_answer() {
        let files = CourseFiles::embedded();
        let w: Vec<String> = lint_warnings(&files)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(w.is_empty(), "{w:#?}");
        let course = Course::load(&files).unwrap();
        for lang in Lang::ALL {
            for l in course.lessons(lang) {
                for s in &l.steps {
                    if let Ok(sc) = solution_script(l, s, Path::new("/lab"))
                        && let Ok(out) = std::process::Command::new("sh")
                            .args(["-n", "-c", &sc])
                            .output()
                    {
                        assert!(out.status.success(), "{} {}:\n{sc}", l.path, s.id);
                    }
                }
            }
        }
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(heredoc_delimiter("cat > a <<'EOF'").as_deref(), Some("EOF"));
        assert_eq!(heredoc_delimiter("cat <<-END_X").as_deref(), Some("END_X"));
        assert_eq!(heredoc_delimiter("echo a").as_deref(), None);
        assert_eq!(shell_quote("/a/b"), "/a/b");
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }
}
