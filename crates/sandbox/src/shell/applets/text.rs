//! Text applets: `cat`, `tac`, `echo`, `printf`, `head`, `tail`, `wc`,
//! `grep`, `sort`, `uniq`, `tr`, `cut`, `tee`, `base64`, `md5sum`,
//! `sha256sum`, `xargs`. They stream (a line or a chunk at a time) where
//! the real ones do; those that must hold their input (`sort`, `tac`,
//! `tail`) charge it to the memory budget.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use super::{Abort, Ctx, LineReader, Ret, getopt};
use crate::process::Charge;
use crate::shell::io::Fd;
use crate::shell::vfs::errno;

/// Buffered output: flushed at 32 KiB and at the end.
pub struct Out<'a> {
    ctx: &'a Ctx,
    buf: Vec<u8>,
}

impl<'a> Out<'a> {
    pub fn new(ctx: &'a Ctx) -> Out<'a> {
        Out {
            ctx,
            buf: Vec::with_capacity(8192),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), Abort> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 32 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Abort> {
        if !self.buf.is_empty() {
            let r = self.ctx.out(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
}

// ----------------------------------------------------------------------
// cat, tac, tee
// ----------------------------------------------------------------------

pub fn cat(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "nbvteAsu") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let number = o.has('n') || o.has('b');
    let show_ends = o.has('e') || o.has('A');
    let plain = !number && !show_ends && !o.has('v') && !o.has('t');
    let mut line_no = 0u64;
    ctx.each_input(&o.operands, |ctx, _, fd| {
        if plain {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = ctx.read_fd(fd, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                ctx.out(&buf[..n])?;
            }
        }
        let mut lines = LineReader::new(fd.clone());
        let mut out = Out::new(ctx);
        while let Some(mut line) = lines.next_line(ctx)? {
            let blank = line == b"\n";
            if number && !(o.has('b') && blank) {
                line_no += 1;
                out.write(format!("{line_no:>6}\t").as_bytes())?;
            }
            if show_ends && line.last() == Some(&b'\n') {
                line.pop();
                line.extend_from_slice(b"$\n");
            }
            out.write(&line)?;
        }
        out.flush()
    })
}

pub fn tac(ctx: &mut Ctx, args: &[String]) -> Ret {
    let files: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-') || *a == "-")
        .cloned()
        .collect();
    let mut all = Vec::new();
    let mut charges = Vec::new();
    let status = ctx.each_input(&files, |ctx, _, fd| {
        let (data, c) = ctx.read_all(fd)?;
        charges.push(c);
        all.push(data);
        Ok(())
    })?;
    let mut out = Out::new(ctx);
    for data in all.iter().rev() {
        let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        lines.reverse();
        for l in lines {
            out.write(l)?;
            if l.last() != Some(&b'\n') {
                out.write(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(status)
}

pub fn tee(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "ai") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut outs = Vec::new();
    let mut status = 0;
    for f in &o.operands {
        match ctx.vfs().open_write(f, o.has('a'), false) {
            Ok(fd) => outs.push((f.clone(), fd)),
            Err(e) => {
                ctx.fail(&format!("{f}: {}", errno(&e)));
                status = 1;
            }
        }
    }
    let input = ctx.stdin();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = ctx.read_fd(&input, &mut buf)?;
        if n == 0 {
            break;
        }
        ctx.out(&buf[..n])?;
        for (f, fd) in &outs {
            if let Err(e) = fd.write_all(&buf[..n], &|| false) {
                ctx.fail(&format!("{f}: {}", errno(&e)));
                status = 1;
            }
        }
    }
    Ok(status)
}

// ----------------------------------------------------------------------
// echo, printf
// ----------------------------------------------------------------------

/// Interprets `\n`, `\t`, `\0NNN`, `\c`... (`echo -e`, `printf %b`); the
/// bool is false after `\c` (stop printing).
pub fn backslash_escapes(s: &str, octal_zero: bool) -> (Vec<u8>, bool) {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' || i + 1 >= bytes.len() {
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let e = bytes[i];
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'e' => out.push(27),
            b'\\' => out.push(b'\\'),
            b'c' => return (out, false),
            b'x' => {
                let mut n = 0u32;
                let mut k = 0;
                while k < 2 && i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                    n = n * 16 + (bytes[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                if k == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(n as u8);
                }
            }
            b'0'..=b'7' => {
                let mut n = u32::from(e - b'0');
                let mut k = if octal_zero && e == b'0' { 0 } else { 1 };
                let max = 3;
                while k < max && i < bytes.len() && (b'0'..=b'7').contains(&bytes[i]) {
                    n = n * 8 + u32::from(bytes[i] - b'0');
                    i += 1;
                    k += 1;
                }
                out.push(n as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    (out, true)
}

pub fn echo(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut newline = true;
    // dash's echo always interprets escapes; busybox's and bash's need -e.
    let mut escapes = ctx.dialect == Some(crate::shell::userland::ShellKind::Dash);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(flags) = a.strip_prefix('-') else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        i += 1;
    }
    let text = args[i..].join(" ");
    let mut out = if escapes {
        let (bytes, go_on) = backslash_escapes(&text, true);
        if !go_on {
            return ctx.out(&bytes).map(|()| 0);
        }
        bytes
    } else {
        text.into_bytes()
    };
    if newline {
        out.push(b'\n');
    }
    ctx.out(&out)?;
    Ok(0)
}

/// One `printf` argument as a number (`'a` is the character's code).
fn printf_number(ctx: &Ctx, arg: &str, bad: &mut bool) -> i64 {
    let t = arg.trim();
    if let Some(c) = t.strip_prefix('\'').or_else(|| t.strip_prefix('"')) {
        return c.chars().next().map_or(0, |c| c as i64);
    }
    let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') && t.chars().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&t[1..], 8).ok()
    } else if t.is_empty() {
        Some(0)
    } else {
        t.parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
    };
    match parsed {
        Some(n) => n,
        None => {
            ctx.fail_as(
                &format!("'{arg}': expected a numeric value"),
                &format!("invalid number '{arg}'"),
            );
            *bad = true;
            // The number's leading digits, as strtol would take them.
            t.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        }
    }
}

/// `printf FORMAT [ARG...]`, the format reused while arguments remain.
// Long: printf's format language (escapes, flags, width, precision, each
// conversion) in one scanner; the conversions need the scanner's state.
pub fn format_printf(
    ctx: &Ctx,
    format: &str,
    args: &[String],
    bad: &mut bool,
) -> Result<(Vec<u8>, bool), ()> {
    let mut out = Vec::new();
    let mut ai = 0;
    let fmt: Vec<char> = format.chars().collect();
    loop {
        let mut i = 0;
        let mut consumed = false;
        while i < fmt.len() {
            let c = fmt[i];
            if c == '\\' {
                let mut j = i + 1;
                let mut esc = String::from("\\");
                if j < fmt.len() {
                    esc.push(fmt[j]);
                    j += 1;
                    if matches!(fmt[j - 1], '0'..='7') {
                        while j < fmt.len() && esc.len() < 4 && matches!(fmt[j], '0'..='7') {
                            esc.push(fmt[j]);
                            j += 1;
                        }
                    } else if fmt[j - 1] == 'x' {
                        while j < fmt.len() && esc.len() < 4 && fmt[j].is_ascii_hexdigit() {
                            esc.push(fmt[j]);
                            j += 1;
                        }
                    }
                }
                let (bytes, go_on) = backslash_escapes(&esc, false);
                out.extend_from_slice(&bytes);
                if !go_on {
                    return Ok((out, false));
                }
                i = j;
                continue;
            }
            if c != '%' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 1;
                continue;
            }
            i += 1;
            if i < fmt.len() && fmt[i] == '%' {
                out.push(b'%');
                i += 1;
                continue;
            }
            let mut flags = String::new();
            while i < fmt.len() && "-+ #0".contains(fmt[i]) {
                flags.push(fmt[i]);
                i += 1;
            }
            let mut width = String::new();
            if i < fmt.len() && fmt[i] == '*' {
                let a = args.get(ai).cloned().unwrap_or_default();
                ai += 1;
                consumed = true;
                width = printf_number(ctx, &a, bad).to_string();
                i += 1;
            } else {
                while i < fmt.len() && fmt[i].is_ascii_digit() {
                    width.push(fmt[i]);
                    i += 1;
                }
            }
            let mut precision: Option<String> = None;
            if i < fmt.len() && fmt[i] == '.' {
                i += 1;
                let mut p = String::new();
                if i < fmt.len() && fmt[i] == '*' {
                    let a = args.get(ai).cloned().unwrap_or_default();
                    ai += 1;
                    consumed = true;
                    p = printf_number(ctx, &a, bad).to_string();
                    i += 1;
                } else {
                    while i < fmt.len() && fmt[i].is_ascii_digit() {
                        p.push(fmt[i]);
                        i += 1;
                    }
                }
                precision = Some(p);
            }
            while i < fmt.len() && "hlLqjzt".contains(fmt[i]) {
                i += 1;
            }
            let Some(&conv) = fmt.get(i) else {
                ctx.fail(&format!("%{flags}{width}: invalid format"));
                return Err(());
            };
            i += 1;
            let arg = args.get(ai).cloned();
            if !matches!(conv, '%') {
                ai += 1;
                consumed = true;
            }
            let w: usize = width.trim_start_matches('-').parse().unwrap_or(0);
            let left = flags.contains('-') || width.starts_with('-');
            let zero = flags.contains('0') && !left;
            let pad = |s: String, numeric: bool| -> String {
                let len = s.chars().count();
                if len >= w {
                    return s;
                }
                let fill = w - len;
                if left {
                    format!("{s}{}", " ".repeat(fill))
                } else if zero && numeric {
                    let (sign, digits) = match s.strip_prefix('-') {
                        Some(d) => ("-", d.to_string()),
                        None => ("", s.clone()),
                    };
                    format!("{sign}{}{digits}", "0".repeat(fill))
                } else {
                    format!("{}{s}", " ".repeat(fill))
                }
            };
            let text = match conv {
                's' => {
                    let mut s = arg.unwrap_or_default();
                    if let Some(p) = &precision {
                        let p: usize = p.parse().unwrap_or(0);
                        s = s.chars().take(p).collect();
                    }
                    pad(s, false)
                }
                'b' => {
                    let (bytes, go_on) = backslash_escapes(&arg.unwrap_or_default(), true);
                    let s = String::from_utf8_lossy(&bytes).into_owned();
                    out.extend_from_slice(pad(s, false).as_bytes());
                    if !go_on {
                        return Ok((out, false));
                    }
                    continue;
                }
                'c' => pad(
                    arg.unwrap_or_default()
                        .chars()
                        .next()
                        .map(String::from)
                        .unwrap_or_default(),
                    false,
                ),
                'd' | 'i' => {
                    let n = printf_number(ctx, &arg.unwrap_or_default(), bad);
                    let mut s = n.abs().to_string();
                    if let Some(p) = &precision {
                        let p: usize = p.parse().unwrap_or(0);
                        if s.len() < p {
                            s = format!("{}{s}", "0".repeat(p - s.len()));
                        }
                    }
                    let sign = if n < 0 {
                        "-"
                    } else if flags.contains('+') {
                        "+"
                    } else if flags.contains(' ') {
                        " "
                    } else {
                        ""
                    };
                    pad(format!("{sign}{s}"), precision.is_none())
                }
                'u' | 'o' | 'x' | 'X' => {
                    let n = printf_number(ctx, &arg.unwrap_or_default(), bad) as u64;
                    let s = match conv {
                        'o' => format!(
                            "{}{n:o}",
                            if flags.contains('#') && n != 0 {
                                "0"
                            } else {
                                ""
                            }
                        ),
                        'x' => format!(
                            "{}{n:x}",
                            if flags.contains('#') && n != 0 {
                                "0x"
                            } else {
                                ""
                            }
                        ),
                        'X' => format!(
                            "{}{n:X}",
                            if flags.contains('#') && n != 0 {
                                "0X"
                            } else {
                                ""
                            }
                        ),
                        _ => n.to_string(),
                    };
                    pad(s, true)
                }
                'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                    let a = arg.unwrap_or_default();
                    let v: f64 = match a.trim().parse() {
                        Ok(v) => v,
                        Err(_) if a.trim().is_empty() => 0.0,
                        Err(_) => {
                            ctx.fail(&format!("invalid number '{a}'"));
                            *bad = true;
                            0.0
                        }
                    };
                    let p: usize = precision
                        .as_deref()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(6);
                    let s = match conv {
                        'f' | 'F' => format!("{v:.p$}"),
                        'e' => c_exp(v, p, false),
                        'E' => c_exp(v, p, true),
                        _ => {
                            let p = p.max(1);
                            let exp = if v == 0.0 {
                                0
                            } else {
                                v.abs().log10().floor() as i32
                            };
                            if exp < -4 || exp >= p as i32 {
                                let s = c_exp(v, p - 1, conv == 'G');
                                trim_g(&s)
                            } else {
                                let decimals = (p as i32 - 1 - exp).max(0) as usize;
                                trim_g(&format!("{v:.decimals$}"))
                            }
                        }
                    };
                    let s = if flags.contains('+') && v >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    };
                    pad(s, true)
                }
                other => {
                    ctx.fail(&format!("%{other}: invalid format"));
                    return Err(());
                }
            };
            out.extend_from_slice(text.as_bytes());
        }
        if !consumed || ai >= args.len() {
            break;
        }
    }
    Ok((out, true))
}

fn c_exp(v: f64, p: usize, upper: bool) -> String {
    let s = format!("{v:.p$e}");
    // Rust: 1.5e2 → C: 1.500000e+02
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    format!(
        "{mant}{e}{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

fn trim_g(s: &str) -> String {
    if let Some((mant, exp)) = s.split_once(['e', 'E']) {
        let m = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.')
        } else {
            mant
        };
        return format!("{m}{}{exp}", &s[mant.len()..mant.len() + 1]);
    }
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

pub fn printf(ctx: &mut Ctx, args: &[String]) -> Ret {
    let args: &[String] = if args.first().is_some_and(|a| a == "--") {
        &args[1..]
    } else {
        args
    };
    let Some((format, rest)) = args.split_first() else {
        return ctx.missing_operand("missing operand", "printf FORMAT [ARG]...");
    };
    let mut bad = false;
    match format_printf(ctx, format, rest, &mut bad) {
        Ok((out, _)) => {
            ctx.out(&out)?;
            Ok(i32::from(bad))
        }
        Err(()) => Ok(1),
    }
}

// ----------------------------------------------------------------------
// head, tail, wc
// ----------------------------------------------------------------------

/// `-5` / `+5` shorthands into `-n 5` / `-n +5`.
fn count_shorthand(args: &[String]) -> Vec<String> {
    args.iter()
        .flat_map(|a| {
            if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c.is_ascii_digit()) {
                vec!["-n".to_string(), a[1..].to_string()]
            } else {
                vec![a.clone()]
            }
        })
        .collect()
}

fn parse_count(ctx: &Ctx, v: &str) -> Result<(i64, bool), Ret> {
    let (plus, digits) = match v.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let (digits, mult) = match digits.chars().last() {
        Some('k') => (&digits[..digits.len() - 1], 1024),
        Some('b') => (&digits[..digits.len() - 1], 512),
        Some('m') | Some('M') => (&digits[..digits.len() - 1], 1024 * 1024),
        _ => (digits, 1),
    };
    match digits.parse::<i64>() {
        Ok(n) => Ok((n.saturating_mul(mult), plus)),
        Err(_) => {
            ctx.fail_as(
                &format!("invalid number of lines: '{v}'"),
                &format!("invalid number '{v}'"),
            );
            Err(Ok(1))
        }
    }
}

pub fn head(ctx: &mut Ctx, args: &[String]) -> Ret {
    let args = count_shorthand(args);
    let (o, _) = match getopt(ctx, &args, "n:c:qv") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (n, bytes) = match (o.value('c'), o.value('n')) {
        (Some(c), _) => match parse_count(ctx, c) {
            Ok((n, _)) => (n, true),
            Err(r) => return r,
        },
        (None, Some(n)) => match parse_count(ctx, n) {
            Ok((n, _)) => (n, false),
            Err(r) => return r,
        },
        (None, None) => (10, false),
    };
    let headers = (o.operands.len() > 1 && !o.has('q')) || o.has('v');
    let mut first = true;
    ctx.each_input(&o.operands, |ctx, name, fd| {
        if headers {
            ctx.outs(&format!(
                "{}==> {} <==\n",
                if first { "" } else { "\n" },
                if name == "-" { "standard input" } else { name }
            ))?;
        }
        first = false;
        let mut out = Out::new(ctx);
        if bytes {
            let mut left = n.max(0) as usize;
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                let k = ctx.read_fd(fd, &mut buf[..left.min(64 * 1024)])?;
                if k == 0 {
                    break;
                }
                out.write(&buf[..k])?;
                left -= k;
            }
            return out.flush();
        }
        let mut lines = LineReader::new(fd.clone());
        if n < 0 {
            // All but the last |n| lines.
            let keep = n.unsigned_abs() as usize;
            let mut window: VecDeque<Vec<u8>> = VecDeque::new();
            let mut charge = Charge::new(ctx.sys.procs.memory());
            while let Some(l) = lines.next_line(ctx)? {
                charge.grow(l.len() as u64).map_err(|_| Abort::Oom)?;
                window.push_back(l);
                if window.len() > keep
                    && let Some(old) = window.pop_front()
                {
                    let _ = charge.resize(charge.bytes().saturating_sub(old.len() as u64));
                    out.write(&old)?;
                }
            }
            return out.flush();
        }
        let mut left = n;
        while left > 0 {
            let Some(l) = lines.next_line(ctx)? else {
                break;
            };
            out.write(&l)?;
            left -= 1;
        }
        out.flush()
    })
}

pub fn tail(ctx: &mut Ctx, args: &[String]) -> Ret {
    // A bare `+N` is `-n +N`, unless it is already an option's value.
    let mut words: Vec<String> = Vec::new();
    for a in count_shorthand(args) {
        let is_value = words.last().is_some_and(|p| p == "-n" || p == "-c");
        if !is_value
            && a.len() > 1
            && a.starts_with('+')
            && a[1..].chars().all(|c| c.is_ascii_digit())
        {
            words.push("-n".to_string());
        }
        words.push(a);
    }
    let (o, long) = match getopt(ctx, &words, "n:c:fFqvs:") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let follow = o.has('f') || o.has('F') || long.iter().any(|l| l.starts_with("follow"));
    let (count, from_start, bytes) = match (o.value('c'), o.value('n')) {
        (Some(c), _) => match parse_count(ctx, c) {
            Ok((n, plus)) => (n, plus, true),
            Err(r) => return r,
        },
        (None, Some(n)) => match parse_count(ctx, n) {
            Ok((n, plus)) => (n, plus, false),
            Err(r) => return r,
        },
        (None, None) => (10, false, false),
    };
    let count = count.unsigned_abs() as usize;
    let headers = (o.operands.len() > 1 && !o.has('q')) || o.has('v');
    let mut first = true;
    let status = ctx.each_input(&o.operands, |ctx, name, fd| {
        if headers {
            ctx.outs(&format!(
                "{}==> {} <==\n",
                if first { "" } else { "\n" },
                if name == "-" { "standard input" } else { name }
            ))?;
        }
        first = false;
        let (data, _charge) = if bytes || from_start {
            ctx.read_all(fd)?
        } else {
            // Only the last `count` lines are kept while reading.
            let mut lines = LineReader::new(fd.clone());
            let mut window: VecDeque<Vec<u8>> = VecDeque::new();
            let mut charge = Charge::new(ctx.sys.procs.memory());
            let mut held = 0u64;
            while let Some(l) = lines.next_line(ctx)? {
                held += l.len() as u64;
                charge.resize(held).map_err(|_| Abort::Oom)?;
                window.push_back(l);
                if window.len() > count
                    && let Some(old) = window.pop_front()
                {
                    held -= old.len() as u64;
                }
            }
            let _ = charge.resize(held);
            (window.into_iter().flatten().collect(), charge)
        };
        let slice: &[u8] = if bytes {
            if from_start {
                &data[count.saturating_sub(1).min(data.len())..]
            } else {
                &data[data.len().saturating_sub(count)..]
            }
        } else if from_start {
            let mut skip = count.saturating_sub(1);
            let mut start = 0;
            while skip > 0 && start < data.len() {
                match data[start..].iter().position(|&b| b == b'\n') {
                    Some(i) => start += i + 1,
                    None => start = data.len(),
                }
                skip -= 1;
            }
            &data[start..]
        } else {
            &data
        };
        ctx.out(slice)
    })?;
    if !follow {
        return Ok(status);
    }
    // Follow: print what is appended to the files until killed.
    let files: Vec<String> = if o.operands.is_empty() {
        Vec::new()
    } else {
        o.operands.clone()
    };
    if files.is_empty() {
        // Following a pipe: keep copying it.
        let input = ctx.stdin();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = ctx.read_fd(&input, &mut buf)?;
            if n == 0 {
                ctx.sleep_forever()?;
            }
            ctx.out(&buf[..n])?;
        }
    }
    let size_of = |ctx: &Ctx, f: &str| ctx.vfs().metadata(f).map(|m| m.len).unwrap_or(0);
    let mut offsets: Vec<u64> = files.iter().map(|f| size_of(ctx, f)).collect();
    loop {
        ctx.sleep(Duration::from_millis(500))?;
        for (f, off) in files.iter().zip(offsets.iter_mut()) {
            let len = size_of(ctx, f);
            if len < *off {
                ctx.errs(&format!("{}: {f}: file truncated\n", ctx.name));
                *off = 0;
            }
            if len > *off
                && let Ok(place) = ctx.vfs().place(f, true)
                && let Ok(mut file) = std::fs::File::open(&place.host)
            {
                use std::io::{Read as _, Seek as _};
                if file.seek(std::io::SeekFrom::Start(*off)).is_ok() {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut left = len - *off;
                    while left > 0 {
                        let n = file
                            .read(&mut buf[..(left.min(64 * 1024)) as usize])
                            .unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        ctx.out(&buf[..n])?;
                        left -= n as u64;
                    }
                }
                *off = len;
            }
        }
    }
}

pub fn wc(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "lwcmL") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut which: Vec<char> = ['l', 'w', 'c', 'm', 'L']
        .into_iter()
        .filter(|c| o.has(*c))
        .collect();
    if which.is_empty() {
        which = vec!['l', 'w', 'c'];
    }
    let mut rows: Vec<([u64; 5], String)> = Vec::new();
    let mut status = 0;
    let files = o.operands.clone();
    let each = |ctx: &Ctx, fd: &Fd| -> Result<[u64; 5], Abort> {
        let mut counts = [0u64; 5];
        let mut buf = vec![0u8; 64 * 1024];
        let mut in_word = false;
        let mut line_len = 0u64;
        loop {
            let n = ctx.read_fd(fd, &mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                counts[2] += 1;
                if b & 0xc0 != 0x80 {
                    counts[3] += 1;
                }
                if b == b'\n' {
                    counts[0] += 1;
                    counts[4] = counts[4].max(line_len);
                    line_len = 0;
                } else {
                    line_len += 1;
                }
                let ws = b.is_ascii_whitespace();
                if !ws && !in_word {
                    counts[1] += 1;
                }
                in_word = !ws;
            }
        }
        counts[4] = counts[4].max(line_len);
        Ok(counts)
    };
    if files.is_empty() {
        rows.push((each(ctx, &ctx.stdin())?, String::new()));
    } else {
        for f in &files {
            match ctx.open_input(f) {
                Ok(fd) => rows.push((each(ctx, &fd)?, f.clone())),
                Err(e) => {
                    if ctx.gnu() {
                        ctx.fail(&format!("{f}: {}", errno(&e)));
                    } else {
                        ctx.cant_open(f, &e);
                    }
                    status = 1;
                }
            }
        }
    }
    if rows.len() > 1 {
        let mut total = [0u64; 5];
        for (c, _) in &rows {
            for i in 0..5 {
                total[i] = if i == 4 {
                    total[i].max(c[i])
                } else {
                    total[i] + c[i]
                };
            }
        }
        rows.push((total, "total".to_string()));
    }
    let idx = |c: char| match c {
        'l' => 0,
        'w' => 1,
        'c' => 2,
        'm' => 3,
        _ => 4,
    };
    let mut out = String::new();
    let gnu = ctx.gnu();
    let width = if gnu {
        let max = rows
            .iter()
            .flat_map(|(c, _)| which.iter().map(|w| c[idx(*w)].to_string().len()))
            .max()
            .unwrap_or(1);
        if files.is_empty() && which.len() > 1 {
            max.max(7)
        } else if which.len() == 1 && rows.len() == 1 {
            0
        } else {
            max
        }
    } else {
        9
    };
    let single = which.len() == 1 && files.len() <= 1;
    for (c, name) in &rows {
        let mut fields = Vec::new();
        for (i, w) in which.iter().enumerate() {
            let v = c[idx(*w)];
            if single || (i == 0 && width == 0) {
                fields.push(v.to_string());
            } else {
                fields.push(format!("{v:>width$}"));
            }
        }
        out.push_str(&fields.join(" "));
        if !name.is_empty() {
            out.push(' ');
            out.push_str(name);
        }
        out.push('\n');
    }
    ctx.outs(&out)?;
    Ok(status)
}

// ----------------------------------------------------------------------
// grep
// ----------------------------------------------------------------------

/// A POSIX basic or extended regular expression in the `regex` crate's
/// syntax.
pub fn posix_to_rust(re: &str, extended: bool) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut at_start = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '[' => {
                // A bracket expression: POSIX backslashes are literal.
                out.push('[');
                let mut j = i;
                if j < chars.len() && chars[j] == '^' {
                    out.push('^');
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    out.push_str("\\]");
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    let d = chars[j];
                    if d == '[' && chars.get(j + 1) == Some(&':') {
                        let rest: String = chars[j..].iter().collect();
                        if let Some(end) = rest.find(":]") {
                            out.push_str(&rest[..end + 2]);
                            j += rest[..end + 2].chars().count();
                            continue;
                        }
                    }
                    if matches!(d, '\\' | '[' | '&' | '~' | '|') {
                        out.push('\\');
                    }
                    out.push(d);
                    j += 1;
                }
                out.push(']');
                i = (j + 1).min(chars.len() + 1);
                at_start = false;
                continue;
            }
            '\\' if i < chars.len() => {
                let e = chars[i];
                i += 1;
                match e {
                    '(' | ')' | '|' | '{' | '}' | '+' | '?' if !extended => out.push(e),
                    '<' | '>' => out.push_str("\\b"),
                    'w' | 'W' | 's' | 'S' | 'b' | 'B' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'n' => out.push_str("\\n"),
                    't' => out.push_str("\\t"),
                    d if d.is_ascii_digit() => {
                        // Back-references are not supported: match nothing
                        // rather than the wrong thing.
                        out.push_str("(?:\\z\\A)");
                    }
                    other => out.push_str(&regex::escape(&other.to_string())),
                }
            }
            '(' | ')' | '|' | '+' | '?' if !extended => {
                out.push('\\');
                out.push(c);
            }
            '{' if !extended => out.push_str("\\{"),
            '}' if !extended => out.push_str("\\}"),
            '{' => {
                // An interval only if it looks like one.
                let rest: String = chars[i..].iter().collect();
                let valid = rest.find('}').is_some_and(|end| {
                    !rest[..end].is_empty()
                        && rest[..end].chars().all(|c| c.is_ascii_digit() || c == ',')
                });
                if valid && !at_start {
                    out.push('{');
                } else {
                    out.push_str("\\{");
                }
            }
            '}' => out.push('}'),
            '*' if at_start => out.push_str("\\*"),
            '^' if !at_start && !extended => out.push_str("\\^"),
            '$' if !extended
                && i < chars.len()
                && !(chars[i] == '\\' && chars.get(i + 1) == Some(&')')) =>
            {
                out.push_str("\\$")
            }
            c => out.push(c),
        }
        at_start = matches!(c, '^') && out.len() <= 1 || (extended && matches!(c, '(' | '|'));
    }
    out
}

/// An ERE for `[[ =~ ]]` and awk.
pub fn ere_to_rust(re: &str) -> String {
    posix_to_rust(re, true)
}

struct GrepOpts {
    invert: bool,
    count: bool,
    list: bool,
    list_missing: bool,
    number: bool,
    only: bool,
    quiet: bool,
    with_name: bool,
    max: Option<u64>,
    after: usize,
    before: usize,
}

// Long: grep's options, pattern assembly (-e/-f/-F/-w/-x) and the
// recursive file list before the per-file matcher.
pub fn grep(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, long) = match getopt(ctx, args, "EFGiIvclLnhHoqsrRwxe:f:A:B:C:m:a") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut operands = o.operands.clone();
    let mut patterns: Vec<String> = o.values.get(&'e').cloned().unwrap_or_default();
    if let Some(files) = o.values.get(&'f') {
        for f in files {
            match ctx.vfs().read_all(f, ctx.sys.procs.memory()) {
                Ok((data, _)) => {
                    patterns.extend(String::from_utf8_lossy(&data).lines().map(str::to_string))
                }
                Err(e) => {
                    ctx.fail(&format!("{f}: {}", errno(&e)));
                    return Ok(2);
                }
            }
        }
    }
    if patterns.is_empty() {
        if operands.is_empty() {
            if ctx.gnu() {
                ctx.errs("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n");
            } else {
                ctx.errs(&format!("{}\n\nUsage: grep [-HhnlLoqvsrRiwFEx] [-m N] [-A|B|C N] {{ PATTERN | -e PATTERN... | -f FILE... }} [FILE]...\n", super::BANNER));
            }
            return Ok(2);
        }
        patterns.push(operands.remove(0));
    }
    let extended = o.has('E') || ctx.name.ends_with("egrep");
    let fixed = o.has('F') || ctx.name.ends_with("fgrep");
    let alternatives: Vec<String> = patterns
        .iter()
        .flat_map(|p| p.split('\n').map(str::to_string).collect::<Vec<_>>())
        .map(|p| {
            let mut r = if fixed {
                regex::escape(&p)
            } else {
                posix_to_rust(&p, extended)
            };
            if o.has('w') {
                r = format!("\\b(?:{r})\\b");
            }
            if o.has('x') {
                r = format!("^(?:{r})$");
            }
            format!("(?:{r})")
        })
        .collect();
    let mut builder = regex::RegexBuilder::new(&alternatives.join("|"));
    builder
        .case_insensitive(o.has('i'))
        .size_limit(16 * 1024 * 1024);
    let re = match builder.build() {
        Ok(r) => r,
        Err(_) => {
            ctx.fail_as(
                "Unmatched ( or \\(",
                &format!("bad regex '{}'", patterns.join("\n")),
            );
            return Ok(2);
        }
    };
    let ctx_n = |c: char| o.value(c).and_then(|v| v.parse::<usize>().ok());
    let opts = GrepOpts {
        invert: o.has('v'),
        count: o.has('c'),
        list: o.has('l'),
        list_missing: o.has('L'),
        number: o.has('n'),
        only: o.has('o'),
        quiet: o.has('q'),
        with_name: false,
        max: o.value('m').and_then(|v| v.parse().ok()),
        after: ctx_n('A').or(ctx_n('C')).unwrap_or(0),
        before: ctx_n('B').or(ctx_n('C')).unwrap_or(0),
    };
    let recursive = o.has('r') || o.has('R') || long.iter().any(|l| l == "recursive");
    if recursive && operands.is_empty() {
        operands.push(".".to_string());
    }
    // Expand directories for -r.
    let mut files = Vec::new();
    let mut status_err = false;
    for f in &operands {
        if recursive && ctx.vfs().metadata(f).is_ok_and(|m| m.is_dir()) {
            let mut stack = vec![f.clone()];
            let mut n = 0;
            while let Some(d) = stack.pop() {
                n += 1;
                if n > 200_000 {
                    break;
                }
                let Ok(names) = ctx.vfs().list_dir(&d) else {
                    continue;
                };
                for name in names.into_iter().rev() {
                    let p = if d.ends_with('/') {
                        format!("{d}{name}")
                    } else {
                        format!("{d}/{name}")
                    };
                    match ctx.vfs().symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => stack.push(p),
                        Ok(m) if m.is_file() => files.push(p),
                        _ => {}
                    }
                }
            }
            files.sort();
        } else {
            files.push(f.clone());
        }
    }
    let opts = GrepOpts {
        with_name: (files.len() > 1 || recursive || o.has('H')) && !o.has('h'),
        ..opts
    };
    let mut any = false;
    let inputs: Vec<String> = if files.is_empty() {
        vec!["-".to_string()]
    } else {
        files
    };
    for name in &inputs {
        let fd = match ctx.open_input(name) {
            Ok(fd) => fd,
            Err(e) => {
                if !o.has('s') {
                    if e.raw_os_error() == Some(21) {
                        ctx.fail(&format!("{name}: Is a directory"));
                    } else {
                        ctx.fail(&format!("{name}: {}", errno(&e)));
                    }
                }
                status_err = true;
                continue;
            }
        };
        let shown = if name == "-" {
            "(standard input)"
        } else {
            name.as_str()
        };
        if grep_one(ctx, &re, &opts, shown, &fd)? {
            any = true;
            if opts.quiet {
                return Ok(0);
            }
        }
    }
    Ok(if status_err && !(opts.quiet && any) {
        2
    } else if any {
        0
    } else {
        1
    })
}

fn grep_one(
    ctx: &Ctx,
    re: &regex::Regex,
    o: &GrepOpts,
    name: &str,
    fd: &Fd,
) -> Result<bool, Abort> {
    let mut lines = LineReader::new(fd.clone());
    let mut out = Out::new(ctx);
    let mut count = 0u64;
    let mut n = 0u64;
    let mut before: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut after_left = 0usize;
    let mut last_printed = 0u64;
    let prefix = |n: u64, sep: char| -> String {
        let mut p = String::new();
        if o.with_name {
            p.push_str(name);
            p.push(sep);
        }
        if o.number {
            p.push_str(&n.to_string());
            p.push(sep);
        }
        p
    };
    while let Some(raw) = lines.next_line(ctx)? {
        n += 1;
        let text = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw)).into_owned();
        let hit = re.is_match(&text) != o.invert;
        if hit {
            count += 1;
            if o.quiet {
                return Ok(true);
            }
            if o.list {
                out.write(format!("{name}\n").as_bytes())?;
                out.flush()?;
                return Ok(true);
            }
            if !o.count && !o.list_missing {
                if (o.before > 0 || o.after > 0)
                    && last_printed > 0
                    && n - before.len() as u64 > last_printed + 1
                {
                    out.write(b"--\n")?;
                }
                for (bn, bl) in before.drain(..) {
                    out.write(
                        format!("{}{}\n", prefix(bn, '-'), String::from_utf8_lossy(&bl)).as_bytes(),
                    )?;
                }
                if o.only && !o.invert {
                    for m in re.find_iter(&text) {
                        if !m.as_str().is_empty() {
                            out.write(format!("{}{}\n", prefix(n, ':'), m.as_str()).as_bytes())?;
                        }
                    }
                } else {
                    out.write(format!("{}{text}\n", prefix(n, ':')).as_bytes())?;
                }
                last_printed = n;
                after_left = o.after;
            }
            if o.max.is_some_and(|m| count >= m) {
                break;
            }
        } else if after_left > 0 && !o.count {
            after_left -= 1;
            out.write(format!("{}{text}\n", prefix(n, '-')).as_bytes())?;
            last_printed = n;
        } else if o.before > 0 {
            before.push_back((n, text.into_bytes()));
            if before.len() > o.before {
                before.pop_front();
            }
        }
    }
    if o.count {
        if o.with_name {
            out.write(format!("{name}:{count}\n").as_bytes())?;
        } else {
            out.write(format!("{count}\n").as_bytes())?;
        }
    }
    if o.list_missing && count == 0 {
        out.write(format!("{name}\n").as_bytes())?;
    }
    out.flush()?;
    Ok(count > 0)
}

// ----------------------------------------------------------------------
// sort, uniq
// ----------------------------------------------------------------------

struct SortKey {
    field: usize,
    char_start: usize,
    end_field: Option<usize>,
    numeric: bool,
    reverse: bool,
    human: bool,
}

fn sort_key_text<'a>(line: &'a str, key: &SortKey, sep: Option<char>) -> &'a str {
    let fields: Vec<(usize, usize)> = match sep {
        Some(s) => {
            let mut v = Vec::new();
            let mut start = 0;
            for (i, c) in line.char_indices() {
                if c == s {
                    v.push((start, i));
                    start = i + c.len_utf8();
                }
            }
            v.push((start, line.len()));
            v
        }
        None => {
            // Blank-separated: a field includes its leading blanks.
            let mut v = Vec::new();
            let b = line.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let start = i;
                while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                    i += 1;
                }
                while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                    i += 1;
                }
                v.push((start, i));
            }
            v
        }
    };
    let Some(&(s, _)) = fields.get(key.field.saturating_sub(1)) else {
        return "";
    };
    let end = match key.end_field {
        Some(e) => fields.get(e.saturating_sub(1)).map_or(line.len(), |f| f.1),
        None => line.len(),
    };
    let s = (s + key.char_start.saturating_sub(1)).min(end);
    &line[s..end.max(s)]
}

fn numeric_prefix(s: &str) -> f64 {
    let t = s.trim_start();
    let end = t
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))))
        .map_or(t.len(), |(i, _)| i);
    t[..end].parse().unwrap_or(0.0)
}

fn human_value(s: &str) -> f64 {
    let t = s.trim();
    let n = numeric_prefix(t);
    let unit = t
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
        .chars()
        .next();
    let mult = match unit {
        Some('K' | 'k') => 1e3,
        Some('M') => 1e6,
        Some('G') => 1e9,
        Some('T') => 1e12,
        _ => 1.0,
    };
    n * mult
}

// Long: sort's key specs (-k with flags), input gathering and the
// comparison that combines them.
pub fn sort(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "nrufbdhMVsczk:t:o:gSR") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let sep = o.value('t').and_then(|t| t.chars().next());
    let mut keys = Vec::new();
    for k in o.values.get(&'k').cloned().unwrap_or_default() {
        let (start, end) = match k.split_once(',') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (k.clone(), None),
        };
        let parse = |s: &str| -> (usize, usize, String) {
            let digits: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let flags: String = s[digits.len()..].to_string();
            let (f, c) = match digits.split_once('.') {
                Some((f, c)) => (f.parse().unwrap_or(1), c.parse().unwrap_or(1)),
                None => (digits.parse().unwrap_or(1), 1),
            };
            (f, c, flags)
        };
        let (field, char_start, flags) = parse(&start);
        let (end_field, end_flags) = match end {
            Some(e) => {
                let (f, _, fl) = parse(&e);
                (Some(f), fl)
            }
            None => (None, String::new()),
        };
        let flags = flags + &end_flags;
        keys.push(SortKey {
            field,
            char_start,
            end_field,
            numeric: flags.contains('n') || flags.contains('g'),
            reverse: flags.contains('r'),
            human: flags.contains('h'),
        });
    }
    let numeric = o.has('n') || o.has('g');
    let human = o.has('h');
    let fold = o.has('f');
    let (data, _charge) = {
        let mut all = Vec::new();
        let mut charge = Charge::new(ctx.sys.procs.memory());
        let status = ctx.each_input(&o.operands, |ctx, _, fd| {
            let (d, c) = ctx.read_all(fd)?;
            charge.grow(c.bytes()).map_err(|_| Abort::Oom)?;
            drop(c);
            all.extend_from_slice(&d);
            if !all.is_empty() && all.last() != Some(&b'\n') {
                all.push(b'\n');
            }
            Ok(())
        })?;
        if status != 0 {
            return Ok(2);
        }
        (all, charge)
    };
    let text = String::from_utf8_lossy(&data);
    let mut lines: Vec<&str> = text.lines().collect();
    // The lines' index counts too (one pointer each).
    let _index = ctx.charge((lines.len() * 16) as u64)?;
    let cmp_text = |a: &str, b: &str, numeric: bool, human: bool| -> std::cmp::Ordering {
        if human {
            human_value(a)
                .partial_cmp(&human_value(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        } else if numeric {
            numeric_prefix(a)
                .partial_cmp(&numeric_prefix(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        } else if fold {
            a.to_uppercase().cmp(&b.to_uppercase())
        } else {
            a.cmp(b)
        }
    };
    let stable = o.has('s');
    let mut check_abort = 0usize;
    lines.sort_by(|a, b| {
        check_abort += 1;
        let mut ord = std::cmp::Ordering::Equal;
        for k in &keys {
            let (ka, kb) = (sort_key_text(a, k, sep), sort_key_text(b, k, sep));
            let kord = cmp_text(
                if k.numeric || sep.is_some() {
                    ka
                } else {
                    ka.trim_start()
                },
                if k.numeric || sep.is_some() {
                    kb
                } else {
                    kb.trim_start()
                },
                k.numeric || numeric,
                k.human || human,
            );
            let kord = if k.reverse { kord.reverse() } else { kord };
            if kord != std::cmp::Ordering::Equal {
                ord = kord;
                break;
            }
        }
        if ord == std::cmp::Ordering::Equal && keys.is_empty() {
            ord = cmp_text(a, b, numeric, human);
        }
        if ord == std::cmp::Ordering::Equal && !stable && (!keys.is_empty() || numeric || human) {
            ord = a.cmp(b);
        }
        ord
    });
    if o.has('r') {
        lines.reverse();
    }
    if o.has('u') {
        lines.dedup_by(|a, b| {
            if keys.is_empty() {
                cmp_text(a, b, numeric, human) == std::cmp::Ordering::Equal
            } else {
                keys.iter()
                    .all(|k| sort_key_text(a, k, sep) == sort_key_text(b, k, sep))
            }
        });
    }
    if o.has('c') {
        return Ok(0);
    }
    let target = match o.value('o') {
        Some(f) => match ctx.vfs().open_write(f, false, false) {
            Ok(fd) => Some(fd),
            Err(e) => {
                ctx.fail(&format!("can't open '{f}': {}", errno(&e)));
                return Ok(2);
            }
        },
        None => None,
    };
    let mut out = Vec::with_capacity(data.len());
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    match target {
        Some(fd) => {
            if let Err(e) = fd.write_all(&out, &|| false) {
                ctx.fail(&format!("write error: {}", errno(&e)));
                return Ok(2);
            }
        }
        None => ctx.out(&out)?,
    }
    Ok(0)
}

pub fn uniq(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "cduif:s:w:z") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let input = match o.operands.first() {
        Some(f) if f != "-" => match ctx.open_input(f) {
            Ok(fd) => fd,
            Err(e) => {
                ctx.cant_open(f, &e);
                return Ok(1);
            }
        },
        _ => ctx.stdin(),
    };
    let output = match o.operands.get(1) {
        Some(f) => match ctx.vfs().open_write(f, false, false) {
            Ok(fd) => Some(fd),
            Err(e) => {
                ctx.fail(&format!("{f}: {}", errno(&e)));
                return Ok(1);
            }
        },
        None => None,
    };
    let skip_fields: usize = o.value('f').and_then(|v| v.parse().ok()).unwrap_or(0);
    let key = |l: &str| -> String {
        let mut s = l;
        for _ in 0..skip_fields {
            s = s.trim_start();
            s = s.find([' ', '\t']).map_or("", |i| &s[i..]);
        }
        if o.has('i') {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let mut lines = LineReader::new(input);
    let mut prev: Option<(String, u64)> = None;
    let mut out = Vec::new();
    let emit = |out: &mut Vec<u8>, line: &str, n: u64| {
        if (o.has('d') && n < 2) || (o.has('u') && n > 1) {
            return;
        }
        if o.has('c') {
            out.extend_from_slice(format!("{n:>7} ").as_bytes());
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    };
    while let Some(raw) = lines.next_line(ctx)? {
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw)).into_owned();
        match &mut prev {
            Some((p, n)) if key(p) == key(&line) => *n += 1,
            _ => {
                if let Some((p, n)) = prev.take() {
                    emit(&mut out, &p, n);
                }
                prev = Some((line, 1));
            }
        }
        if out.len() > 32 * 1024 {
            match &output {
                Some(fd) => {
                    let _ = fd.write_all(&out, &|| false);
                }
                None => ctx.out(&out)?,
            }
            out.clear();
        }
    }
    if let Some((p, n)) = prev {
        emit(&mut out, &p, n);
    }
    match &output {
        Some(fd) => {
            let _ = fd.write_all(&out, &|| false);
        }
        None => ctx.out(&out)?,
    }
    Ok(0)
}

// ----------------------------------------------------------------------
// tr, cut
// ----------------------------------------------------------------------

fn tr_set(spec: &str) -> Vec<u8> {
    let (bytes, _) = backslash_escapes(spec, false);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' && bytes.get(i + 1) == Some(&b':') {
            let rest = &bytes[i + 2..];
            if let Some(end) = rest.windows(2).position(|w| w == b":]") {
                let name = String::from_utf8_lossy(&rest[..end]).into_owned();
                for b in 0u8..=127 {
                    let c = b as char;
                    let yes = match name.as_str() {
                        "upper" => c.is_ascii_uppercase(),
                        "lower" => c.is_ascii_lowercase(),
                        "digit" => c.is_ascii_digit(),
                        "alpha" => c.is_ascii_alphabetic(),
                        "alnum" => c.is_ascii_alphanumeric(),
                        "space" => c.is_ascii_whitespace() || b == 11,
                        "blank" => c == ' ' || c == '\t',
                        "punct" => c.is_ascii_punctuation(),
                        "xdigit" => c.is_ascii_hexdigit(),
                        "cntrl" => c.is_ascii_control(),
                        "print" => (32..127).contains(&b),
                        "graph" => (33..127).contains(&b),
                        _ => false,
                    };
                    if yes {
                        out.push(b);
                    }
                }
                i += 2 + end + 2;
                continue;
            }
        }
        if i + 2 < bytes.len() && bytes[i + 1] == b'-' {
            let (lo, hi) = (bytes[i], bytes[i + 2]);
            if lo <= hi {
                out.extend(lo..=hi);
            }
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

pub fn tr(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "dscCt") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ops = &o.operands;
    let delete = o.has('d');
    let squeeze = o.has('s');
    let complement = o.has('c') || o.has('C');
    if ops.is_empty() || (!delete && !squeeze && ops.len() < 2) {
        if ctx.gnu() {
            ctx.fail(if ops.is_empty() {
                "missing operand"
            } else {
                "missing operand after"
            });
        } else {
            ctx.usage("tr [-cds] STRING1 [STRING2]");
        }
        return Ok(1);
    }
    let mut set1 = tr_set(&ops[0]);
    if complement {
        set1 = (0u8..=255).filter(|b| !set1.contains(b)).collect();
    }
    let set2 = ops.get(1).map(|s| tr_set(s)).unwrap_or_default();
    let mut map: [Option<u8>; 256] = [None; 256];
    if !delete && !set2.is_empty() {
        for (i, &b) in set1.iter().enumerate() {
            map[b as usize] = Some(*set2.get(i).unwrap_or_else(|| set2.last().unwrap_or(&b)));
        }
    }
    let in_set1 = |b: u8| set1.contains(&b);
    let squeeze_set: &[u8] = if delete || set2.is_empty() {
        &set1
    } else {
        &set2
    };
    let input = ctx.stdin();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last: Option<u8> = None;
    loop {
        let n = ctx.read_fd(&input, &mut buf)?;
        if n == 0 {
            break;
        }
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if delete && in_set1(b) {
                continue;
            }
            let c = map[b as usize].unwrap_or(b);
            if squeeze && squeeze_set.contains(&c) && last == Some(c) {
                continue;
            }
            last = Some(c);
            out.push(c);
        }
        ctx.out(&out)?;
    }
    Ok(0)
}

/// `1,3-5,7-` into ranges (1-based, inclusive).
fn parse_list(spec: &str) -> Option<Vec<(usize, usize)>> {
    let mut v = Vec::new();
    for part in spec.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                if a.is_empty() { 1 } else { a.parse().ok()? },
                if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse().ok()?
                },
            ),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if a == 0 {
            return None;
        }
        v.push((a, b));
    }
    Some(v)
}

pub fn cut(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, long) = match getopt(ctx, args, "d:f:c:b:sn") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (list, by_field) = match (o.value('f'), o.value('c').or(o.value('b'))) {
        (Some(f), _) => (f, true),
        (None, Some(c)) => (c, false),
        _ => {
            ctx.fail_as(
                "you must specify a list of bytes, characters, or fields",
                "expected a list of bytes, characters, or fields",
            );
            return Ok(1);
        }
    };
    let Some(ranges) = parse_list(list) else {
        ctx.fail_as(
            "fields are numbered from 1",
            "invalid byte, character or field list",
        );
        return Ok(1);
    };
    let delim = o
        .value('d')
        .map(|d| d.chars().next().unwrap_or('\t'))
        .unwrap_or('\t');
    let out_delim = long
        .iter()
        .find_map(|l| l.strip_prefix("output-delimiter="))
        .map(str::to_string)
        .unwrap_or_else(|| delim.to_string());
    let selected = |i: usize| ranges.iter().any(|(a, b)| *a <= i && i <= *b);
    ctx.each_input(&o.operands, |ctx, _, fd| {
        let mut lines = LineReader::new(fd.clone());
        let mut out = Out::new(ctx);
        while let Some(raw) = lines.next_line(ctx)? {
            let line =
                String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(&raw)).into_owned();
            if by_field {
                if !line.contains(delim) {
                    if !o.has('s') {
                        out.write(line.as_bytes())?;
                        out.write(b"\n")?;
                    }
                    continue;
                }
                let parts: Vec<&str> = line
                    .split(delim)
                    .enumerate()
                    .filter(|(i, _)| selected(i + 1))
                    .map(|(_, p)| p)
                    .collect();
                out.write(parts.join(&out_delim).as_bytes())?;
            } else {
                let s: String = line
                    .chars()
                    .enumerate()
                    .filter(|(i, _)| selected(i + 1))
                    .map(|(_, c)| c)
                    .collect();
                out.write(s.as_bytes())?;
            }
            out.write(b"\n")?;
        }
        out.flush()
    })
}

// ----------------------------------------------------------------------
// base64, checksums, xargs
// ----------------------------------------------------------------------

pub fn base64(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "dw:i") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let input = match o.operands.first() {
        Some(f) => match ctx.open_input(f) {
            Ok(fd) => fd,
            Err(e) => {
                ctx.cant_open(f, &e);
                return Ok(1);
            }
        },
        None => ctx.stdin(),
    };
    let (data, _c) = ctx.read_all(&input)?;
    if o.has('d') {
        let clean: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        match base64::engine::general_purpose::STANDARD.decode(&clean) {
            Ok(bytes) => {
                ctx.out(&bytes)?;
                Ok(0)
            }
            Err(_) => {
                ctx.fail("invalid input");
                Ok(1)
            }
        }
    } else {
        let enc = base64::engine::general_purpose::STANDARD.encode(&data);
        let wrap: usize = o.value('w').and_then(|w| w.parse().ok()).unwrap_or(76);
        let mut out = String::with_capacity(enc.len() + enc.len() / 64 + 1);
        if wrap == 0 {
            out.push_str(&enc);
            out.push('\n');
        } else {
            for chunk in enc.as_bytes().chunks(wrap) {
                out.push_str(&String::from_utf8_lossy(chunk));
                out.push('\n');
            }
            if enc.is_empty() {
                out.clear();
            }
        }
        ctx.outs(&out)?;
        Ok(0)
    }
}

pub fn checksum(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "cbtsw") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let sha = ctx.name.ends_with("sha256sum");
    let digest_of = |ctx: &Ctx, fd: &Fd| -> Result<String, Abort> {
        let mut buf = vec![0u8; 64 * 1024];
        if sha {
            let mut h = sha2::Sha256::new();
            loop {
                let n = ctx.read_fd(fd, &mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
        } else {
            let mut h = super::misc::Md5::new();
            loop {
                let n = ctx.read_fd(fd, &mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(h.hex())
        }
    };
    if o.has('c') {
        let mut failed = 0;
        let mut status = 0;
        let list = o.operands.first().cloned().unwrap_or_else(|| "-".into());
        let fd = match ctx.open_input(&list) {
            Ok(fd) => fd,
            Err(e) => {
                ctx.cant_open(&list, &e);
                return Ok(1);
            }
        };
        let mut lines = LineReader::new(fd);
        while let Some(raw) = lines.next_line(ctx)? {
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            let Some((sum, file)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
                continue;
            };
            let ok = match ctx.open_input(file) {
                Ok(fd) => digest_of(ctx, &fd)? == sum,
                Err(e) => {
                    ctx.cant_open(file, &e);
                    status = 1;
                    false
                }
            };
            ctx.outs(&format!("{file}: {}\n", if ok { "OK" } else { "FAILED" }))?;
            if !ok {
                failed += 1;
            }
        }
        if failed > 0 {
            if ctx.gnu() {
                ctx.fail(&format!(
                    "WARNING: {failed} computed checksum{} did NOT match",
                    if failed > 1 { "s" } else { "" }
                ));
            } else {
                ctx.fail("WARNING: 1 of 1 computed checksums did NOT match");
            }
            status = 1;
        }
        return Ok(status);
    }
    let mut out = String::new();
    let status = ctx.each_input(&o.operands, |ctx, name, fd| {
        let d = digest_of(ctx, fd)?;
        out.push_str(&format!("{d}  {name}\n"));
        Ok(())
    })?;
    ctx.outs(&out)?;
    Ok(status)
}

pub fn xargs(ctx: &mut Ctx, args: &[String]) -> Ret {
    // Options stop at the command.
    let cmd_start = {
        let mut i = 0;
        while i < args.len() && args[i].starts_with('-') {
            if matches!(
                args[i].as_str(),
                "-n" | "-I" | "-d" | "-s" | "-P" | "-L" | "-E"
            ) {
                i += 1;
            }
            i += 1;
        }
        i.min(args.len())
    };
    let (o, _) = match getopt(ctx, &args[..cmd_start], "n:I:d:s:P:L:E:0rtpxe") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut cmd: Vec<String> = args[cmd_start..].to_vec();
    if cmd.is_empty() {
        cmd.push("echo".to_string());
    }
    let (input, _c) = ctx.read_all(&ctx.stdin())?;
    let text = String::from_utf8_lossy(&input);
    let items: Vec<String> = if o.has('0') {
        text.split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    } else if let Some(d) = o.value('d') {
        let (d, _) = backslash_escapes(d, false);
        let d = d.first().copied().unwrap_or(b'\n') as char;
        text.split(d)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    } else if o.value('I').is_some() || o.value('L').is_some() {
        text.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        split_xargs_words(&text)
    };
    if items.is_empty() && o.has('r') {
        return Ok(0);
    }
    let per: usize = o
        .value('n')
        .or(o.value('L'))
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(usize::MAX);
    let mut status = 0;
    let mut run = |argv: Vec<String>| -> Result<(), Abort> {
        if o.has('t') || o.has('p') {
            ctx.errs(&format!("{}\n", argv.join(" ")));
        }
        let st = ctx.run_child(&argv, Some(Fd::Null))?;
        match st.code() {
            0 => {}
            127 => status = 127,
            255 => status = 124,
            c if c > 128 => status = 125,
            _ => status = 123,
        }
        Ok(())
    };
    if let Some(repl) = o.value('I') {
        for item in &items {
            let argv: Vec<String> = cmd.iter().map(|a| a.replace(repl, item)).collect();
            run(argv)?;
        }
        return Ok(status);
    }
    if items.is_empty() {
        run(cmd.clone())?;
        return Ok(status);
    }
    for chunk in items.chunks(per.min(items.len().max(1))) {
        let mut argv = cmd.clone();
        argv.extend(chunk.iter().cloned());
        run(argv)?;
    }
    Ok(status)
}

/// xargs' words: blanks separate, quotes and backslashes group.
fn split_xargs_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_translation() {
        let m = |re: &str, ext: bool, s: &str| {
            regex::Regex::new(&posix_to_rust(re, ext))
                .unwrap()
                .is_match(s)
        };
        assert!(m("a|b", true, "b"));
        assert!(!m("a|b", false, "b"));
        assert!(m("a\\|b", false, "b"));
        assert!(m("^a.*c$", false, "abc"));
        assert!(m("x\\{2\\}", false, "xx"));
        assert!(m("a+", false, "a+"));
        assert!(m("[[:digit:]]\\+", false, "42"));
        assert!(m("[a\\]", false, "\\"));
        assert!(m("*a", false, "*a"));
        assert!(m("a{", true, "a{"));
        assert_eq!(tr_set("a-c"), b"abc");
        assert_eq!(parse_list("1,3-"), Some(vec![(1, 1), (3, usize::MAX)]));
        assert_eq!(split_xargs_words("a 'b c'\n d\\ e"), ["a", "b c", "d e"]);
        assert_eq!(
            backslash_escapes("a\\tb\\0101\\c", true),
            (b"a\tbA".to_vec(), false)
        );
    }
}
