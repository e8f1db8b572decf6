//! Word expansion, in POSIX order: tilde, parameters (`${v:-x}`,
//! `${v#p}`, `${#v}`, `${v/a/b}`...), command substitution, arithmetic,
//! field splitting on `IFS`, pathname expansion, quote removal. What an
//! expansion builds is charged to the container's memory budget before it
//! is built, so `x=$x$x` in a loop ends in an OOM kill, not a dead host.
//! Also: redirections (their targets expand here, then files open).

use std::sync::Arc;

use crate::process::ExitStatus;
use crate::shell::userland::ShellKind;

use super::arith::{self, ArithEnv};
use super::ast::*;
use super::interp::{Flow, Res, Shell};
use super::io::{CaptureFd, Fd};
use super::pattern::Pattern;
use super::vfs::errno;

/// One field being built: its text and which byte ranges were unquoted
/// (those may glob).
#[derive(Debug, Default, Clone)]
struct Field {
    text: String,
    unquoted: Vec<(usize, usize)>,
    /// A quoted part or some text: the field exists even if empty.
    keep: bool,
}

impl Field {
    fn push(&mut self, s: &str, quoted: bool) {
        if !quoted && !s.is_empty() {
            let start = self.text.len();
            self.unquoted.push((start, start + s.len()));
        }
        self.text.push_str(s);
        if quoted || !s.is_empty() {
            self.keep = true;
        }
    }

    /// A per-char mask: true where the char was quoted (literal).
    fn literal_mask(&self) -> Vec<bool> {
        self.text
            .char_indices()
            .map(|(i, _)| !self.unquoted.iter().any(|(a, b)| *a <= i && i < *b))
            .collect()
    }

    fn has_glob_magic(&self) -> bool {
        self.unquoted
            .iter()
            .any(|(a, b)| self.text[*a..*b].contains(['*', '?', '[']))
    }
}

struct Builder {
    fields: Vec<Field>,
    pending_break: bool,
    split: bool,
}

impl Builder {
    fn new(split: bool) -> Builder {
        Builder {
            fields: vec![Field::default()],
            pending_break: false,
            split,
        }
    }

    fn cur(&mut self) -> &mut Field {
        if self.pending_break {
            self.pending_break = false;
            self.fields.push(Field::default());
        }
        if self.fields.is_empty() {
            self.fields.push(Field::default());
        }
        let n = self.fields.len() - 1;
        &mut self.fields[n]
    }

    fn push(&mut self, s: &str, quoted: bool) {
        self.cur().push(s, quoted);
    }

    /// Appends an unquoted expansion's value, split on `ifs`.
    fn push_split(&mut self, value: &str, ifs: &str) {
        if !self.split || ifs.is_empty() {
            self.push(value, false);
            return;
        }
        let is_ws = |c: char| ifs.contains(c) && c.is_ascii_whitespace();
        let mut piece = String::new();
        let mut in_ws = false;
        for c in value.chars() {
            if ifs.contains(c) {
                if !piece.is_empty() {
                    self.push(&piece, false);
                    piece.clear();
                }
                if is_ws(c) {
                    if !in_ws {
                        let has = self.fields.last().is_some_and(|f| f.keep) && !self.pending_break;
                        if has {
                            self.pending_break = true;
                        }
                        in_ws = true;
                    }
                } else {
                    // A non-blank delimiter ends a field, even an empty one.
                    self.cur().keep = true;
                    self.pending_break = true;
                    in_ws = false;
                }
            } else {
                in_ws = false;
                piece.push(c);
            }
        }
        if !piece.is_empty() {
            self.push(&piece, false);
        }
    }

    fn finish(self) -> Vec<Field> {
        self.fields.into_iter().filter(|f| f.keep).collect()
    }
}

/// The variables as the arithmetic evaluator sees them.
struct ArithVars<'a>(&'a mut Shell);

impl ArithEnv for ArithVars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.param_get(name)
    }
    fn set(&mut self, name: &str, value: i64) -> Result<(), String> {
        self.0
            .vars
            .set(name, value.to_string())
            .map_err(|e| match e {
                super::vars::VarError::ReadOnly => format!("{name}: is read only"),
                super::vars::VarError::Oom => "out of memory".to_string(),
            })
    }
}

const MAX_GLOB_RESULTS: usize = 100_000;

impl Shell {
    /// Charges `n` more bytes of expansion output.
    fn charge_exp(&mut self, n: usize) -> Res<()> {
        if self.exp_charge.grow(n as u64).is_err() {
            return Err(self.oom());
        }
        Ok(())
    }

    /// The words of a simple command, split and globbed (assignment-like
    /// arguments of `export`, `local`... are not split).
    pub fn expand_command_words(&mut self, words: &[Word]) -> Res<Vec<String>> {
        let declaration = words
            .first()
            .and_then(Word::as_plain)
            .is_some_and(|w| matches!(w, "export" | "local" | "readonly" | "declare" | "typeset"));
        let mut out = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if declaration && i > 0 && looks_like_assignment(w) {
                out.push(self.expand_assignment(w)?);
                continue;
            }
            out.extend(self.expand_word(w, true)?);
        }
        Ok(out)
    }

    pub fn expand_words(&mut self, words: &[Word]) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for w in words {
            out.extend(self.expand_word(w, true)?);
        }
        Ok(out)
    }

    /// One word to fields: split and globbed when `split`.
    fn expand_word(&mut self, w: &Word, split: bool) -> Res<Vec<String>> {
        let mut b = Builder::new(split);
        self.expand_into(&mut b, &w.parts, true)?;
        let fields = b.finish();
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            if split && !self.opts.noglob && f.has_glob_magic() {
                let matches = self.glob(&f);
                if matches.is_empty() {
                    out.push(f.text);
                } else {
                    out.extend(matches);
                }
            } else {
                out.push(f.text);
            }
        }
        Ok(out)
    }

    /// One word to one string: no splitting, no globbing.
    pub fn expand_string(&mut self, w: &Word) -> Res<String> {
        let mut b = Builder::new(false);
        self.expand_into(&mut b, &w.parts, false)?;
        Ok(b.fields
            .into_iter()
            .map(|f| f.text)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// An assignment's value (`~` expands at its start).
    pub fn expand_assignment(&mut self, w: &Word) -> Res<String> {
        let mut b = Builder::new(false);
        self.expand_into(&mut b, &w.parts, true)?;
        Ok(b.fields
            .into_iter()
            .map(|f| f.text)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// A word as a pattern: quoted characters match themselves.
    pub fn expand_pattern(&mut self, w: &Word) -> Res<Pattern> {
        let mut b = Builder::new(false);
        self.expand_into(&mut b, &w.parts, false)?;
        let mut field = Field::default();
        for f in b.fields {
            let base = field.text.len();
            for (a, e) in f.unquoted {
                field.unquoted.push((a + base, e + base));
            }
            field.text.push_str(&f.text);
        }
        Ok(Pattern::new(&field.text, &field.literal_mask()))
    }

    fn expand_into(&mut self, b: &mut Builder, parts: &[Part], tilde: bool) -> Res<()> {
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Lit { text, quoted } => {
                    self.charge_exp(text.len())?;
                    if i == 0 && tilde && !quoted && text.starts_with('~') {
                        let end = text.find('/').unwrap_or(text.len());
                        match self.tilde(&text[1..end]) {
                            Some(home) => {
                                b.push(&home, true);
                                b.push(&text[end..], false);
                            }
                            None => b.push(text, false),
                        }
                    } else {
                        b.push(text, *quoted);
                    }
                }
                Part::Param { exp, quoted } => self.expand_param(b, exp, *quoted)?,
                Part::Command { list, quoted } => {
                    let value = self.command_subst(list)?;
                    self.charge_exp(value.len())?;
                    if *quoted {
                        b.push(&value, true);
                    } else {
                        let ifs = self.ifs();
                        b.push_split(&value, &ifs);
                    }
                }
                Part::Arith { expr, quoted } => {
                    let text = self.expand_string(expr)?;
                    let v = self.arith(&text)?.to_string();
                    if *quoted {
                        b.push(&v, true);
                    } else {
                        let ifs = self.ifs();
                        b.push_split(&v, &ifs);
                    }
                }
            }
        }
        Ok(())
    }

    fn ifs(&self) -> String {
        match self.vars.var("IFS") {
            Some(v) => v.value.clone(),
            None => " \t\n".to_string(),
        }
    }

    fn tilde(&self, user: &str) -> Option<String> {
        match user {
            "" => Some(self.vars.get("HOME").unwrap_or("/root").to_string()),
            "root" => Some("/root".to_string()),
            _ => None,
        }
    }

    /// Evaluates arithmetic, reporting errors as the shell does.
    pub fn arith(&mut self, text: &str) -> Res<i64> {
        match arith::eval(text, &mut ArithVars(self)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let e = match self.dialect {
                    ShellKind::Bash => format!("{}: {e}", text.trim()),
                    _ => e,
                };
                if e.contains("out of memory") {
                    return Err(self.oom());
                }
                self.msg(None, &e);
                Err(Flow::Error(if self.bash() { 1 } else { 2 }))
            }
        }
    }

    /// A parameter's value (None: unset).
    pub fn param_get(&self, name: &str) -> Option<String> {
        Some(match name {
            "?" => self.status.to_string(),
            "#" => self.params.len().to_string(),
            "$" => self.shell_pid.to_string(),
            "!" => return self.last_bg.map(|p| p.to_string()),
            "-" => self.opts.flags(self.interactive),
            "0" => self.arg0.clone(),
            "@" | "*" => self.params.join(" "),
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                return self.params.get(i.checked_sub(1)?).cloned();
            }
            "LINENO" => self.lineno.to_string(),
            "PPID" => self.proc.ppid().to_string(),
            "SECONDS" if !self.vars.is_set("SECONDS") => {
                self.started.elapsed().as_secs().to_string()
            }
            "RANDOM" => {
                // A small LCG, as the shells' own.
                let r = self.random.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((r >> 16) & 0x7fff).to_string()
            }
            "EPOCHSECONDS" => jiff::Timestamp::now().as_second().to_string(),
            "BASHPID" if self.bash() => self.proc.pid().to_string(),
            _ => return self.vars.get(name).map(str::to_string),
        })
    }

    fn unset_error(&mut self, name: &str) -> Flow {
        self.msg(None, &format!("{name}: parameter not set"));
        Flow::Error(if self.bash() { 1 } else { 2 })
    }

    // Long: one arm per parameter operator (`:-`, `#`, `%`, `/`, `:off:len`...),
    // each a few lines; splitting would scatter POSIX's table.
    fn expand_param(&mut self, b: &mut Builder, exp: &ParamExp, quoted: bool) -> Res<()> {
        if exp.name == "RANDOM" {
            self.random = self.random.wrapping_mul(1_103_515_245).wrapping_add(12345);
        }
        let name = exp.name.as_str();
        if (name == "@" || name == "*") && exp.op == ParamOp::Plain {
            let params = self.params.clone();
            for p in &params {
                self.charge_exp(p.len())?;
            }
            if quoted && name == "@" {
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        b.pending_break = true;
                    }
                    b.push(p, true);
                }
                return Ok(());
            }
            if quoted {
                let sep = self
                    .ifs()
                    .chars()
                    .next()
                    .map(String::from)
                    .unwrap_or_default();
                b.push(&params.join(&sep), true);
                return Ok(());
            }
            let ifs = self.ifs();
            for (i, p) in params.iter().enumerate() {
                if i > 0 && b.fields.last().is_some_and(|f| f.keep) {
                    b.pending_break = true;
                }
                b.push_split(p, &ifs);
            }
            return Ok(());
        }
        let value = self.param_get(name);
        let set = value.is_some();
        let empty = value.as_deref().is_none_or(str::is_empty);
        let result: String = match &exp.op {
            ParamOp::Plain => match value {
                Some(v) => v,
                None if self.opts.nounset && name != "@" && name != "*" => {
                    return Err(self.unset_error(name));
                }
                None => String::new(),
            },
            ParamOp::Length => {
                if !set && self.opts.nounset {
                    return Err(self.unset_error(name));
                }
                value.unwrap_or_default().chars().count().to_string()
            }
            ParamOp::Default { colon, word } => {
                if !set || (*colon && empty) {
                    return self.expand_into(b, &word.parts, false);
                }
                value.unwrap_or_default()
            }
            ParamOp::Alternative { colon, word } => {
                if !set || (*colon && empty) {
                    return Ok(());
                }
                return self.expand_into(b, &word.parts, false);
            }
            ParamOp::Assign { colon, word } => {
                if !set || (*colon && empty) {
                    let v = self.expand_string(word)?;
                    if !super::ast::is_name(name) {
                        self.msg(None, &format!("{name}: bad variable name"));
                        return Err(Flow::Error(2));
                    }
                    self.set_var(name, v.clone())?;
                    v
                } else {
                    value.unwrap_or_default()
                }
            }
            ParamOp::Error { colon, word } => {
                if !set || (*colon && empty) {
                    let text = self.expand_string(word)?;
                    let text = if text.is_empty() {
                        if *colon {
                            "parameter null or not set".to_string()
                        } else {
                            "parameter not set".to_string()
                        }
                    } else {
                        text
                    };
                    self.msg(None, &format!("{name}: {text}"));
                    return Err(Flow::Error(if self.bash() { 1 } else { 2 }));
                }
                value.unwrap_or_default()
            }
            ParamOp::RemovePrefix { longest, pattern } => {
                let v = self.nounset_value(name, value)?;
                let p = self.expand_pattern(pattern)?;
                let lens = p.prefix_lengths(&v);
                let cut = if *longest { lens.last() } else { lens.first() };
                match cut {
                    Some(&n) => v.chars().skip(n).collect(),
                    None => v,
                }
            }
            ParamOp::RemoveSuffix { longest, pattern } => {
                let v = self.nounset_value(name, value)?;
                let p = self.expand_pattern(pattern)?;
                let starts = p.suffix_starts(&v);
                let cut = if *longest {
                    starts.first()
                } else {
                    starts.last()
                };
                match cut {
                    Some(&n) => v.chars().take(n).collect(),
                    None => v,
                }
            }
            ParamOp::Substring { offset, length } => {
                let v = self.nounset_value(name, value)?;
                let chars: Vec<char> = v.chars().collect();
                let len = chars.len() as i64;
                let off_text = self.expand_string(offset)?;
                let mut off = self.arith(&off_text)?;
                if off < 0 {
                    off = (len + off).max(0);
                }
                let off = off.min(len);
                let end = match length {
                    Some(l) => {
                        let l_text = self.expand_string(l)?;
                        let l = self.arith(&l_text)?;
                        if l < 0 {
                            (len + l).max(off)
                        } else {
                            (off + l).min(len)
                        }
                    }
                    None => len,
                };
                chars[off as usize..end.max(off) as usize].iter().collect()
            }
            ParamOp::Replace {
                all,
                anchor,
                pattern,
                replacement,
            } => {
                let v = self.nounset_value(name, value)?;
                let p = self.expand_pattern(pattern)?;
                let rep = self.expand_string(replacement)?;
                self.replace(&v, &p, &rep, *all, *anchor)?
            }
            ParamOp::Case { upper, all } => {
                let v = self.nounset_value(name, value)?;
                let convert = |c: char| -> String {
                    if *upper {
                        c.to_uppercase().collect()
                    } else {
                        c.to_lowercase().collect()
                    }
                };
                if *all {
                    v.chars().map(convert).collect()
                } else {
                    let mut cs = v.chars();
                    match cs.next() {
                        Some(first) => convert(first) + cs.as_str(),
                        None => String::new(),
                    }
                }
            }
        };
        self.charge_exp(result.len())?;
        if quoted {
            b.push(&result, true);
        } else {
            let ifs = self.ifs();
            b.push_split(&result, &ifs);
        }
        Ok(())
    }

    fn nounset_value(&mut self, name: &str, value: Option<String>) -> Res<String> {
        match value {
            Some(v) => Ok(v),
            None if self.opts.nounset => Err(self.unset_error(name)),
            None => Ok(String::new()),
        }
    }

    fn replace(
        &mut self,
        v: &str,
        p: &Pattern,
        rep: &str,
        all: bool,
        anchor: Option<char>,
    ) -> Res<String> {
        let chars: Vec<char> = v.chars().collect();
        match anchor {
            Some('#') => {
                return Ok(match p.prefix_lengths(v).last() {
                    Some(&n) => rep.to_string() + &chars[n..].iter().collect::<String>(),
                    None => v.to_string(),
                });
            }
            Some(_) => {
                return Ok(match p.suffix_starts(v).first() {
                    Some(&n) => chars[..n].iter().collect::<String>() + rep,
                    None => v.to_string(),
                });
            }
            None => {}
        }
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i < chars.len() {
            if i % 4096 == 4095 {
                self.checkpoint()?;
            }
            let rest: String = chars[i..].iter().collect();
            let longest = if replaced && !all {
                None
            } else {
                p.prefix_lengths(&rest).into_iter().rfind(|&n| n > 0)
            };
            match longest {
                Some(n) => {
                    out.push_str(rep);
                    i += n;
                    replaced = true;
                }
                None => {
                    out.push(chars[i]);
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    /// `$(list)`: runs it in a subshell of this process, captures its
    /// output (charged), strips trailing newlines.
    pub fn command_subst(&mut self, list: &Arc<List>) -> Res<String> {
        let cap = CaptureFd::new(self.mem());
        let mut sub = self.subshell();
        sub.fds.set(1, Some(Fd::Capture(Arc::clone(&cap))));
        let r = sub.run_list(list);
        let status = sub.finish(r);
        drop(sub);
        let code = match status {
            ExitStatus::Exited(c) => c,
            ExitStatus::OomKilled => return Err(self.oom()),
            ExitStatus::Signaled(s) => return Err(Flow::Killed(ExitStatus::Signaled(s))),
        };
        self.status = code;
        self.subst_status = Some(code);
        let (bytes, _charge) = cap.take();
        let mut text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let trimmed = text.trim_end_matches('\n').len();
        text.truncate(trimmed);
        Ok(text)
    }

    /// Pathname expansion of a field; empty when nothing matches.
    fn glob(&self, f: &Field) -> Vec<String> {
        let mask = f.literal_mask();
        let chars: Vec<char> = f.text.chars().collect();
        // Split into components, each with its mask.
        let mut comps: Vec<(String, Vec<bool>)> = vec![(String::new(), Vec::new())];
        for (c, lit) in chars
            .iter()
            .zip(mask.iter().chain(std::iter::repeat(&true)))
        {
            if *c == '/' {
                comps.push((String::new(), Vec::new()));
            } else if let Some(last) = comps.last_mut() {
                last.0.push(*c);
                last.1.push(*lit);
            }
        }
        let absolute = f.text.starts_with('/');
        let mut results: Vec<String> = vec![if absolute {
            "/".to_string()
        } else {
            String::new()
        }];
        let n = comps.len();
        let vfs = self.vfs();
        for (i, (text, lits)) in comps.iter().enumerate() {
            if i == 0 && absolute {
                continue;
            }
            let last = i + 1 == n;
            let pattern = Pattern::new(text, lits);
            let mut next = Vec::new();
            for base in &results {
                if !pattern.has_magic() {
                    let path = join(base, text, last && text.is_empty());
                    next.push(path);
                    continue;
                }
                let dir = if base.is_empty() { "." } else { base.as_str() };
                let Ok(names) = vfs.list_dir(dir) else {
                    continue;
                };
                for name in names {
                    if name.starts_with('.') && !text.starts_with('.') {
                        continue;
                    }
                    if pattern.matches(&name) {
                        let path = join(base, &name, false);
                        if !last && !vfs.metadata(&path).is_ok_and(|m| m.is_dir()) {
                            continue;
                        }
                        next.push(path);
                        if next.len() > MAX_GLOB_RESULTS {
                            break;
                        }
                    }
                }
            }
            results = next;
            if results.is_empty() {
                return Vec::new();
            }
        }
        results
            .retain(|p| vfs.symlink_metadata(p.trim_end_matches('/')).is_ok() || p.ends_with('/'));
        results.sort();
        results
    }

    // ------------------------------------------------------------------
    // Redirections
    // ------------------------------------------------------------------

    /// Applies redirections to this shell's fds. Ok(Err(status)) when one
    /// failed (its message is printed).
    pub fn redirect(&mut self, redirects: &[Redirect]) -> Res<Result<(), i32>> {
        for r in redirects {
            let fd = r.fd.unwrap_or(match r.op {
                RedirOp::In
                | RedirOp::ReadWrite
                | RedirOp::DupIn
                | RedirOp::HereDoc
                | RedirOp::HereString => 0,
                _ => 1,
            });
            match r.op {
                RedirOp::HereDoc | RedirOp::HereString => {
                    let mut text = self.expand_string(&r.target)?;
                    if r.op == RedirOp::HereString {
                        text.push('\n');
                    }
                    let charge = crate::process::Charge::of(self.mem(), text.len() as u64)
                        .map_err(|_| self.oom())?;
                    self.fds
                        .set(fd, Some(Fd::data(text.into_bytes(), Some(charge))));
                }
                RedirOp::DupIn | RedirOp::DupOut => {
                    let target = self.expand_string(&r.target)?;
                    if target == "-" {
                        self.fds.set(fd, None);
                    } else if let Ok(n) = target.parse::<u32>() {
                        match self.fds.get(n).cloned() {
                            Some(f) => self.fds.set(fd, Some(f)),
                            None => {
                                self.redir_error(&format!("{n}: Bad file descriptor"));
                                return Ok(Err(1));
                            }
                        }
                    } else if r.op == RedirOp::DupOut && r.fd.is_none() {
                        // `>&file`: stdout and stderr to the file.
                        match self.open_target(&target, false, true) {
                            Ok(f) => {
                                self.fds.set(1, Some(f.clone()));
                                self.fds.set(2, Some(f));
                            }
                            Err(code) => return Ok(Err(code)),
                        }
                    } else {
                        self.redir_error(&format!("{target}: Bad file descriptor"));
                        return Ok(Err(1));
                    }
                }
                RedirOp::In => {
                    let target = self.expand_string(&r.target)?;
                    match self.vfs().open_read(&target) {
                        Ok(f) => {
                            let f = self.dev_fd(&target).unwrap_or(f);
                            self.fds.set(fd, Some(f));
                        }
                        Err(e) => {
                            self.open_error(&target, &e, false);
                            return Ok(Err(1));
                        }
                    }
                }
                RedirOp::ReadWrite => {
                    let target = self.expand_string(&r.target)?;
                    match self.vfs().open_write(&target, true, true) {
                        Ok(f) => self.fds.set(fd, Some(f)),
                        Err(e) => {
                            self.open_error(&target, &e, true);
                            return Ok(Err(1));
                        }
                    }
                }
                RedirOp::Out | RedirOp::Clobber | RedirOp::Append => {
                    let target = self.expand_string(&r.target)?;
                    if r.op == RedirOp::Out
                        && self.opts.noclobber
                        && self.vfs().metadata(&target).is_ok_and(|m| m.is_file())
                    {
                        self.redir_error(&format!("{target}: file exists"));
                        return Ok(Err(1));
                    }
                    match self.open_target(&target, r.op == RedirOp::Append, true) {
                        Ok(f) => self.fds.set(fd, Some(f)),
                        Err(code) => return Ok(Err(code)),
                    }
                }
                RedirOp::OutErr | RedirOp::AppendErr => {
                    let target = self.expand_string(&r.target)?;
                    match self.open_target(&target, r.op == RedirOp::AppendErr, true) {
                        Ok(f) => {
                            self.fds.set(1, Some(f.clone()));
                            self.fds.set(2, Some(f));
                        }
                        Err(code) => return Ok(Err(code)),
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// `/dev/stdout` and friends are this shell's own fds.
    fn dev_fd(&self, target: &str) -> Option<Fd> {
        match super::vfs::device(&self.vfs().abs(target))? {
            super::vfs::Device::Fd(n) => Some(self.fds.get_or_null(n)),
            _ => None,
        }
    }

    fn open_target(&mut self, target: &str, append: bool, _write: bool) -> Result<Fd, i32> {
        if let Some(f) = self.dev_fd(target) {
            return Ok(f);
        }
        let vfs = self.vfs();
        // A missing parent directory is "nonexistent directory" in ash.
        let result = vfs.open_write(target, append, false);
        match result {
            Ok(f) => Ok(f),
            Err(e) => {
                self.open_error(target, &e, true);
                Err(1)
            }
        }
    }

    fn redir_error(&self, text: &str) {
        self.msg(None, text);
    }

    /// ash: `can't create X: nonexistent directory`, `can't open X: no
    /// such file`; dash: `cannot create X: Directory nonexistent`; bash:
    /// `X: No such file or directory`.
    fn open_error(&self, target: &str, e: &std::io::Error, create: bool) {
        let missing = matches!(e.raw_os_error(), Some(2 | 20))
            || matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            );
        let text = match self.dialect {
            ShellKind::Ash => {
                let why = if missing {
                    if create {
                        "nonexistent directory"
                    } else {
                        "no such file"
                    }
                    .to_string()
                } else {
                    errno(e)
                };
                if create {
                    format!("can't create {target}: {why}")
                } else {
                    format!("can't open {target}: {why}")
                }
            }
            ShellKind::Dash => {
                let why = if missing {
                    if create {
                        "Directory nonexistent"
                    } else {
                        "No such file"
                    }
                    .to_string()
                } else {
                    errno(e)
                };
                if create {
                    format!("cannot create {target}: {why}")
                } else {
                    format!("cannot open {target}: {why}")
                }
            }
            ShellKind::Bash => format!("{target}: {}", errno(e)),
        };
        self.msg(None, &text);
    }
}

fn join(base: &str, name: &str, _trailing: bool) -> String {
    if base.is_empty() {
        name.to_string()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

fn looks_like_assignment(w: &Word) -> bool {
    match w.parts.first() {
        Some(Part::Lit {
            text,
            quoted: false,
        }) => text
            .split_once('=')
            .is_some_and(|(n, _)| super::ast::is_name(n.trim_end_matches('+'))),
        _ => false,
    }
}
