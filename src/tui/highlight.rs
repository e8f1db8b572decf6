//! A small hand-written syntax highlighter for the two languages lessons
//! show: YAML manifests and shell commands. It works line by line with a
//! little state (YAML block scalars, shell line continuations, console
//! output), which is all lesson snippets need.

use super::theme::Tok;

/// The languages the highlighter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeLang {
    Yaml,
    Shell,
    Plain,
}

impl CodeLang {
    /// From a fence info string (`yaml`, `bash`, `console`...); with none,
    /// guesses from the first line.
    pub fn detect(info: &str, code: &str) -> CodeLang {
        let tag = info
            .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match tag.as_str() {
            "yaml" | "yml" => CodeLang::Yaml,
            "bash" | "sh" | "shell" | "console" | "zsh" | "shell-session" | "terminal" => {
                CodeLang::Shell
            }
            "" => {
                let first = code.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let t = first.trim_start();
                if t.starts_with("$ ") || t.starts_with("kubectl ") {
                    CodeLang::Shell
                } else if t.starts_with("apiVersion:") || t.starts_with("kind:") {
                    CodeLang::Yaml
                } else {
                    CodeLang::Plain
                }
            }
            _ => CodeLang::Plain,
        }
    }
}

/// One highlighted line: (token kind, text) pieces that concatenate back to
/// the original line.
pub type HlLine = Vec<(Tok, String)>;

/// Highlights a whole code block, one entry per line.
pub fn highlight(lang: CodeLang, code: &str) -> Vec<HlLine> {
    match lang {
        CodeLang::Yaml => {
            let mut block: Option<usize> = None;
            code.lines().map(|l| yaml_line(l, &mut block)).collect()
        }
        CodeLang::Shell => {
            // In a console transcript (some lines have a `$ ` prompt) the
            // other lines are output and stay plain.
            let console = code.lines().any(|l| l.trim_start().starts_with("$ "));
            let mut cont = false;
            code.lines()
                .map(|l| shell_line(l, console, &mut cont))
                .collect()
        }
        CodeLang::Plain => code
            .lines()
            .map(|l| vec![(Tok::Plain, l.to_owned())])
            .collect(),
    }
}

fn push(out: &mut HlLine, t: Tok, s: &str) {
    if s.is_empty() {
        return;
    }
    match out.last_mut() {
        Some((lt, ls)) if *lt == t => ls.push_str(s),
        _ => out.push((t, s.to_owned())),
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `block`: the indentation of the key that opened a `|`/`>` block scalar,
/// while its content lines follow.
fn yaml_line(line: &str, block: &mut Option<usize>) -> HlLine {
    let mut out = Vec::new();
    let indent = indent_of(line);
    if let Some(b) = *block {
        if line.trim().is_empty() || indent > b {
            push(&mut out, Tok::Str, line);
            return out;
        }
        *block = None;
    }
    let (ws, mut rest) = line.split_at(indent);
    push(&mut out, Tok::Plain, ws);
    if rest.starts_with('#') {
        push(&mut out, Tok::Comment, rest);
        return out;
    }
    if rest == "---" || rest == "..." {
        push(&mut out, Tok::Punct, rest);
        return out;
    }
    // List dashes, possibly several (`- - a`).
    let mut key_indent = indent;
    while rest == "-" || rest.starts_with("- ") {
        push(&mut out, Tok::Dash, "-");
        let after = &rest[1..];
        let n = after.len() - after.trim_start_matches(' ').len();
        push(&mut out, Tok::Plain, &after[..n]);
        key_indent += 1 + n;
        rest = &after[n..];
    }
    if let Some(klen) = yaml_key_len(rest) {
        push(&mut out, Tok::Key, &rest[..klen]);
        push(&mut out, Tok::Punct, ":");
        rest = &rest[klen + 1..];
        let n = rest.len() - rest.trim_start_matches(' ').len();
        push(&mut out, Tok::Plain, &rest[..n]);
        rest = &rest[n..];
    }
    yaml_value(rest, &mut out, block, key_indent);
    out
}

/// Length of a mapping key at the start of `s` (the `:` follows it and is
/// followed by a space or the end of line).
fn yaml_key_len(s: &str) -> Option<usize> {
    let first = s.chars().next()?;
    if first == '"' || first == '\'' {
        let close = s[1..].find(first)? + 1;
        let after = &s[close + 1..];
        return (after.starts_with(':') && (after.len() == 1 || after[1..].starts_with(' ')))
            .then_some(close + 1);
    }
    if matches!(
        first,
        '{' | '[' | '#' | '|' | '>' | '&' | '*' | '!' | '%' | '@' | '`'
    ) {
        return None;
    }
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && i > 0 && bytes[i - 1] == b' ' {
            return None;
        }
        if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return (i > 0).then_some(i);
        }
    }
    None
}

fn yaml_value(s: &str, out: &mut HlLine, block: &mut Option<usize>, key_indent: usize) {
    if s.is_empty() {
        return;
    }
    // Split off a trailing comment (` #`) outside quotes.
    let (val, comment) = split_comment(s);
    let trimmed = val.trim_end();
    let trailing = &val[trimmed.len()..];
    let tok = if trimmed.starts_with('"') || trimmed.starts_with('\'') {
        Tok::Str
    } else if trimmed.starts_with('|') || trimmed.starts_with('>') {
        *block = Some(key_indent);
        Tok::Punct
    } else if is_number(trimmed) || matches!(trimmed, "true" | "false" | "null" | "~") {
        Tok::Number
    } else {
        Tok::Plain
    };
    push(out, tok, trimmed);
    push(out, Tok::Plain, trailing);
    push(out, Tok::Comment, comment);
}

fn split_comment(s: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return (&s[..i], &s[i..]),
            None => {}
        }
        prev_space = c == ' ';
    }
    (s, "")
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
        && s.matches('.').count() <= 1
}

/// `cont`: the previous line ended with a `\` continuation.
fn shell_line(line: &str, console: bool, cont: &mut bool) -> HlLine {
    let mut out = Vec::new();
    let indent = line.len() - line.trim_start().len();
    let (ws, rest) = line.split_at(indent);
    push(&mut out, Tok::Plain, ws);
    let mut rest = rest;
    if console && !*cont {
        if let Some(r) = rest.strip_prefix("$ ") {
            push(&mut out, Tok::Prompt, "$ ");
            rest = r;
        } else {
            // Command output.
            push(&mut out, Tok::Plain, rest);
            return out;
        }
    }
    let mut expect_cmd = !*cont;
    *cont = false;
    let mut chars = rest.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            let start = i;
            while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
                chars.next();
            }
            let end = chars.peek().map_or(rest.len(), |&(j, _)| j);
            push(&mut out, Tok::Plain, &rest[start..end]);
            continue;
        }
        if c == '#' {
            push(&mut out, Tok::Comment, &rest[i..]);
            break;
        }
        if matches!(c, '|' | '&' | ';' | '(' | ')' | '<' | '>') {
            let start = i;
            while chars
                .peek()
                .is_some_and(|&(_, c)| matches!(c, '|' | '&' | ';' | '(' | ')' | '<' | '>'))
            {
                chars.next();
            }
            let end = chars.peek().map_or(rest.len(), |&(j, _)| j);
            let op = &rest[start..end];
            push(&mut out, Tok::Punct, op);
            // After a redirection a file name follows, not a command.
            expect_cmd = !op.ends_with('>') && !op.ends_with('<');
            continue;
        }
        // A word, with quoted parts kept whole.
        let start = i;
        let mut quoted = false;
        let mut quote: Option<char> = None;
        while let Some(&(_, c)) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    quoted = true;
                }
                None if c.is_whitespace() || matches!(c, '|' | ';' | '&' | '<' | '>' | ')') => {
                    break;
                }
                None => {}
            }
            chars.next();
        }
        let end = chars.peek().map_or(rest.len(), |&(j, _)| j);
        let word = &rest[start..end];
        if word == "\\" && end == rest.len() {
            push(&mut out, Tok::Punct, word);
            *cont = true;
            break;
        }
        let is_assign = expect_cmd
            && word.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        let tok = if is_assign {
            Tok::Plain
        } else if quoted && (word.starts_with('"') || word.starts_with('\'')) {
            Tok::Str
        } else if expect_cmd {
            expect_cmd = false;
            Tok::Command
        } else if word.starts_with('-') && word.len() > 1 {
            Tok::Flag
        } else if quoted {
            Tok::Str
        } else {
            Tok::Plain
        };
        push(&mut out, tok, word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(lang: CodeLang, code: &str) -> Vec<Vec<(Tok, &'static str)>> {
        highlight(lang, code)
            .into_iter()
            .map(|l| {
                l.into_iter()
                    .map(|(t, s)| (t, &*Box::leak(s.into_boxed_str())))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn pieces_concatenate_back() {
        let code = "apiVersion: v1\nkind: Pod # c\nspec:\n  - name: \"x: y\"\n    n: 3\n";
        for (l, hl) in code.lines().zip(highlight(CodeLang::Yaml, code)) {
            let joined: String = hl.iter().map(|(_, s)| s.as_str()).collect();
            assert_eq!(joined, l);
        }
        let sh = "$ kubectl get pods -n x | grep 'a b' # hi\nout put\n";
        for (l, hl) in sh.lines().zip(highlight(CodeLang::Shell, sh)) {
            let joined: String = hl.iter().map(|(_, s)| s.as_str()).collect();
            assert_eq!(joined, l);
        }
    }

    #[test]
    fn yaml_keys_values_comments() {
        let t = toks(
            CodeLang::Yaml,
            "metadata:\n  name: web # the name\n  replicas: 3\n",
        );
        assert_eq!(t[0], vec![(Tok::Key, "metadata"), (Tok::Punct, ":")]);
        assert_eq!(
            t[1],
            vec![
                (Tok::Plain, "  "),
                (Tok::Key, "name"),
                (Tok::Punct, ":"),
                (Tok::Plain, " web "),
                (Tok::Comment, "# the name"),
            ]
        );
        assert_eq!(t[2][4], (Tok::Number, "3"));
    }

    #[test]
    fn yaml_dashes_strings_and_block_scalars() {
        let t = toks(
            CodeLang::Yaml,
            "- name: 'a'\n- b\ncommand: |\n  echo a: b\n  # not a comment\nnext: \"s\"\n# full\n",
        );
        assert_eq!(t[0][0], (Tok::Dash, "-"));
        assert_eq!(t[0][2], (Tok::Key, "name"));
        assert_eq!(t[0][5], (Tok::Str, "'a'"));
        assert_eq!(t[1], vec![(Tok::Dash, "-"), (Tok::Plain, " b")]);
        assert_eq!(t[2][2], (Tok::Plain, " "));
        assert_eq!(t[2][3], (Tok::Punct, "|"));
        assert_eq!(t[3], vec![(Tok::Str, "  echo a: b")]);
        assert_eq!(t[4], vec![(Tok::Str, "  # not a comment")]);
        assert_eq!(t[5][0], (Tok::Key, "next"));
        assert_eq!(t[5][3], (Tok::Str, "\"s\""));
        assert_eq!(t[6], vec![(Tok::Comment, "# full")]);
    }

    #[test]
    fn yaml_url_value_is_not_a_key() {
        let t = toks(CodeLang::Yaml, "url: http://x:80/a\n");
        assert_eq!(t[0][0], (Tok::Key, "url"));
        assert_eq!(t[0][2], (Tok::Plain, " http://x:80/a"));
    }

    #[test]
    fn shell_commands_flags_strings_comments() {
        let t = toks(
            CodeLang::Shell,
            "kubectl exec -it web -- sh -c 'echo hi > /data/f' # write\n",
        );
        assert_eq!(t[0][0], (Tok::Command, "kubectl"));
        assert!(t[0].contains(&(Tok::Flag, "-it")));
        assert!(t[0].contains(&(Tok::Flag, "--")));
        assert!(t[0].contains(&(Tok::Str, "'echo hi > /data/f'")));
        assert_eq!(t[0].last(), Some(&(Tok::Comment, "# write")));
    }

    #[test]
    fn shell_pipes_prompts_output_and_continuations() {
        let t = toks(
            CodeLang::Shell,
            "$ FOO=1 kubectl get pods | grep web\nweb-1 Running\n$ kubectl apply \\\n  -f pod.yaml\n",
        );
        assert_eq!(t[0][0], (Tok::Prompt, "$ "));
        assert_eq!(t[0][1], (Tok::Plain, "FOO=1 "));
        assert_eq!(t[0][2], (Tok::Command, "kubectl"));
        assert!(t[0].contains(&(Tok::Punct, "|")));
        assert!(t[0].contains(&(Tok::Command, "grep")));
        assert_eq!(t[1], vec![(Tok::Plain, "web-1 Running")]);
        assert_eq!(t[2].last(), Some(&(Tok::Punct, "\\")));
        // The continuation line has no prompt and is not output.
        assert_eq!(
            t[3],
            vec![
                (Tok::Plain, "  "),
                (Tok::Flag, "-f"),
                (Tok::Plain, " pod.yaml")
            ]
        );
    }

    #[test]
    fn detects_languages() {
        assert_eq!(CodeLang::detect("yaml", ""), CodeLang::Yaml);
        assert_eq!(CodeLang::detect("bash title=x", ""), CodeLang::Shell);
        assert_eq!(CodeLang::detect("", "kubectl get pv"), CodeLang::Shell);
        assert_eq!(CodeLang::detect("", "apiVersion: v1"), CodeLang::Yaml);
        assert_eq!(CodeLang::detect("rust", "fn main(){}"), CodeLang::Plain);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "",
            "\"",
            "'",
            ":",
            "- ",
            "-",
            "#",
            "a:\u{e9}:",
            "\\",
            "é: 'ü",
            "$ ",
            "|>&;",
        ] {
            highlight(CodeLang::Yaml, s);
            highlight(CodeLang::Shell, s);
        }
    }
}
