//! `sed`: addresses (line numbers, `$`, `/re/`, ranges, `!`), the
//! commands learners use (`s` with `g`/`p`/`N`/`I`, `d`, `p`, `q`, `a`,
//! `i`, `c`, `y`, `=`, `n`, `N`, `D`, `P`, `h`/`H`/`g`/`G`/`x`, `b`,
//! `t`, labels, blocks), `-n`, `-e`, `-f`, `-i`, `-E`/`-r`. Input is read a
//! line at a time.

use regex::{Regex, RegexBuilder};

use super::{Ctx, LineReader, Ret};
use crate::shell::vfs::errno;

#[derive(Debug, Clone)]
enum Addr {
    Line(u64),
    Last,
    Re(Option<Regex>),
    Step(u64, u64),
}

#[derive(Debug, Clone)]
enum Cmd {
    Subst {
        re: Option<Regex>,
        rep: String,
        global: bool,
        nth: usize,
        print: bool,
    },
    Delete,
    DeleteFirst,
    Print,
    PrintFirst,
    Quit(i32, bool),
    Append(String),
    Insert(String),
    Change(String),
    Translate(Vec<char>, Vec<char>),
    LineNo,
    Next,
    NextAppend,
    Hold,
    HoldAppend,
    Get,
    GetAppend,
    Exchange,
    Branch(String),
    BranchIf(String, bool),
    Label(String),
    Block(usize),
    EndBlock,
    ReadFile(String),
    WriteFile(String),
    Nop,
}

#[derive(Debug, Clone)]
struct Instr {
    a1: Option<Addr>,
    a2: Option<Addr>,
    negate: bool,
    cmd: Cmd,
}

struct Parser<'a> {
    s: Vec<char>,
    pos: usize,
    ext: bool,
    ctx: &'a Ctx,
    last_re: Option<Regex>,
}

fn compile(re: &str, ext: bool, icase: bool) -> Result<Regex, String> {
    RegexBuilder::new(&super::text::posix_to_rust(re, ext))
        .case_insensitive(icase)
        .size_limit(16 * 1024 * 1024)
        .build()
        .map_err(|_| format!("bad regex '{re}'"))
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
    }

    /// Text up to an unescaped `delim`; `\n` becomes a newline, `\delim`
    /// the delimiter.
    fn delimited(&mut self, delim: char, regex: bool) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!(
                    "unterminated {}",
                    if regex {
                        "address regex"
                    } else {
                        "`s' command"
                    }
                ));
            };
            self.pos += 1;
            if c == delim {
                return Ok(out);
            }
            if c == '\\' {
                match self.peek() {
                    Some(n) if n == delim => {
                        out.push(n);
                        self.pos += 1;
                    }
                    Some('n') if !regex || delim != 'n' => {
                        out.push_str(if regex { "\\n" } else { "\n" });
                        self.pos += 1;
                    }
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                        self.pos += 1;
                    }
                    None => out.push('\\'),
                }
                continue;
            }
            out.push(c);
        }
    }

    fn regex(&mut self, delim: char, icase: bool) -> Result<Option<Regex>, String> {
        let text = self.delimited(delim, true)?;
        if text.is_empty() {
            return Ok(None);
        }
        let re = compile(&text, self.ext, icase)?;
        self.last_re = Some(re.clone());
        Ok(Some(re))
    }

    fn number(&mut self) -> u64 {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.s[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    }

    fn addr(&mut self) -> Result<Option<Addr>, String> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                let n = self.number();
                if self.peek() == Some('~') {
                    self.pos += 1;
                    let step = self.number();
                    return Ok(Some(Addr::Step(n, step)));
                }
                Ok(Some(Addr::Line(n)))
            }
            Some('$') => {
                self.pos += 1;
                Ok(Some(Addr::Last))
            }
            Some('/') => {
                self.pos += 1;
                let re = self.regex('/', false)?;
                let re = if self.peek() == Some('I') {
                    self.pos += 1;
                    re.map(|r| {
                        RegexBuilder::new(r.as_str())
                            .case_insensitive(true)
                            .build()
                            .unwrap_or(r)
                    })
                } else {
                    re
                };
                Ok(Some(Addr::Re(re)))
            }
            Some('\\') => {
                self.pos += 1;
                let d = self.peek().ok_or("unexpected end")?;
                self.pos += 1;
                Ok(Some(Addr::Re(self.regex(d, false)?)))
            }
            _ => Ok(None),
        }
    }

    /// `a text`, `a\` newline `text` (GNU one-liner form too).
    fn text_arg(&mut self) -> String {
        self.skip_ws();
        if self.peek() == Some('\\') {
            self.pos += 1;
            if self.peek() == Some('\n') {
                self.pos += 1;
            }
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.pos += 1;
            if c == '\\' {
                match self.peek() {
                    Some('\n') => {
                        out.push('\n');
                        self.pos += 1;
                    }
                    Some('t') => {
                        out.push('\t');
                        self.pos += 1;
                    }
                    Some(n) => {
                        out.push(n);
                        self.pos += 1;
                    }
                    None => {}
                }
                continue;
            }
            out.push(c);
        }
        out
    }

    fn label(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c != ';' && c != '\n' && c != '}')
        {
            self.pos += 1;
        }
        self.s[start..self.pos]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }

    // Long: one arm per sed command, each reading its own arguments.
    fn parse(&mut self) -> Result<Vec<Instr>, String> {
        let mut prog = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            while self.peek().is_some_and(|c| c.is_whitespace() || c == ';') {
                self.pos += 1;
            }
            let Some(_) = self.peek() else { break };
            if self.peek() == Some('#') {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                continue;
            }
            let a1 = self.addr()?;
            let mut a2 = None;
            if a1.is_some() && self.peek() == Some(',') {
                self.pos += 1;
                a2 = self.addr()?;
                if a2.is_none() {
                    return Err("unexpected ','".to_string());
                }
            }
            self.skip_ws();
            let mut negate = false;
            while self.peek() == Some('!') {
                negate = true;
                self.pos += 1;
                self.skip_ws();
            }
            let Some(c) = self.peek() else {
                return Err("missing command".to_string());
            };
            self.pos += 1;
            let cmd = match c {
                's' => {
                    let delim = self.peek().ok_or("unterminated `s' command")?;
                    self.pos += 1;
                    let text = self.delimited(delim, true)?;
                    let rep = self.delimited(delim, false)?;
                    let mut global = false;
                    let mut print = false;
                    let mut nth = 1;
                    let mut icase = false;
                    loop {
                        match self.peek() {
                            Some('g') => global = true,
                            Some('p') => print = true,
                            Some('i' | 'I') => icase = true,
                            Some(d) if d.is_ascii_digit() => {
                                nth = self.number() as usize;
                                continue;
                            }
                            Some('w') => {
                                self.pos += 1;
                                let _ = self.label();
                                break;
                            }
                            _ => break,
                        }
                        self.pos += 1;
                    }
                    let re = if text.is_empty() {
                        self.last_re.clone()
                    } else {
                        let r = compile(&text, self.ext, icase)?;
                        self.last_re = Some(r.clone());
                        Some(r)
                    };
                    Cmd::Subst {
                        re,
                        rep,
                        global,
                        nth: nth.max(1),
                        print,
                    }
                }
                'd' => Cmd::Delete,
                'D' => Cmd::DeleteFirst,
                'p' => Cmd::Print,
                'P' => Cmd::PrintFirst,
                'q' | 'Q' => {
                    self.skip_ws();
                    let code = self.number() as i32;
                    Cmd::Quit(code, c == 'q')
                }
                'a' => Cmd::Append(self.text_arg()),
                'i' => Cmd::Insert(self.text_arg()),
                'c' => Cmd::Change(self.text_arg()),
                'y' => {
                    let delim = self.peek().ok_or("unterminated `y' command")?;
                    self.pos += 1;
                    let a: Vec<char> = self.delimited(delim, false)?.chars().collect();
                    let b: Vec<char> = self.delimited(delim, false)?.chars().collect();
                    if a.len() != b.len() {
                        return Err("strings for `y' command are different lengths".to_string());
                    }
                    Cmd::Translate(a, b)
                }
                '=' => Cmd::LineNo,
                'n' => Cmd::Next,
                'N' => Cmd::NextAppend,
                'h' => Cmd::Hold,
                'H' => Cmd::HoldAppend,
                'g' => Cmd::Get,
                'G' => Cmd::GetAppend,
                'x' => Cmd::Exchange,
                'b' => Cmd::Branch(self.label()),
                't' => Cmd::BranchIf(self.label(), true),
                'T' => Cmd::BranchIf(self.label(), false),
                ':' => {
                    let l = self.label();
                    if l.is_empty() {
                        return Err("\":\" lacks a label".to_string());
                    }
                    Cmd::Label(l)
                }
                'r' => Cmd::ReadFile(self.label()),
                'w' => Cmd::WriteFile(self.label()),
                'l' | 'z' => Cmd::Nop,
                '{' => {
                    open.push(prog.len());
                    Cmd::Block(0)
                }
                '}' => {
                    let Some(start) = open.pop() else {
                        return Err("unexpected '}'".to_string());
                    };
                    let end = prog.len();
                    if let Some(Instr {
                        cmd: Cmd::Block(e), ..
                    }) = prog.get_mut(start)
                    {
                        *e = end;
                    }
                    Cmd::EndBlock
                }
                other => return Err(format!("unsupported command {other}")),
            };
            prog.push(Instr {
                a1,
                a2,
                negate,
                cmd,
            });
        }
        if !open.is_empty() {
            return Err("missing '}'".to_string());
        }
        let _ = self.ctx;
        Ok(prog)
    }
}

/// Expands `&`, `\1`…`\9` in a replacement.
fn replacement(rep: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut chars = rep.chars();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str(caps.get(0).map_or("", |m| m.as_str())),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let i = d.to_digit(10).unwrap_or(0) as usize;
                    out.push_str(caps.get(i).map_or("", |m| m.as_str()));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

struct State {
    ranges: Vec<bool>,
    hold: String,
    quit: Option<i32>,
}

// Long: sed's options (-n, -e, -f, -i[SUFFIX], -E), then in-place
// editing or the streamed run.
pub fn sed(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut quiet = false;
    let mut in_place: Option<String> = None;
    let mut ext = false;
    let mut scripts: Vec<String> = Vec::new();
    let mut files = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            files.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            match l {
                "quiet" | "silent" => quiet = true,
                "regexp-extended" => ext = true,
                l if l.starts_with("in-place") => {
                    in_place = Some(l.strip_prefix("in-place=").unwrap_or("").to_string())
                }
                l if l.starts_with("expression=") => scripts.push(l[11..].to_string()),
                _ => {}
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                match chars[j] {
                    'n' => quiet = true,
                    'E' | 'r' => ext = true,
                    's' | 'u' | 'z' => {}
                    'i' => {
                        in_place = Some(chars[j + 1..].iter().collect());
                        break;
                    }
                    'e' | 'f' => {
                        let rest: String = chars[j + 1..].iter().collect();
                        let value = if rest.is_empty() {
                            i += 1;
                            args.get(i - 1).cloned().unwrap_or_default()
                        } else {
                            rest
                        };
                        if chars[j] == 'e' {
                            scripts.push(value);
                        } else {
                            match ctx.vfs().read_all(&value, ctx.sys.procs.memory()) {
                                Ok((d, _)) => {
                                    scripts.push(String::from_utf8_lossy(&d).into_owned())
                                }
                                Err(e) => {
                                    ctx.fail(&format!("can't open '{value}': {}", errno(&e)));
                                    return Ok(1);
                                }
                            }
                        }
                        break;
                    }
                    other => return ctx.bad_option(&other.to_string()),
                }
                j += 1;
            }
            continue;
        }
        files.push(a.clone());
    }
    if scripts.is_empty() {
        if files.is_empty() {
            if ctx.gnu() {
                ctx.errs(
                    "Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...\n",
                );
            } else {
                ctx.usage("sed [-i[SFX]] [-nrE] [-f FILE]... [-e CMD]... [FILE]...");
            }
            return Ok(1);
        }
        scripts.push(files.remove(0));
    }
    let script = scripts.join("\n");
    let mut p = Parser {
        s: script.chars().collect(),
        pos: 0,
        ext,
        ctx,
        last_re: None,
    };
    let prog = match p.parse() {
        Ok(prog) => prog,
        Err(e) => {
            if ctx.gnu() {
                ctx.fail(&format!("-e expression #1, char {}: {e}", p.pos));
            } else {
                ctx.fail(&e);
            }
            return Ok(1);
        }
    };
    let mut st = State {
        ranges: vec![false; prog.len()],
        hold: String::new(),
        quit: None,
    };
    if let Some(suffix) = in_place {
        if files.is_empty() {
            ctx.fail("no input files");
            return Ok(1);
        }
        let mut status = 0;
        for f in &files {
            let place = match ctx.vfs().writable(f, true) {
                Ok(p) => p,
                Err(e) => {
                    ctx.fail(&format!("can't open '{f}': {}", errno(&e)));
                    status = 1;
                    continue;
                }
            };
            let input = match ctx.open_input(f) {
                Ok(fd) => fd,
                Err(e) => {
                    ctx.fail(&format!("can't open '{f}': {}", errno(&e)));
                    status = 1;
                    continue;
                }
            };
            let mut out = Vec::new();
            let mut charge = crate::process::Charge::new(ctx.sys.procs.memory());
            run(ctx, &prog, &mut st, vec![input], quiet, &mut |data| {
                charge
                    .grow(data.len() as u64)
                    .map_err(|_| super::Abort::Oom)?;
                out.extend_from_slice(data);
                Ok(())
            })?;
            if !suffix.is_empty() {
                let backup = format!("{}{suffix}", place.host.display());
                let _ = std::fs::copy(&place.host, backup);
            }
            if let Err(e) = ctx
                .sys
                .disk
                .reserve(&place.host, out.len() as u64)
                .and_then(|()| std::fs::write(&place.host, &out))
            {
                ctx.fail(&format!("{f}: {}", errno(&e)));
                status = 1;
            }
            st.ranges.iter_mut().for_each(|r| *r = false);
        }
        return Ok(status);
    }
    let mut inputs = Vec::new();
    let mut status = 0;
    if files.is_empty() {
        inputs.push(ctx.stdin());
    }
    for f in &files {
        match ctx.open_input(f) {
            Ok(fd) => inputs.push(fd),
            Err(e) => {
                ctx.cant_open(f, &e);
                status = 2;
            }
        }
    }
    let mut buf = Vec::new();
    let code = run(ctx, &prog, &mut st, inputs, quiet, &mut |data| {
        buf.extend_from_slice(data);
        if buf.len() > 32 * 1024 {
            ctx.out(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    ctx.out(&buf)?;
    Ok(if status != 0 { status } else { code })
}

fn addr_matches(a: &Addr, line_no: u64, last: bool, text: &str) -> bool {
    match a {
        Addr::Line(n) => line_no == *n,
        Addr::Last => last,
        Addr::Re(Some(re)) => re.is_match(text),
        Addr::Re(None) => false,
        Addr::Step(first, step) => {
            if *step == 0 {
                line_no == *first
            } else {
                line_no >= *first && (line_no - first).is_multiple_of(*step)
            }
        }
    }
}

/// Runs the program over the inputs (one stream, as sed sees several
/// files without -s); returns the `q` exit code.
// Long: sed's cycle (addresses, ranges, then one arm per command) over
// the pattern and hold spaces; the commands share that state.
fn run(
    ctx: &Ctx,
    prog: &[Instr],
    st: &mut State,
    inputs: Vec<crate::shell::io::Fd>,
    quiet: bool,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), super::Abort>,
) -> Result<i32, super::Abort> {
    let mut readers: std::collections::VecDeque<LineReader> =
        inputs.into_iter().map(LineReader::new).collect();
    let mut next_line = |ctx: &Ctx| -> Result<Option<Vec<u8>>, super::Abort> {
        while let Some(r) = readers.front_mut() {
            if let Some(l) = r.next_line(ctx)? {
                return Ok(Some(l));
            }
            readers.pop_front();
        }
        Ok(None)
    };
    let strip = |l: Vec<u8>| -> (String, bool) {
        let nl = l.last() == Some(&b'\n');
        let t = String::from_utf8_lossy(if nl { &l[..l.len() - 1] } else { &l }).into_owned();
        (t, nl)
    };
    let mut pending = next_line(ctx)?;
    let mut line_no = 0u64;
    // What `D` left of the pattern space: the next cycle starts with it
    // instead of a new line.
    let mut carry: Option<String> = None;
    loop {
        ctx.check()?;
        let (mut space, mut had_nl) = match carry.take() {
            Some(rest) => (rest, true),
            None => {
                let Some(raw) = pending.take() else { break };
                line_no += 1;
                let r = strip(raw);
                pending = next_line(ctx)?;
                r
            }
        };
        let mut appended: Vec<String> = Vec::new();
        let mut deleted = false;
        let mut substituted = false;
        let mut pc = 0;
        let mut restart = false;
        while pc < prog.len() {
            let ins = &prog[pc];
            let last = pending.is_none();
            let mut hit = match (&ins.a1, &ins.a2) {
                (None, _) => true,
                (Some(a1), None) => addr_matches(a1, line_no, last, &space),
                (Some(a1), Some(a2)) => {
                    if st.ranges[pc] {
                        let end = match a2 {
                            Addr::Line(n) => line_no >= *n,
                            other => addr_matches(other, line_no, last, &space),
                        };
                        if end {
                            st.ranges[pc] = false;
                        }
                        true
                    } else if addr_matches(a1, line_no, last, &space) {
                        let end_now = matches!(a2, Addr::Line(n) if *n <= line_no);
                        st.ranges[pc] = !end_now;
                        true
                    } else {
                        false
                    }
                }
            };
            if ins.negate {
                hit = !hit;
            }
            if !hit {
                if let Cmd::Block(end) = ins.cmd {
                    pc = end + 1;
                    continue;
                }
                pc += 1;
                continue;
            }
            match &ins.cmd {
                Cmd::Subst {
                    re,
                    rep,
                    global,
                    nth,
                    print,
                } => {
                    let Some(re) = re else {
                        pc += 1;
                        continue;
                    };
                    let mut out = String::new();
                    let mut last_end = 0;
                    let mut count = 0;
                    let mut did = false;
                    for caps in re.captures_iter(&space) {
                        let Some(m) = caps.get(0) else { continue };
                        count += 1;
                        if count < *nth {
                            continue;
                        }
                        out.push_str(&space[last_end..m.start()]);
                        out.push_str(&replacement(rep, &caps));
                        last_end = m.end();
                        did = true;
                        if !global {
                            break;
                        }
                    }
                    if did {
                        out.push_str(&space[last_end..]);
                        space = out;
                        substituted = true;
                        if *print {
                            emit(format!("{space}\n").as_bytes())?;
                        }
                    }
                }
                Cmd::Delete => {
                    deleted = true;
                    break;
                }
                Cmd::DeleteFirst => {
                    match space.find('\n') {
                        Some(i) => {
                            space = space[i + 1..].to_string();
                            restart = true;
                        }
                        None => deleted = true,
                    }
                    break;
                }
                Cmd::Print => emit(format!("{space}\n").as_bytes())?,
                Cmd::PrintFirst => {
                    let first = space.split('\n').next().unwrap_or("");
                    emit(format!("{first}\n").as_bytes())?;
                }
                Cmd::Quit(code, print) => {
                    st.quit = Some(*code);
                    if !*print {
                        deleted = true;
                    }
                    break;
                }
                Cmd::Append(t) => appended.push(t.clone()),
                Cmd::Insert(t) => emit(format!("{t}\n").as_bytes())?,
                Cmd::Change(t) => {
                    let in_range = ins.a2.is_some() && st.ranges[pc];
                    if !in_range {
                        emit(format!("{t}\n").as_bytes())?;
                    }
                    deleted = true;
                    break;
                }
                Cmd::Translate(a, b) => {
                    space = space
                        .chars()
                        .map(|c| a.iter().position(|x| *x == c).map_or(c, |i| b[i]))
                        .collect();
                }
                Cmd::LineNo => emit(format!("{line_no}\n").as_bytes())?,
                Cmd::Next => {
                    if !quiet {
                        emit(format!("{space}{}", if had_nl { "\n" } else { "" }).as_bytes())?;
                    }
                    match pending.take() {
                        Some(raw) => {
                            line_no += 1;
                            (space, had_nl) = strip(raw);
                            pending = next_line(ctx)?;
                        }
                        None => {
                            deleted = true;
                            break;
                        }
                    }
                }
                Cmd::NextAppend => match pending.take() {
                    Some(raw) => {
                        line_no += 1;
                        let (t, nl) = strip(raw);
                        space.push('\n');
                        space.push_str(&t);
                        had_nl = nl;
                        pending = next_line(ctx)?;
                    }
                    None => break,
                },
                Cmd::Hold => st.hold = space.clone(),
                Cmd::HoldAppend => {
                    st.hold.push('\n');
                    st.hold.push_str(&space);
                }
                Cmd::Get => space = st.hold.clone(),
                Cmd::GetAppend => {
                    space.push('\n');
                    space.push_str(&st.hold);
                }
                Cmd::Exchange => std::mem::swap(&mut space, &mut st.hold),
                Cmd::Branch(label) | Cmd::BranchIf(label, _) => {
                    let take = match &ins.cmd {
                        Cmd::BranchIf(_, want) => {
                            let t = substituted == *want;
                            substituted = false;
                            t
                        }
                        _ => true,
                    };
                    if take {
                        if label.is_empty() {
                            pc = prog.len();
                        } else {
                            pc = prog
                                .iter()
                                .position(|i| matches!(&i.cmd, Cmd::Label(l) if l == label))
                                .map_or(prog.len(), |p| p + 1);
                        }
                        continue;
                    }
                }
                Cmd::ReadFile(f) => {
                    if let Ok((d, _)) = ctx.vfs().read_all(f, ctx.sys.procs.memory()) {
                        appended.push(
                            String::from_utf8_lossy(&d)
                                .trim_end_matches('\n')
                                .to_string(),
                        );
                    }
                }
                Cmd::WriteFile(f) => {
                    if let Ok(fd) = ctx.vfs().open_write(f, true, false) {
                        let _ = fd.write_all(format!("{space}\n").as_bytes(), &|| false);
                    }
                }
                Cmd::Label(_) | Cmd::Block(_) | Cmd::EndBlock | Cmd::Nop => {}
            }
            pc += 1;
        }
        if restart && !deleted {
            // `D`: start again with what is left, without reading.
            carry = Some(space);
            continue;
        }
        if !deleted && !quiet {
            emit(format!("{space}{}", if had_nl { "\n" } else { "" }).as_bytes())?;
        }
        for a in appended {
            emit(format!("{a}\n").as_bytes())?;
        }
        if let Some(code) = st.quit {
            return Ok(code);
        }
    }
    Ok(0)
}
