//! Small applets: `seq`, `test`/`[`/`[[`, `which`, `basename`,
//! `dirname`, `expr`, `busybox`; and the MD5 digest `md5sum` uses.

use super::{Ctx, Ret};
use crate::shell::system::Container;
use crate::shell::userland::ShellKind;
use crate::shell::vfs::{Kind, Vfs};

pub fn seq(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut sep = "\n".to_string();
    let mut width = false;
    let mut format: Option<String> = None;
    let mut nums = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-s" => {
                i += 1;
                sep = args.get(i).cloned().unwrap_or_default();
            }
            "-w" => width = true,
            "-f" => {
                i += 1;
                format = args.get(i).cloned();
            }
            _ => nums.push(a.clone()),
        }
        i += 1;
    }
    let parsed: Result<Vec<f64>, String> = nums
        .iter()
        .map(|n| n.parse::<f64>().map_err(|_| n.clone()))
        .collect();
    let vals = match parsed {
        Ok(v) => v,
        Err(bad) => {
            if ctx.gnu() {
                ctx.errs(&format!("seq: invalid floating point argument: '{bad}'\nTry 'seq --help' for more information.\n"));
            } else {
                ctx.fail(&format!("invalid number '{bad}'"));
            }
            return Ok(1);
        }
    };
    let (first, step, last) = match vals.as_slice() {
        [l] => (1.0, 1.0, *l),
        [f, l] => (*f, 1.0, *l),
        [f, s, l] => (*f, *s, *l),
        _ => {
            ctx.usage("seq [-w] [-s SEP] [FIRST [INC]] LAST");
            return Ok(1);
        }
    };
    // busybox loops on a zero step; it stops at one value here.
    if step == 0.0 && ctx.gnu() {
        ctx.errs(
            "seq: invalid Zero increment value: '0'
",
        );
        return Ok(1);
    }
    let decimals = nums
        .iter()
        .map(|n| n.split_once('.').map_or(0, |(_, d)| d.len()))
        .max()
        .unwrap_or(0);
    let w = if width {
        [first, last]
            .iter()
            .map(|v| format!("{v:.decimals$}").len())
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    let mut out = String::new();
    let mut k = 0u64;
    loop {
        let v = first + step * k as f64;
        if (step > 0.0 && v > last + 1e-9)
            || (step < 0.0 && v < last - 1e-9)
            || (step == 0.0 && k > 0)
        {
            break;
        }
        if k > 0 {
            out.push_str(&sep);
        }
        let text = match &format {
            Some(f) => {
                let mut bad = false;
                super::text::format_printf(ctx, f, &[format!("{v}")], &mut bad)
                    .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            }
            None => {
                let t = format!("{v:.decimals$}");
                if width && t.len() < w {
                    let (sign, digits) = t.strip_prefix('-').map_or(("", t.as_str()), |d| ("-", d));
                    format!("{sign}{}{digits}", "0".repeat(w - t.len()))
                } else {
                    t
                }
            }
        };
        out.push_str(&text);
        k += 1;
        if out.len() >= 64 * 1024 {
            ctx.outs(&out)?;
            out.clear();
            ctx.check()?;
        }
    }
    if k > 0 {
        out.push('\n');
    }
    ctx.outs(&out)?;
    Ok(0)
}

/// Evaluates `test` arguments: Ok(result), Err(message) for a usage
/// error (status 2).
pub fn test_eval(sys: &Container, cwd: &str, args: &[String]) -> Result<bool, String> {
    let mut p = TestParser {
        args,
        pos: 0,
        vfs: Vfs::new(sys, cwd),
    };
    if args.is_empty() {
        return Ok(false);
    }
    let r = p.or()?;
    if p.pos < args.len() {
        return Err(format!("{}: unknown operand", args[p.pos]));
    }
    Ok(r)
}

struct TestParser<'a> {
    args: &'a [String],
    pos: usize,
    vfs: Vfs<'a>,
}

const UNARY: &[&str] = &[
    "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-p", "-S", "-b", "-c", "-n", "-z", "-t",
    "-g", "-u", "-k", "-O", "-G",
];
const BINARY: &[&str] = &[
    "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
];

fn int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| format!("{s}: bad number"))
}

impl TestParser<'_> {
    fn peek(&self, k: usize) -> Option<&str> {
        self.args.get(self.pos + k).map(String::as_str)
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek(0) == Some("-o") {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek(0) == Some("-a") {
            self.pos += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        if self.peek(0) == Some("!") && self.args.len() - self.pos > 1 {
            self.pos += 1;
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(a) = self.peek(0).map(str::to_string) else {
            return Err("argument expected".to_string());
        };
        if a == "(" && self.args.len() - self.pos > 2 {
            self.pos += 1;
            let v = self.or()?;
            if self.peek(0) != Some(")") {
                return Err("closing paren expected".to_string());
            }
            self.pos += 1;
            return Ok(v);
        }
        // `a OP b` takes precedence over a unary reading.
        if let Some(op) = self.peek(1).map(str::to_string)
            && BINARY.contains(&op.as_str())
            && self.peek(2).is_some()
        {
            let b = self.peek(2).unwrap_or_default().to_string();
            self.pos += 3;
            return self.binary(&a, &op, &b);
        }
        if UNARY.contains(&a.as_str()) && self.peek(1).is_some() {
            let v = self.peek(1).unwrap_or_default().to_string();
            self.pos += 2;
            return Ok(self.unary(&a, &v));
        }
        self.pos += 1;
        Ok(!a.is_empty())
    }

    fn unary(&self, op: &str, v: &str) -> bool {
        match op {
            "-n" => !v.is_empty(),
            "-z" => v.is_empty(),
            "-t" => false,
            "-L" | "-h" => self
                .vfs
                .symlink_metadata(v)
                .is_ok_and(|m| m.kind == Kind::Symlink),
            _ => {
                let Ok(m) = self.vfs.metadata(v) else {
                    return false;
                };
                match op {
                    "-e" | "-r" | "-O" | "-G" => true,
                    "-f" => m.kind == Kind::File,
                    "-d" => m.kind == Kind::Dir,
                    "-s" => m.len > 0,
                    "-w" => !self.vfs.place(v, true).is_ok_and(|p| p.read_only),
                    "-x" => m.mode & 0o111 != 0 || m.is_dir(),
                    "-p" => m.kind == Kind::Fifo,
                    "-c" => m.kind == Kind::CharDevice,
                    "-S" | "-b" => false,
                    "-g" => m.mode & 0o2000 != 0,
                    "-u" => m.mode & 0o4000 != 0,
                    "-k" => m.mode & 0o1000 != 0,
                    _ => false,
                }
            }
        }
    }

    fn binary(&self, a: &str, op: &str, b: &str) -> Result<bool, String> {
        Ok(match op {
            "=" | "==" => a == b,
            "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "-eq" => int(a)? == int(b)?,
            "-ne" => int(a)? != int(b)?,
            "-lt" => int(a)? < int(b)?,
            "-le" => int(a)? <= int(b)?,
            "-gt" => int(a)? > int(b)?,
            "-ge" => int(a)? >= int(b)?,
            "-nt" | "-ot" => {
                let ma = self.vfs.metadata(a).map(|m| m.mtime).ok();
                let mb = self.vfs.metadata(b).map(|m| m.mtime).ok();
                match (ma, mb) {
                    (Some(x), Some(y)) => {
                        if op == "-nt" {
                            x > y
                        } else {
                            x < y
                        }
                    }
                    (Some(_), None) => op == "-nt",
                    (None, Some(_)) => op == "-ot",
                    _ => false,
                }
            }
            "-ef" => match (self.vfs.metadata(a), self.vfs.metadata(b)) {
                (Ok(x), Ok(y)) => x.ino == y.ino && x.dev == y.dev,
                _ => false,
            },
            _ => false,
        })
    }
}

pub fn test(ctx: &mut Ctx, args: &[String]) -> Ret {
    test_main(ctx, args, None)
}

/// `[ EXPR ]`
pub fn bracket(ctx: &mut Ctx, args: &[String]) -> Ret {
    test_main(ctx, args, Some("]"))
}

/// `[[ EXPR ]]` (ash's builtin form).
pub fn double_bracket(ctx: &mut Ctx, args: &[String]) -> Ret {
    test_main(ctx, args, Some("]]"))
}

fn test_main(ctx: &mut Ctx, args: &[String], close: Option<&str>) -> Ret {
    let args: Vec<String> = match close {
        Some(close) => match args.split_last() {
            Some((last, rest)) if last == close => rest.to_vec(),
            _ => {
                if ctx.dialect == Some(ShellKind::Bash) {
                    ctx.fail(&format!("missing `{close}'"));
                } else {
                    ctx.fail(&format!("missing {close}"));
                }
                return Ok(2);
            }
        },
        None => args.to_vec(),
    };
    match test_eval(&ctx.sys, &ctx.cwd, &args) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(1),
        Err(msg) => {
            let msg = if ctx.dialect == Some(ShellKind::Bash) || ctx.gnu() {
                msg.replace(": bad number", ": integer expression expected")
            } else {
                msg
            };
            ctx.fail(&msg);
            Ok(2)
        }
    }
}

pub fn which(ctx: &mut Ctx, args: &[String]) -> Ret {
    let all = args.iter().any(|a| a == "-a");
    let path = ctx
        .getenv("PATH")
        .unwrap_or(ctx.sys.userland.path)
        .to_string();
    let mut status = 0;
    let mut out = String::new();
    for name in args.iter().filter(|a| !a.starts_with('-')) {
        let mut found = false;
        if name.contains('/') {
            if ctx.vfs().metadata(name).is_ok_and(|m| m.mode & 0o111 != 0)
                || ctx.sys.userland.by_path(&ctx.vfs().abs(name)).is_some()
            {
                out.push_str(&format!("{name}\n"));
                found = true;
            }
        } else {
            for dir in path.split(':').filter(|d| !d.is_empty()) {
                let full = format!("{}/{name}", dir.trim_end_matches('/'));
                let is_prog = ctx.sys.userland.lookup(name, dir).is_some()
                    || ctx
                        .vfs()
                        .metadata(&full)
                        .is_ok_and(|m| m.is_file() && m.mode & 0o111 != 0);
                if is_prog {
                    out.push_str(&format!("{full}\n"));
                    found = true;
                    if !all {
                        break;
                    }
                }
            }
        }
        if !found {
            status = 1;
        }
    }
    ctx.outs(&out)?;
    Ok(status)
}

pub fn basename(ctx: &mut Ctx, args: &[String]) -> Ret {
    let ops: Vec<&String> = args.iter().filter(|a| *a != "--").collect();
    let Some(path) = ops.first() else {
        return ctx.missing_operand("missing operand", "basename FILE [SUFFIX]");
    };
    let trimmed = path.trim_end_matches('/');
    let mut base = if trimmed.is_empty() && path.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.rsplit('/').next().unwrap_or("").to_string()
    };
    if let Some(suffix) = ops.get(1)
        && base != **suffix
        && let Some(b) = base.strip_suffix(suffix.as_str())
    {
        base = b.to_string();
    }
    ctx.outs(&format!("{base}\n"))?;
    Ok(0)
}

pub fn dirname(ctx: &mut Ctx, args: &[String]) -> Ret {
    let Some(path) = args.iter().find(|a| *a != "--") else {
        return ctx.missing_operand("missing operand", "dirname FILENAME");
    };
    let t = path.trim_end_matches('/');
    let dir = match t.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => t[..i]
            .trim_end_matches('/')
            .to_string()
            .chars()
            .collect::<String>(),
        None if path.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
    };
    let dir = if dir.is_empty() { "/".to_string() } else { dir };
    ctx.outs(&format!("{dir}\n"))?;
    Ok(0)
}

/// `expr`: arithmetic, comparisons, `:` (regex match), `length`,
/// `substr`, `index`.
pub fn expr(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut p = ExprParser { args, pos: 0 };
    match p.or() {
        Ok(v) if p.pos == args.len() => {
            let null = v.is_empty() || v == "0";
            ctx.outs(&format!("{v}\n"))?;
            Ok(i32::from(null))
        }
        Ok(_) => {
            ctx.fail("syntax error");
            Ok(2)
        }
        Err(e) => {
            ctx.fail(&e);
            Ok(2)
        }
    }
}

struct ExprParser<'a> {
    args: &'a [String],
    pos: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.args.get(self.pos).map(String::as_str)
    }

    fn or(&mut self) -> Result<String, String> {
        let mut l = self.and()?;
        while self.peek() == Some("|") {
            self.pos += 1;
            let r = self.and()?;
            if l.is_empty() || l == "0" {
                l = if r.is_empty() { "0".into() } else { r };
            }
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<String, String> {
        let mut l = self.cmp()?;
        while self.peek() == Some("&") {
            self.pos += 1;
            let r = self.cmp()?;
            if l.is_empty() || l == "0" || r.is_empty() || r == "0" {
                l = "0".into();
            }
        }
        Ok(l)
    }

    fn cmp(&mut self) -> Result<String, String> {
        let mut l = self.add()?;
        while let Some(op) = self
            .peek()
            .filter(|o| matches!(*o, "=" | "!=" | "<" | "<=" | ">" | ">="))
            .map(str::to_string)
        {
            self.pos += 1;
            let r = self.add()?;
            let ord = match (l.parse::<i64>(), r.parse::<i64>()) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => l.cmp(&r),
            };
            let yes = match op.as_str() {
                "=" => ord.is_eq(),
                "!=" => !ord.is_eq(),
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            };
            l = i32::from(yes).to_string();
        }
        Ok(l)
    }

    fn num(s: &str) -> Result<i64, String> {
        s.parse().map_err(|_| "non-numeric argument".to_string())
    }

    fn add(&mut self) -> Result<String, String> {
        let mut l = self.mul()?;
        while let Some(op) = self
            .peek()
            .filter(|o| matches!(*o, "+" | "-"))
            .map(str::to_string)
        {
            self.pos += 1;
            let r = self.mul()?;
            let (a, b) = (Self::num(&l)?, Self::num(&r)?);
            l = if op == "+" {
                a.wrapping_add(b)
            } else {
                a.wrapping_sub(b)
            }
            .to_string();
        }
        Ok(l)
    }

    fn mul(&mut self) -> Result<String, String> {
        let mut l = self.colon()?;
        while let Some(op) = self
            .peek()
            .filter(|o| matches!(*o, "*" | "/" | "%"))
            .map(str::to_string)
        {
            self.pos += 1;
            let r = self.colon()?;
            let (a, b) = (Self::num(&l)?, Self::num(&r)?);
            if op != "*" && b == 0 {
                return Err("division by zero".to_string());
            }
            l = match op.as_str() {
                "*" => a.wrapping_mul(b),
                "/" => a / b,
                _ => a % b,
            }
            .to_string();
        }
        Ok(l)
    }

    fn colon(&mut self) -> Result<String, String> {
        let l = self.primary()?;
        if self.peek() == Some(":") {
            self.pos += 1;
            let re = self.primary()?;
            let rx = regex::Regex::new(&format!("^(?:{})", super::text::posix_to_rust(&re, false)))
                .map_err(|_| "invalid regular expression".to_string())?;
            return Ok(match rx.captures(&l) {
                Some(c) => match c.get(1) {
                    Some(g) => g.as_str().to_string(),
                    None => c
                        .get(0)
                        .map_or(0, |m| m.as_str().chars().count())
                        .to_string(),
                },
                None => {
                    if rx.captures_len() > 1 {
                        String::new()
                    } else {
                        "0".to_string()
                    }
                }
            });
        }
        Ok(l)
    }

    fn primary(&mut self) -> Result<String, String> {
        let Some(a) = self.peek().map(str::to_string) else {
            return Err("syntax error".to_string());
        };
        self.pos += 1;
        match a.as_str() {
            "(" => {
                let v = self.or()?;
                if self.peek() != Some(")") {
                    return Err("syntax error".to_string());
                }
                self.pos += 1;
                Ok(v)
            }
            "length" => Ok(self.primary()?.chars().count().to_string()),
            "substr" => {
                let s = self.primary()?;
                let p: usize = Self::num(&self.primary()?)?.max(0) as usize;
                let n: usize = Self::num(&self.primary()?)?.max(0) as usize;
                Ok(s.chars()
                    .skip(p.saturating_sub(1))
                    .take(if p == 0 { 0 } else { n })
                    .collect())
            }
            "index" => {
                let s = self.primary()?;
                let chars = self.primary()?;
                Ok(s.chars()
                    .position(|c| chars.contains(c))
                    .map_or(0, |i| i + 1)
                    .to_string())
            }
            "match" => {
                let s = self.primary()?;
                let re = self.primary()?;
                let rx =
                    regex::Regex::new(&format!("^(?:{})", super::text::posix_to_rust(&re, false)))
                        .map_err(|_| "invalid regular expression".to_string())?;
                Ok(rx
                    .find(&s)
                    .map_or(0, |m| m.as_str().chars().count())
                    .to_string())
            }
            _ => Ok(a),
        }
    }
}

pub fn busybox(ctx: &mut Ctx, args: &[String]) -> Ret {
    match args.first() {
        None => busybox_list(ctx, false),
        Some(a) if a == "--list" => busybox_list(ctx, true),
        Some(_) => {
            let st = ctx.run_child(args, None)?;
            Ok(st.code())
        }
    }
}

fn busybox_list(ctx: &Ctx, list: bool) -> Ret {
    {
        {
            let mut names: Vec<String> = ctx
                .sys
                .userland
                .programs()
                .into_iter()
                .map(|p| p.rsplit('/').next().unwrap_or("").to_string())
                .filter(|n| n != "busybox")
                .collect();
            names.sort();
            if !list {
                ctx.outs(&format!("{}\nUsage: busybox [function [arguments]...]\n\nCurrently defined functions:\n\t{}\n", super::BANNER, names.join(", ")))?;
            } else {
                ctx.outs(&format!("{}\n", names.join("\n")))?;
            }
            Ok(0)
        }
    }
}

/// MD5 (RFC 1321), for `md5sum`.
pub struct Md5 {
    state: [u32; 4],
    buf: Vec<u8>,
    len: u64,
}

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

impl Md5 {
    pub fn new() -> Md5 {
        Md5 {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }

    fn block(&mut self, chunk: &[u8]) {
        let k = |i: usize| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = self.state;
        for (i, shift) in S.iter().enumerate() {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k(i)).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(*shift));
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        self.buf.extend_from_slice(data);
        let full = self.buf.len() / 64 * 64;
        let blocks: Vec<u8> = self.buf.drain(..full).collect();
        for chunk in blocks.chunks(64) {
            self.block(chunk);
        }
    }

    pub fn hex(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        while (self.buf.len() + pad.len()) % 64 != 56 {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_le_bytes());
        let len = self.len;
        self.update(&pad);
        self.len = len;
        self.state
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_vectors() {
        let h = |s: &str| {
            let mut m = Md5::new();
            m.update(s.as_bytes());
            m.hex()
        };
        assert_eq!(h(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(h("hello\n"), "b1946ac92492d2347c6235b4d2611184");
        assert_eq!(h(&"a".repeat(1000)), "cabe45dcc9ae5b66ba86600cca6b8ba8");
    }
}
