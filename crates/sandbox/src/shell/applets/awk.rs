//! `awk`: patterns (`BEGIN`, `END`, expressions, `/re/`, ranges) and
//! actions with `print`, `printf`, variables, fields, associative arrays,
//! `if`/`while`/`do`/`for`/`for (k in a)`, `next`, `exit`, user functions
//! and the usual builtins (`length`, `substr`, `index`, `split`, `sub`,
//! `gsub`, `match`, `sprintf`, `tolower`, `toupper`, `int`, math). Loops
//! look at signals; what the program holds is charged to memory.

use std::collections::HashMap;

use regex::Regex;

use super::{Abort, Ctx, LineReader, Ret};
use crate::process::Charge;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Re(String),
    Name(String),
    Func(String),
    Builtin(String),
    Kw(&'static str),
    Op(&'static str),
    Newline,
    Eof,
}

const OPS: &[&str] = &[
    "+=", "-=", "*=", "/=", "%=", "^=", "**=", "==", "<=", ">=", "!=", "++", "--", "&&", "||",
    ">>", "!~", "**", "{", "}", "(", ")", "[", "]", ";", ",", "+", "-", "*", "/", "%", "^", "!",
    ">", "<", "|", "?", ":", "~", "$", "=",
];
const KEYWORDS: &[&str] = &[
    "BEGIN", "END", "function", "func", "if", "else", "while", "for", "do", "break", "continue",
    "next", "nextfile", "exit", "return", "delete", "in", "getline", "print", "printf",
];
const BUILTINS: &[&str] = &[
    "length", "substr", "index", "split", "sub", "gsub", "match", "sprintf", "tolower", "toupper",
    "int", "sqrt", "exp", "log", "sin", "cos", "atan2", "rand", "srand", "system", "close",
];

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let regex_ok = |toks: &Vec<Tok>| {
        !matches!(
            toks.last(),
            Some(
                Tok::Num(_)
                    | Tok::Str(_)
                    | Tok::Name(_)
                    | Tok::Builtin(_)
                    | Tok::Op(")" | "]" | "$" | "++" | "--")
            )
        )
    };
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
            continue;
        }
        if c == '\\' && chars.get(i + 1) == Some(&'\n') {
            i += 2;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\n' {
            toks.push(Tok::Newline);
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                if (chars[i] == 'e' || chars[i] == 'E')
                    && matches!(chars.get(i + 1), Some('+' | '-'))
                {
                    i += 1;
                }
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i64::from_str_radix(h, 16)
                    .map(|v| v as f64)
                    .map_err(|_| format!("bad number {text}"))?
            } else {
                text.parse::<f64>()
                    .map_err(|_| format!("bad number {text}"))?
            };
            toks.push(Tok::Num(n));
            continue;
        }
        if c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if let Some(k) = KEYWORDS.iter().find(|k| **k == word) {
                toks.push(Tok::Kw(k));
            } else if BUILTINS.contains(&word.as_str()) {
                toks.push(Tok::Builtin(word));
            } else if chars.get(i) == Some(&'(') {
                toks.push(Tok::Func(word));
            } else {
                toks.push(Tok::Name(word));
            }
            continue;
        }
        if c == '"' {
            i += 1;
            let mut s = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    match chars[i] {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '\\' => s.push('\\'),
                        '"' => s.push('"'),
                        '/' => s.push('/'),
                        '\n' => {}
                        o => {
                            s.push('\\');
                            s.push(o);
                        }
                    }
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string".to_string());
            }
            i += 1;
            toks.push(Tok::Str(s));
            continue;
        }
        if c == '/' && regex_ok(&toks) {
            i += 1;
            let mut s = String::new();
            let mut in_class = false;
            while i < chars.len() && (chars[i] != '/' || in_class) {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    if chars[i + 1] == '/' {
                        s.push('/');
                    } else {
                        s.push('\\');
                        s.push(chars[i + 1]);
                    }
                    i += 2;
                    continue;
                }
                if chars[i] == '[' {
                    in_class = true;
                } else if chars[i] == ']' {
                    in_class = false;
                }
                if chars[i] == '\n' {
                    return Err("newline in regex".to_string());
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            toks.push(Tok::Re(s));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(*op)) {
            Some(op) => {
                toks.push(Tok::Op(op));
                i += op.chars().count();
            }
            None => return Err(format!("unexpected character '{c}'")),
        }
    }
    toks.push(Tok::Eof);
    Ok(toks)
}

#[derive(Debug, Clone)]
enum Expr {
    Num(f64),
    Str(String),
    Re(String),
    Var(String),
    Field(Box<Expr>),
    Index(String, Vec<Expr>),
    Assign(Box<Expr>, &'static str, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    In(Vec<Expr>, String),
    Match(Box<Expr>, Box<Expr>, bool),
    Bin(Box<Expr>, &'static str, Box<Expr>),
    Concat(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Incr(Box<Expr>, f64, bool),
    Call(String, Vec<Expr>),
    Builtin(String, Vec<Expr>),
    Group(Box<Expr>),
}

#[derive(Debug, Clone)]
enum Stmt {
    Expr(Expr),
    Print(Vec<Expr>, Option<(bool, Expr)>),
    Printf(Vec<Expr>, Option<(bool, Expr)>),
    If(Expr, Box<Stmt>, Option<Box<Stmt>>),
    While(Expr, Box<Stmt>),
    Do(Box<Stmt>, Expr),
    For(
        Option<Box<Stmt>>,
        Option<Expr>,
        Option<Box<Stmt>>,
        Box<Stmt>,
    ),
    ForIn(String, String, Box<Stmt>),
    Block(Vec<Stmt>),
    Next,
    Exit(Option<Expr>),
    Return(Option<Expr>),
    Break,
    Continue,
    Delete(String, Option<Vec<Expr>>),
    Getline(Option<Expr>),
}

#[derive(Debug, Clone)]
enum Pattern {
    Begin,
    End,
    All,
    Expr(Expr),
    Range(Expr, Expr),
}

struct Program {
    rules: Vec<(Pattern, Option<Vec<Stmt>>)>,
    funcs: HashMap<String, (Vec<String>, Vec<Stmt>)>,
}

struct P {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    no_in: bool,
    no_gt: bool,
}

const MAX_DEPTH: usize = 150;

impl P {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).unwrap_or(&Tok::Eof)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(format!("syntax error at or near {}", self.describe()))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            Tok::Op(o) => o.to_string(),
            Tok::Kw(k) => k.to_string(),
            Tok::Name(n) | Tok::Func(n) | Tok::Builtin(n) => n.clone(),
            Tok::Num(n) => n.to_string(),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Re(r) => format!("/{r}/"),
            Tok::Newline => "end of line".to_string(),
            Tok::Eof => "end of file".to_string(),
        }
    }

    fn skip_nl(&mut self) {
        while matches!(self.peek(), Tok::Newline) || self.is_op(";") {
            self.pos += 1;
        }
    }

    fn skip_newlines_only(&mut self) {
        while matches!(self.peek(), Tok::Newline) {
            self.pos += 1;
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("program too deeply nested".to_string());
        }
        Ok(())
    }

    fn program(&mut self) -> Result<Program, String> {
        let mut prog = Program {
            rules: Vec::new(),
            funcs: HashMap::new(),
        };
        loop {
            self.skip_nl();
            match self.peek().clone() {
                Tok::Eof => break,
                Tok::Kw("BEGIN") => {
                    self.pos += 1;
                    self.skip_newlines_only();
                    let b = self.block()?;
                    prog.rules.push((Pattern::Begin, Some(b)));
                }
                Tok::Kw("END") => {
                    self.pos += 1;
                    self.skip_newlines_only();
                    let b = self.block()?;
                    prog.rules.push((Pattern::End, Some(b)));
                }
                Tok::Kw("function" | "func") => {
                    self.pos += 1;
                    let name = match self.next() {
                        Tok::Name(n) | Tok::Func(n) => n,
                        _ => return Err("function name expected".to_string()),
                    };
                    self.expect_op("(")?;
                    let mut params = Vec::new();
                    while let Tok::Name(p) = self.peek().clone() {
                        self.pos += 1;
                        params.push(p);
                        if !self.eat_op(",") {
                            break;
                        }
                        self.skip_newlines_only();
                    }
                    self.expect_op(")")?;
                    self.skip_newlines_only();
                    let body = self.block()?;
                    prog.funcs.insert(name, (params, body));
                }
                Tok::Op("{") => {
                    let b = self.block()?;
                    prog.rules.push((Pattern::All, Some(b)));
                }
                _ => {
                    let e = self.expr()?;
                    let pat = if self.eat_op(",") {
                        self.skip_newlines_only();
                        Pattern::Range(e, self.expr()?)
                    } else {
                        Pattern::Expr(e)
                    };
                    let action = if self.is_op("{") {
                        Some(self.block()?)
                    } else {
                        None
                    };
                    prog.rules.push((pat, action));
                }
            }
        }
        Ok(prog)
    }

    fn block(&mut self) -> Result<Vec<Stmt>, String> {
        self.expect_op("{")?;
        self.deeper()?;
        let mut out = Vec::new();
        loop {
            self.skip_nl();
            if self.eat_op("}") {
                break;
            }
            if matches!(self.peek(), Tok::Eof) {
                return Err("unexpected end of program, missing }".to_string());
            }
            out.push(self.stmt()?);
        }
        self.depth -= 1;
        Ok(out)
    }

    fn simple_end(&mut self) {
        if self.is_op(";") || matches!(self.peek(), Tok::Newline) {
            self.pos += 1;
        }
    }

    fn redirect(&mut self) -> Result<Option<(bool, Expr)>, String> {
        if self.eat_op(">") {
            return Ok(Some((false, self.primary_concat()?)));
        }
        if self.eat_op(">>") {
            return Ok(Some((true, self.primary_concat()?)));
        }
        Ok(None)
    }

    fn stmt(&mut self) -> Result<Stmt, String> {
        self.deeper()?;
        let s = self.stmt_inner();
        self.depth -= 1;
        s
    }

    // Long: one arm per awk statement kind.
    fn stmt_inner(&mut self) -> Result<Stmt, String> {
        let s = match self.peek().clone() {
            Tok::Op("{") => Stmt::Block(self.block()?),
            Tok::Kw("if") => {
                self.pos += 1;
                self.expect_op("(")?;
                let c = self.expr()?;
                self.expect_op(")")?;
                self.skip_newlines_only();
                let then = self.stmt()?;
                let save = self.pos;
                self.skip_nl();
                let otherwise = if matches!(self.peek(), Tok::Kw("else")) {
                    self.pos += 1;
                    self.skip_newlines_only();
                    Some(Box::new(self.stmt()?))
                } else {
                    self.pos = save;
                    None
                };
                return Ok(Stmt::If(c, Box::new(then), otherwise));
            }
            Tok::Kw("while") => {
                self.pos += 1;
                self.expect_op("(")?;
                let c = self.expr()?;
                self.expect_op(")")?;
                if self.is_op(";") {
                    self.pos += 1;
                    return Ok(Stmt::While(c, Box::new(Stmt::Block(Vec::new()))));
                }
                self.skip_newlines_only();
                return Ok(Stmt::While(c, Box::new(self.stmt()?)));
            }
            Tok::Kw("do") => {
                self.pos += 1;
                self.skip_newlines_only();
                let body = self.stmt()?;
                self.skip_nl();
                if !matches!(self.next(), Tok::Kw("while")) {
                    return Err("syntax error: do without while".to_string());
                }
                self.expect_op("(")?;
                let c = self.expr()?;
                self.expect_op(")")?;
                Stmt::Do(Box::new(body), c)
            }
            Tok::Kw("for") => {
                self.pos += 1;
                self.expect_op("(")?;
                if let (Tok::Name(k), Tok::Kw("in"), Tok::Name(arr)) = (
                    self.peek().clone(),
                    self.toks.get(self.pos + 1).cloned().unwrap_or(Tok::Eof),
                    self.toks.get(self.pos + 2).cloned().unwrap_or(Tok::Eof),
                ) && matches!(self.toks.get(self.pos + 3), Some(Tok::Op(")")))
                {
                    self.pos += 4;
                    self.skip_newlines_only();
                    return Ok(Stmt::ForIn(k, arr, Box::new(self.stmt()?)));
                }
                let init = if self.is_op(";") {
                    None
                } else {
                    Some(Box::new(Stmt::Expr(self.expr()?)))
                };
                self.expect_op(";")?;
                self.skip_newlines_only();
                let cond = if self.is_op(";") {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.expect_op(";")?;
                self.skip_newlines_only();
                let step = if self.is_op(")") {
                    None
                } else {
                    Some(Box::new(Stmt::Expr(self.expr()?)))
                };
                self.expect_op(")")?;
                if self.is_op(";") {
                    self.pos += 1;
                    return Ok(Stmt::For(
                        init,
                        cond,
                        step,
                        Box::new(Stmt::Block(Vec::new())),
                    ));
                }
                self.skip_newlines_only();
                return Ok(Stmt::For(init, cond, step, Box::new(self.stmt()?)));
            }
            Tok::Kw("print") | Tok::Kw("printf") => {
                let printf = matches!(self.next(), Tok::Kw("printf"));
                let mut args = Vec::new();
                let parens = self.is_op("(");
                self.no_gt = true;
                if !(self.is_op(";")
                    || self.is_op("}")
                    || matches!(self.peek(), Tok::Newline | Tok::Eof)
                    || self.is_op(">")
                    || self.is_op(">>")
                    || self.is_op("|"))
                {
                    let save = self.pos;
                    let mut list = Vec::new();
                    let ok = (|| -> Result<(), String> {
                        if parens {
                            self.pos += 1;
                            list.push(self.expr()?);
                            while self.eat_op(",") {
                                self.skip_newlines_only();
                                list.push(self.expr()?);
                            }
                            self.expect_op(")")?;
                        }
                        Ok(())
                    })();
                    if parens
                        && ok.is_ok()
                        && (self.is_op(";")
                            || self.is_op("}")
                            || matches!(self.peek(), Tok::Newline | Tok::Eof)
                            || self.is_op(">")
                            || self.is_op(">>"))
                    {
                        args = list;
                    } else {
                        self.pos = save;
                        args.push(self.expr()?);
                        while self.eat_op(",") {
                            self.skip_newlines_only();
                            args.push(self.expr()?);
                        }
                    }
                }
                self.no_gt = false;
                let redir = self.redirect()?;
                if printf {
                    if args.is_empty() {
                        return Err("printf: no format".to_string());
                    }
                    Stmt::Printf(args, redir)
                } else {
                    Stmt::Print(args, redir)
                }
            }
            Tok::Kw("next") | Tok::Kw("nextfile") => {
                self.pos += 1;
                Stmt::Next
            }
            Tok::Kw("exit") => {
                self.pos += 1;
                let e = if self.is_op(";")
                    || self.is_op("}")
                    || matches!(self.peek(), Tok::Newline | Tok::Eof)
                {
                    None
                } else {
                    Some(self.expr()?)
                };
                Stmt::Exit(e)
            }
            Tok::Kw("return") => {
                self.pos += 1;
                let e = if self.is_op(";")
                    || self.is_op("}")
                    || matches!(self.peek(), Tok::Newline | Tok::Eof)
                {
                    None
                } else {
                    Some(self.expr()?)
                };
                Stmt::Return(e)
            }
            Tok::Kw("break") => {
                self.pos += 1;
                Stmt::Break
            }
            Tok::Kw("continue") => {
                self.pos += 1;
                Stmt::Continue
            }
            Tok::Kw("delete") => {
                self.pos += 1;
                let Tok::Name(n) = self.next() else {
                    return Err("delete: array name expected".to_string());
                };
                let idx = if self.eat_op("[") {
                    let mut v = vec![self.expr()?];
                    while self.eat_op(",") {
                        v.push(self.expr()?);
                    }
                    self.expect_op("]")?;
                    Some(v)
                } else {
                    None
                };
                Stmt::Delete(n, idx)
            }
            Tok::Kw("getline") => {
                self.pos += 1;
                let target = if matches!(self.peek(), Tok::Name(_) | Tok::Op("$")) {
                    Some(self.primary()?)
                } else {
                    None
                };
                Stmt::Getline(target)
            }
            _ => Stmt::Expr(self.expr()?),
        };
        self.simple_end();
        Ok(s)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let e = self.ternary();
        self.depth -= 1;
        e
    }

    fn ternary(&mut self) -> Result<Expr, String> {
        let c = self.or()?;
        if self.eat_op("?") {
            self.skip_newlines_only();
            let a = self.expr()?;
            self.skip_newlines_only();
            self.expect_op(":")?;
            self.skip_newlines_only();
            let b = self.expr()?;
            return Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        if let Tok::Op(op @ ("=" | "+=" | "-=" | "*=" | "/=" | "%=" | "^=" | "**=")) =
            self.peek().clone()
            && matches!(c, Expr::Var(_) | Expr::Field(_) | Expr::Index(..))
        {
            self.pos += 1;
            self.skip_newlines_only();
            let rhs = self.expr()?;
            return Ok(Expr::Assign(Box::new(c), op, Box::new(rhs)));
        }
        Ok(c)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat_op("||") {
            self.skip_newlines_only();
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.in_expr()?;
        while self.eat_op("&&") {
            self.skip_newlines_only();
            l = Expr::And(Box::new(l), Box::new(self.in_expr()?));
        }
        Ok(l)
    }

    fn in_expr(&mut self) -> Result<Expr, String> {
        let mut l = self.matching()?;
        while !self.no_in && matches!(self.peek(), Tok::Kw("in")) {
            self.pos += 1;
            let Tok::Name(arr) = self.next() else {
                return Err("array name expected after in".to_string());
            };
            let keys = match l {
                Expr::Group(g) => vec![*g],
                other => vec![other],
            };
            l = Expr::In(keys, arr);
        }
        Ok(l)
    }

    fn matching(&mut self) -> Result<Expr, String> {
        let mut l = self.compare()?;
        loop {
            let neg = if self.eat_op("~") {
                false
            } else if self.eat_op("!~") {
                true
            } else {
                break;
            };
            let r = self.compare()?;
            l = Expr::Match(Box::new(l), Box::new(r), neg);
        }
        Ok(l)
    }

    fn compare(&mut self) -> Result<Expr, String> {
        let l = self.concat()?;
        let op = match self.peek() {
            Tok::Op(o @ ("<" | "<=" | "==" | "!=" | ">=")) => *o,
            Tok::Op(">") if !self.no_gt => ">",
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.concat()?;
        Ok(Expr::Bin(Box::new(l), op, Box::new(r)))
    }

    fn starts_operand(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Num(_)
                | Tok::Str(_)
                | Tok::Re(_)
                | Tok::Name(_)
                | Tok::Func(_)
                | Tok::Builtin(_)
                | Tok::Op("$" | "(" | "!" | "-" | "+" | "++" | "--")
        )
    }

    fn concat(&mut self) -> Result<Expr, String> {
        let mut l = self.additive()?;
        while self.starts_operand() && !matches!(self.peek(), Tok::Kw("in")) {
            // `a -1` is a subtraction, handled below; `a (b)` concatenates.
            if self.is_op("-") || self.is_op("+") {
                break;
            }
            let r = self.additive()?;
            l = Expr::Concat(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn primary_concat(&mut self) -> Result<Expr, String> {
        self.concat()
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut l = self.mult()?;
        while let Tok::Op(op @ ("+" | "-")) = *self.peek() {
            self.pos += 1;
            l = Expr::Bin(Box::new(l), op, Box::new(self.mult()?));
        }
        Ok(l)
    }

    fn mult(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while let Tok::Op(op @ ("*" | "/" | "%")) = *self.peek() {
            self.pos += 1;
            l = Expr::Bin(Box::new(l), op, Box::new(self.unary()?));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let r = if self.eat_op("!") {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else if self.eat_op("-") {
            self.unary().map(|e| Expr::Neg(Box::new(e)))
        } else if self.eat_op("+") {
            self.unary()
                .map(|e| Expr::Bin(Box::new(e), "+", Box::new(Expr::Num(0.0))))
        } else {
            self.power()
        };
        self.depth -= 1;
        r
    }

    fn power(&mut self) -> Result<Expr, String> {
        let base = self.postfix()?;
        if self.eat_op("^") || self.eat_op("**") {
            let exp = self.unary()?;
            return Ok(Expr::Bin(Box::new(base), "^", Box::new(exp)));
        }
        Ok(base)
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        if self.eat_op("++") {
            return Ok(Expr::Incr(Box::new(self.primary()?), 1.0, true));
        }
        if self.eat_op("--") {
            return Ok(Expr::Incr(Box::new(self.primary()?), -1.0, true));
        }
        let e = self.primary()?;
        if matches!(e, Expr::Var(_) | Expr::Field(_) | Expr::Index(..)) {
            if self.eat_op("++") {
                return Ok(Expr::Incr(Box::new(e), 1.0, false));
            }
            if self.eat_op("--") {
                return Ok(Expr::Incr(Box::new(e), -1.0, false));
            }
        }
        Ok(e)
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect_op("(")?;
        let mut v = Vec::new();
        self.skip_newlines_only();
        if !self.is_op(")") {
            v.push(self.expr()?);
            while self.eat_op(",") {
                self.skip_newlines_only();
                v.push(self.expr()?);
            }
        }
        self.expect_op(")")?;
        Ok(v)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.deeper()?;
        let r = self.primary_inner();
        self.depth -= 1;
        r
    }

    fn primary_inner(&mut self) -> Result<Expr, String> {
        match self.next() {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Re(r) => Ok(Expr::Re(r)),
            Tok::Op("$") => Ok(Expr::Field(Box::new(self.postfix_field()?))),
            Tok::Op("(") => {
                let saved = (self.no_in, self.no_gt);
                self.no_in = false;
                self.no_gt = false;
                let e = self.expr()?;
                if self.eat_op(",") {
                    // `(a, b) in arr`
                    let mut keys = vec![e];
                    keys.push(self.expr()?);
                    while self.eat_op(",") {
                        keys.push(self.expr()?);
                    }
                    self.expect_op(")")?;
                    (self.no_in, self.no_gt) = saved;
                    if !matches!(self.next(), Tok::Kw("in")) {
                        return Err("syntax error: expected in".to_string());
                    }
                    let Tok::Name(arr) = self.next() else {
                        return Err("array name expected".to_string());
                    };
                    return Ok(Expr::In(keys, arr));
                }
                self.expect_op(")")?;
                (self.no_in, self.no_gt) = saved;
                Ok(Expr::Group(Box::new(e)))
            }
            Tok::Name(n) => {
                if self.eat_op("[") {
                    let mut idx = vec![self.expr()?];
                    while self.eat_op(",") {
                        idx.push(self.expr()?);
                    }
                    self.expect_op("]")?;
                    return Ok(Expr::Index(n, idx));
                }
                Ok(Expr::Var(n))
            }
            Tok::Func(f) => Ok(Expr::Call(f.clone(), self.args()?)),
            Tok::Builtin(b) => {
                if b == "length" && !self.is_op("(") {
                    return Ok(Expr::Builtin(b, Vec::new()));
                }
                Ok(Expr::Builtin(b.clone(), self.args()?))
            }
            other => {
                self.pos -= 1;
                let _ = other;
                Err(format!("syntax error at or near {}", self.describe()))
            }
        }
    }

    fn postfix_field(&mut self) -> Result<Expr, String> {
        if self.eat_op("++") {
            return Ok(Expr::Incr(Box::new(self.primary()?), 1.0, true));
        }
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.primary()?)));
        }
        self.primary()
    }
}

// ----------------------------------------------------------------------
// Values and the interpreter
// ----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Val {
    Num(f64),
    Str(String),
    /// Input (fields, getline): a number if it looks like one.
    StrNum(String),
}

fn looks_numeric(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>()
        .ok()
        .filter(|_| !t.contains(['x', 'X', 'n', 'N', 'i', 'I']))
}

fn str_to_num(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
        end += 1;
    }
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let save = end;
        end += 1;
        if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
            end += 1;
        }
        if end < b.len() && b[end].is_ascii_digit() {
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
        } else {
            end = save;
        }
    }
    t[..end].parse().unwrap_or(0.0)
}

fn num_to_str(n: f64, fmt: &str) -> String {
    if n.is_finite() && n == n.trunc() && n.abs() < 1e16 {
        format!("{}", n as i64)
    } else if n.is_nan() {
        "nan".to_string()
    } else if n.is_infinite() {
        if n > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        }
    } else {
        c_format_g(n, fmt)
    }
}

fn c_format_g(n: f64, fmt: &str) -> String {
    let p: usize = fmt
        .trim_start_matches('%')
        .trim_start_matches('.')
        .trim_end_matches('g')
        .parse()
        .unwrap_or(6)
        .max(1);
    let exp = if n == 0.0 {
        0
    } else {
        n.abs().log10().floor() as i32
    };
    if exp < -4 || exp >= p as i32 {
        let s = format!("{:.*e}", p - 1, n);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let d = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{n:.d$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

impl Val {
    fn num(&self) -> f64 {
        match self {
            Val::Num(n) => *n,
            Val::Str(s) | Val::StrNum(s) => str_to_num(s),
        }
    }

    fn string(&self, fmt: &str) -> String {
        match self {
            Val::Num(n) => num_to_str(*n, fmt),
            Val::Str(s) | Val::StrNum(s) => s.clone(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::StrNum(s) => match looks_numeric(s) {
                Some(n) => n != 0.0,
                None => !s.is_empty(),
            },
        }
    }
}

enum Flow {
    Next,
    Exit(i32),
    Return(Val),
    Break,
    Continue,
    Abort(Abort),
    Error(String),
}

impl From<Abort> for Flow {
    fn from(a: Abort) -> Self {
        Flow::Abort(a)
    }
}

struct Interp<'a> {
    ctx: &'a Ctx,
    prog: &'a Program,
    globals: HashMap<String, Val>,
    arrays: HashMap<String, HashMap<String, Val>>,
    locals: Vec<HashMap<String, Val>>,
    local_arrays: Vec<HashMap<String, HashMap<String, Val>>>,
    fields: Vec<String>,
    record: String,
    nf: usize,
    out: Vec<u8>,
    files: HashMap<String, crate::shell::io::Fd>,
    regex_cache: HashMap<String, Regex>,
    charge: Charge,
    held: u64,
    steps: u64,
    depth: usize,
    rand_state: u64,
    input: Option<LineReader>,
}

type R<T> = Result<T, Flow>;

impl Interp<'_> {
    fn var_str(&self, name: &str) -> String {
        self.get_var(name).string(&self.ofmt())
    }

    fn ofmt(&self) -> String {
        match self.globals.get("CONVFMT") {
            Some(v) => v.string("%.6g"),
            None => "%.6g".to_string(),
        }
    }

    fn get_var(&self, name: &str) -> Val {
        if let Some(frame) = self.locals.last()
            && let Some(v) = frame.get(name)
        {
            return v.clone();
        }
        match name {
            "NF" => Val::Num(self.nf as f64),
            _ => self
                .globals
                .get(name)
                .cloned()
                .unwrap_or(Val::Str(String::new())),
        }
    }

    fn set_var(&mut self, name: &str, v: Val) -> R<()> {
        if let Some(frame) = self.locals.last_mut()
            && frame.contains_key(name)
        {
            frame.insert(name.to_string(), v);
            return Ok(());
        }
        if name == "NF" {
            let n = v.num().max(0.0) as usize;
            self.fields.resize(n, String::new());
            self.nf = n;
            self.rebuild_record();
            return Ok(());
        }
        if let Val::Str(s) | Val::StrNum(s) = &v {
            self.account(s.len() as u64)?;
        }
        self.globals.insert(name.to_string(), v);
        Ok(())
    }

    fn account(&mut self, bytes: u64) -> R<()> {
        self.held = self.held.saturating_add(bytes);
        // Charge as memory grows (a rough upper bound: what was stored).
        if self.held > self.charge.bytes() + 64 * 1024 || self.held > self.charge.bytes() * 2 {
            self.charge
                .resize(self.held)
                .map_err(|_| Flow::Abort(Abort::Oom))?;
        }
        Ok(())
    }

    fn array(&mut self, name: &str) -> &mut HashMap<String, Val> {
        if let Some(frame) = self.local_arrays.last_mut()
            && frame.contains_key(name)
        {
            return frame.entry(name.to_string()).or_default();
        }
        self.arrays.entry(name.to_string()).or_default()
    }

    fn key(&mut self, idx: &[Expr]) -> R<String> {
        let subsep = self
            .globals
            .get("SUBSEP")
            .map_or("\x1c".to_string(), |v| v.string("%.6g"));
        let mut parts = Vec::new();
        for e in idx {
            let v = self.eval(e)?;
            parts.push(v.string(&self.ofmt()));
        }
        Ok(parts.join(&subsep))
    }

    fn split_record(&mut self) {
        let fs = self.var_str("FS");
        self.fields = split_fields(&self.record, &fs, &mut self.regex_cache);
        self.nf = self.fields.len();
    }

    fn rebuild_record(&mut self) {
        let ofs = self.var_str("OFS");
        self.record = self.fields.join(&ofs);
    }

    fn field(&mut self, i: usize) -> Val {
        if i == 0 {
            return Val::StrNum(self.record.clone());
        }
        Val::StrNum(self.fields.get(i - 1).cloned().unwrap_or_default())
    }

    fn set_field(&mut self, i: usize, v: String) -> R<()> {
        self.account(v.len() as u64)?;
        if i == 0 {
            self.record = v;
            self.split_record();
            return Ok(());
        }
        if i > 100_000 {
            return Err(Flow::Error(format!("field index {i} too large")));
        }
        if self.fields.len() < i {
            self.fields.resize(i, String::new());
        }
        self.fields[i - 1] = v;
        self.nf = self.fields.len();
        self.rebuild_record();
        Ok(())
    }

    fn regex(&mut self, re: &str) -> R<Regex> {
        if let Some(r) = self.regex_cache.get(re) {
            return Ok(r.clone());
        }
        let r = Regex::new(&super::text::ere_to_rust(re))
            .map_err(|_| Flow::Error(format!("bad regex '{re}'")))?;
        if self.regex_cache.len() < 1000 {
            self.regex_cache.insert(re.to_string(), r.clone());
        }
        Ok(r)
    }

    fn tick(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps.is_multiple_of(4096) {
            self.ctx.check()?;
        }
        Ok(())
    }

    fn lvalue_get(&mut self, e: &Expr) -> R<Val> {
        self.eval(e)
    }

    fn assign(&mut self, target: &Expr, v: Val) -> R<()> {
        match target {
            Expr::Var(n) => self.set_var(n, v),
            Expr::Field(i) => {
                let i = self.eval(i)?.num().max(0.0) as usize;
                let s = v.string(&self.ofmt());
                self.set_field(i, s)
            }
            Expr::Index(n, idx) => {
                let k = self.key(idx)?;
                if let Val::Str(s) | Val::StrNum(s) = &v {
                    self.account(s.len() as u64 + k.len() as u64)?;
                } else {
                    self.account(k.len() as u64 + 16)?;
                }
                self.array(n).insert(k, v);
                Ok(())
            }
            Expr::Group(g) => self.assign(g, v),
            _ => Err(Flow::Error("assignment to non-variable".to_string())),
        }
    }

    fn eval(&mut self, e: &Expr) -> R<Val> {
        self.tick()?;
        Ok(match e {
            Expr::Num(n) => Val::Num(*n),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Re(r) => {
                let re = self.regex(r)?;
                Val::Num(f64::from(u8::from(re.is_match(&self.record))))
            }
            Expr::Var(n) => self.get_var(n),
            Expr::Field(i) => {
                let i = self.eval(i)?.num();
                if i < 0.0 {
                    return Err(Flow::Error(format!(
                        "trying to access out of range field {}",
                        i as i64
                    )));
                }
                self.field(i as usize)
            }
            Expr::Index(n, idx) => {
                let k = self.key(idx)?;
                let arr = self.array(n);
                arr.entry(k)
                    .or_insert_with(|| Val::Str(String::new()))
                    .clone()
            }
            Expr::Group(g) => self.eval(g)?,
            Expr::Assign(t, op, rhs) => {
                let r = self.eval(rhs)?;
                let v = if *op == "=" {
                    r
                } else {
                    let cur = self.lvalue_get(t)?.num();
                    let b = r.num();
                    Val::Num(match *op {
                        "+=" => cur + b,
                        "-=" => cur - b,
                        "*=" => cur * b,
                        "/=" => {
                            if b == 0.0 {
                                return Err(Flow::Error("division by zero in /=".to_string()));
                            }
                            cur / b
                        }
                        "%=" => {
                            if b == 0.0 {
                                return Err(Flow::Error("division by zero in %=".to_string()));
                            }
                            cur % b
                        }
                        _ => cur.powf(b),
                    })
                };
                self.assign(t, v.clone())?;
                v
            }
            Expr::Cond(c, a, b) => {
                if self.eval(c)?.truthy() {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            Expr::And(a, b) => Val::Num(f64::from(u8::from(
                self.eval(a)?.truthy() && self.eval(b)?.truthy(),
            ))),
            Expr::Or(a, b) => Val::Num(f64::from(u8::from(
                self.eval(a)?.truthy() || self.eval(b)?.truthy(),
            ))),
            Expr::In(keys, arr) => {
                let k = self.key(keys)?;
                Val::Num(f64::from(u8::from(self.array(arr).contains_key(&k))))
            }
            Expr::Match(l, r, neg) => {
                let s = self.eval(l)?.string(&self.ofmt());
                let re = match r.as_ref() {
                    Expr::Re(p) => self.regex(p)?,
                    other => {
                        let p = self.eval(other)?.string(&self.ofmt());
                        self.regex(&p)?
                    }
                };
                Val::Num(f64::from(u8::from(re.is_match(&s) != *neg)))
            }
            Expr::Bin(a, op, b) => {
                let x = self.eval(a)?;
                let y = self.eval(b)?;
                match *op {
                    "<" | "<=" | ">" | ">=" | "==" | "!=" => {
                        let ord = compare(&x, &y, &self.ofmt());
                        Val::Num(f64::from(u8::from(match *op {
                            "<" => ord.is_lt(),
                            "<=" => ord.is_le(),
                            ">" => ord.is_gt(),
                            ">=" => ord.is_ge(),
                            "==" => ord.is_eq(),
                            _ => !ord.is_eq(),
                        })))
                    }
                    _ => {
                        let (p, q) = (x.num(), y.num());
                        Val::Num(match *op {
                            "+" => p + q,
                            "-" => p - q,
                            "*" => p * q,
                            "/" => {
                                if q == 0.0 {
                                    return Err(Flow::Error("division by zero".to_string()));
                                }
                                p / q
                            }
                            "%" => {
                                if q == 0.0 {
                                    return Err(Flow::Error("division by zero in %".to_string()));
                                }
                                p % q
                            }
                            _ => p.powf(q),
                        })
                    }
                }
            }
            Expr::Concat(a, b) => {
                let fmt = self.ofmt();
                let s = self.eval(a)?.string(&fmt) + &self.eval(b)?.string(&fmt);
                self.account(s.len() as u64)?;
                Val::Str(s)
            }
            Expr::Not(a) => Val::Num(f64::from(u8::from(!self.eval(a)?.truthy()))),
            Expr::Neg(a) => Val::Num(-self.eval(a)?.num()),
            Expr::Incr(t, d, pre) => {
                let old = self.eval(t)?.num();
                self.assign(t, Val::Num(old + d))?;
                Val::Num(if *pre { old + d } else { old })
            }
            Expr::Call(name, args) => self.call(name, args)?,
            Expr::Builtin(name, args) => self.builtin(name, args)?,
        })
    }

    fn call(&mut self, name: &str, args: &[Expr]) -> R<Val> {
        let Some((params, body)) = self.prog.funcs.get(name) else {
            return Err(Flow::Error(format!("calling undefined function {name}")));
        };
        if self.depth > 200 {
            return Err(Flow::Error("function call nesting too deep".to_string()));
        }
        let mut frame = HashMap::new();
        let mut arrays = HashMap::new();
        for (i, p) in params.iter().enumerate() {
            match args.get(i) {
                // Arrays are passed by reference: a copy here, written back.
                Some(Expr::Var(n)) if self.arrays.contains_key(n) => {
                    arrays.insert(p.clone(), self.arrays.get(n).cloned().unwrap_or_default());
                }
                Some(a) => {
                    let v = self.eval(a)?;
                    frame.insert(p.clone(), v);
                }
                None => {
                    frame.insert(p.clone(), Val::Str(String::new()));
                    arrays.insert(p.clone(), HashMap::new());
                }
            }
        }
        self.locals.push(frame);
        self.local_arrays.push(arrays);
        self.depth += 1;
        let r = self.run_block(body);
        self.depth -= 1;
        self.locals.pop();
        let arrays = self.local_arrays.pop().unwrap_or_default();
        for (i, p) in params.iter().enumerate() {
            if let Some(Expr::Var(n)) = args.get(i)
                && let Some(a) = arrays.get(p)
                && self.arrays.contains_key(n)
            {
                self.arrays.insert(n.clone(), a.clone());
            }
        }
        match r {
            Ok(()) => Ok(Val::Str(String::new())),
            Err(Flow::Return(v)) => Ok(v),
            Err(f) => Err(f),
        }
    }

    // Long: one arm per awk builtin function.
    fn builtin(&mut self, name: &str, args: &[Expr]) -> R<Val> {
        let fmt = self.ofmt();
        let arg = |s: &mut Self, i: usize| -> R<Val> {
            match args.get(i) {
                Some(e) => s.eval(e),
                None => Ok(Val::Str(String::new())),
            }
        };
        Ok(match name {
            "length" => {
                if let Some(Expr::Var(n)) = args.first()
                    && self.arrays.contains_key(n)
                {
                    return Ok(Val::Num(self.array(n).len() as f64));
                }
                let s = if args.is_empty() {
                    self.record.clone()
                } else {
                    arg(self, 0)?.string(&fmt)
                };
                Val::Num(s.chars().count() as f64)
            }
            "substr" => {
                let s: Vec<char> = arg(self, 0)?.string(&fmt).chars().collect();
                let m = arg(self, 1)?.num().round();
                let n = if args.len() > 2 {
                    arg(self, 2)?.num().round()
                } else {
                    f64::INFINITY
                };
                let start = m.max(1.0);
                let end = (m + n).min(s.len() as f64 + 1.0);
                if end <= start {
                    Val::Str(String::new())
                } else {
                    Val::Str(s[(start as usize - 1)..(end as usize - 1)].iter().collect())
                }
            }
            "index" => {
                let s = arg(self, 0)?.string(&fmt);
                let t = arg(self, 1)?.string(&fmt);
                Val::Num(s.find(&t).map_or(0, |i| s[..i].chars().count() + 1) as f64)
            }
            "split" => {
                let s = arg(self, 0)?.string(&fmt);
                let Some(Expr::Var(arr)) = args.get(1) else {
                    return Err(Flow::Error(
                        "split: second argument must be an array".to_string(),
                    ));
                };
                let sep = if args.len() > 2 {
                    match &args[2] {
                        Expr::Re(r) => r.clone(),
                        e => self.eval(e)?.string(&fmt),
                    }
                } else {
                    self.var_str("FS")
                };
                let parts = split_fields(&s, &sep, &mut self.regex_cache);
                self.account(s.len() as u64 + parts.len() as u64 * 16)?;
                let a = self.array(arr);
                a.clear();
                for (i, p) in parts.iter().enumerate() {
                    a.insert((i + 1).to_string(), Val::StrNum(p.clone()));
                }
                Val::Num(parts.len() as f64)
            }
            "sub" | "gsub" => {
                let re = match args.first() {
                    Some(Expr::Re(r)) => self.regex(r)?,
                    Some(e) => {
                        let p = self.eval(e)?.string(&fmt);
                        self.regex(&p)?
                    }
                    None => return Err(Flow::Error(format!("{name}: missing regex"))),
                };
                let rep = arg(self, 1)?.string(&fmt);
                let target = args
                    .get(2)
                    .cloned()
                    .unwrap_or(Expr::Field(Box::new(Expr::Num(0.0))));
                let s = self.eval(&target)?.string(&fmt);
                let mut out = String::new();
                let mut last = 0;
                let mut count = 0;
                for m in re.find_iter(&s) {
                    out.push_str(&s[last..m.start()]);
                    let mut chars = rep.chars().peekable();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' if chars.peek() == Some(&'&') => {
                                chars.next();
                                out.push('&');
                            }
                            '\\' if chars.peek() == Some(&'\\') => {
                                chars.next();
                                out.push('\\');
                            }
                            '&' => out.push_str(m.as_str()),
                            c => out.push(c),
                        }
                    }
                    last = m.end();
                    count += 1;
                    if name == "sub" {
                        break;
                    }
                }
                if count > 0 {
                    out.push_str(&s[last..]);
                    self.assign(&target, Val::Str(out))?;
                }
                Val::Num(f64::from(count))
            }
            "match" => {
                let s = arg(self, 0)?.string(&fmt);
                let re = match args.get(1) {
                    Some(Expr::Re(r)) => self.regex(r)?,
                    Some(e) => {
                        let p = self.eval(e)?.string(&fmt);
                        self.regex(&p)?
                    }
                    None => return Err(Flow::Error("match: missing regex".to_string())),
                };
                let (start, len) = match re.find(&s) {
                    Some(m) => (
                        s[..m.start()].chars().count() as f64 + 1.0,
                        m.as_str().chars().count() as f64,
                    ),
                    None => (0.0, -1.0),
                };
                self.globals.insert("RSTART".into(), Val::Num(start));
                self.globals.insert("RLENGTH".into(), Val::Num(len));
                Val::Num(start)
            }
            "sprintf" => {
                let mut vals = Vec::new();
                for e in args {
                    vals.push(self.eval(e)?);
                }
                Val::Str(self.sprintf(&vals))
            }
            "tolower" => Val::Str(arg(self, 0)?.string(&fmt).to_lowercase()),
            "toupper" => Val::Str(arg(self, 0)?.string(&fmt).to_uppercase()),
            "int" => Val::Num(arg(self, 0)?.num().trunc()),
            "sqrt" => Val::Num(arg(self, 0)?.num().sqrt()),
            "exp" => Val::Num(arg(self, 0)?.num().exp()),
            "log" => Val::Num(arg(self, 0)?.num().ln()),
            "sin" => Val::Num(arg(self, 0)?.num().sin()),
            "cos" => Val::Num(arg(self, 0)?.num().cos()),
            "atan2" => {
                let y = arg(self, 0)?.num();
                Val::Num(y.atan2(arg(self, 1)?.num()))
            }
            "rand" => {
                self.rand_state = self
                    .rand_state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                Val::Num((self.rand_state >> 11) as f64 / (1u64 << 53) as f64)
            }
            "srand" => {
                let old = self.rand_state;
                self.rand_state = if args.is_empty() {
                    jiff::Timestamp::now().as_second() as u64
                } else {
                    arg(self, 0)?.num() as u64
                };
                Val::Num(old as f64)
            }
            "system" => {
                let cmd = arg(self, 0)?.string(&fmt);
                self.flush()?;
                let st = self
                    .ctx
                    .run_child(&["sh".to_string(), "-c".to_string(), cmd], None)?;
                Val::Num(f64::from(st.code()))
            }
            "close" => {
                let f = arg(self, 0)?.string(&fmt);
                Val::Num(if self.files.remove(&f).is_some() {
                    0.0
                } else {
                    -1.0
                })
            }
            _ => Val::Str(String::new()),
        })
    }

    fn sprintf(&self, vals: &[Val]) -> String {
        let fmt = self.ofmt();
        let Some(f) = vals.first() else {
            return String::new();
        };
        let format = f.string(&fmt);
        let args: Vec<String> = vals[1..]
            .iter()
            .map(|v| match v {
                Val::Num(n) => {
                    if n.fract() == 0.0 && n.abs() < 1e18 {
                        format!("{}", *n as i64)
                    } else {
                        format!("{n}")
                    }
                }
                other => other.string(&fmt),
            })
            .collect();
        let mut bad = false;
        match super::text::format_printf(self.ctx, &format, &args, &mut bad) {
            // awk does not reuse the format for leftover arguments.
            Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(()) => String::new(),
        }
    }

    fn write_out(&mut self, text: &[u8], redir: &Option<(bool, Expr)>) -> R<()> {
        match redir {
            None => {
                self.out.extend_from_slice(text);
                if self.out.len() > 32 * 1024 {
                    self.flush()?;
                }
                Ok(())
            }
            Some((append, target)) => {
                let name = self.eval(target)?.string(&self.ofmt());
                if !self.files.contains_key(&name) {
                    let fd = if name == "/dev/stdout" || name == "-" {
                        self.ctx.fds.get_or_null(1)
                    } else if name == "/dev/stderr" {
                        self.ctx.fds.get_or_null(2)
                    } else {
                        self.ctx
                            .vfs()
                            .open_write(&name, *append, false)
                            .map_err(|e| {
                                Flow::Error(format!(
                                    "can't redirect to {name}: {}",
                                    super::errno(&e)
                                ))
                            })?
                    };
                    self.files.insert(name.clone(), fd);
                }
                if let Some(fd) = self.files.get(&name) {
                    fd.write_all(text, &|| false)
                        .map_err(|e| Flow::Error(format!("write error: {}", super::errno(&e))))?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> R<()> {
        if !self.out.is_empty() {
            let data = std::mem::take(&mut self.out);
            self.ctx.out(&data)?;
        }
        Ok(())
    }

    fn run_block(&mut self, stmts: &[Stmt]) -> R<()> {
        for s in stmts {
            self.exec(s)?;
        }
        Ok(())
    }

    fn exec(&mut self, s: &Stmt) -> R<()> {
        self.tick()?;
        match s {
            Stmt::Expr(e) => {
                self.eval(e)?;
            }
            Stmt::Print(args, redir) => {
                let fmt = self.ofmt();
                let ofs = self.var_str("OFS");
                let ors = self.var_str("ORS");
                let text = if args.is_empty() {
                    self.record.clone()
                } else {
                    let mut parts = Vec::new();
                    for a in args {
                        let v = self.eval(a)?;
                        parts.push(match v {
                            Val::Num(n) => {
                                let ofmt = self
                                    .globals
                                    .get("OFMT")
                                    .map_or("%.6g".to_string(), |v| v.string("%.6g"));
                                let _ = &fmt;
                                num_to_str(n, &ofmt)
                            }
                            other => other.string(&fmt),
                        });
                    }
                    parts.join(&ofs)
                };
                self.write_out(format!("{text}{ors}").as_bytes(), redir)?;
            }
            Stmt::Printf(args, redir) => {
                let mut vals = Vec::new();
                for a in args {
                    vals.push(self.eval(a)?);
                }
                let text = self.sprintf(&vals);
                self.write_out(text.as_bytes(), redir)?;
            }
            Stmt::If(c, a, b) => {
                if self.eval(c)?.truthy() {
                    self.exec(a)?;
                } else if let Some(b) = b {
                    self.exec(b)?;
                }
            }
            Stmt::While(c, body) => {
                while self.eval(c)?.truthy() {
                    match self.exec(body) {
                        Err(Flow::Break) => break,
                        Err(Flow::Continue) | Ok(()) => {}
                        Err(f) => return Err(f),
                    }
                }
            }
            Stmt::Do(body, c) => loop {
                match self.exec(body) {
                    Err(Flow::Break) => break,
                    Err(Flow::Continue) | Ok(()) => {}
                    Err(f) => return Err(f),
                }
                if !self.eval(c)?.truthy() {
                    break;
                }
            },
            Stmt::For(init, cond, step, body) => {
                if let Some(i) = init {
                    self.exec(i)?;
                }
                loop {
                    if let Some(c) = cond
                        && !self.eval(c)?.truthy()
                    {
                        break;
                    }
                    match self.exec(body) {
                        Err(Flow::Break) => break,
                        Err(Flow::Continue) | Ok(()) => {}
                        Err(f) => return Err(f),
                    }
                    if let Some(s) = step {
                        self.exec(s)?;
                    }
                }
            }
            Stmt::ForIn(k, arr, body) => {
                let mut keys: Vec<String> = self.array(arr).keys().cloned().collect();
                keys.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.cmp(b),
                });
                for key in keys {
                    self.set_var(k, Val::StrNum(key))?;
                    match self.exec(body) {
                        Err(Flow::Break) => break,
                        Err(Flow::Continue) | Ok(()) => {}
                        Err(f) => return Err(f),
                    }
                }
            }
            Stmt::Block(b) => self.run_block(b)?,
            Stmt::Next => return Err(Flow::Next),
            Stmt::Exit(e) => {
                let code = match e {
                    Some(e) => self.eval(e)?.num() as i32,
                    None => 0,
                };
                return Err(Flow::Exit(code));
            }
            Stmt::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => Val::Str(String::new()),
                };
                return Err(Flow::Return(v));
            }
            Stmt::Break => return Err(Flow::Break),
            Stmt::Continue => return Err(Flow::Continue),
            Stmt::Delete(arr, idx) => match idx {
                Some(idx) => {
                    let k = self.key(idx)?;
                    self.array(arr).remove(&k);
                }
                None => self.array(arr).clear(),
            },
            Stmt::Getline(target) => {
                let line = match self.input.as_mut() {
                    Some(r) => r.next_line(self.ctx)?,
                    None => None,
                };
                if let Some(l) = line {
                    let t =
                        String::from_utf8_lossy(l.strip_suffix(b"\n").unwrap_or(&l)).into_owned();
                    let nr = self.get_var("NR").num() + 1.0;
                    self.globals.insert("NR".into(), Val::Num(nr));
                    match target {
                        Some(t_expr) => self.assign(t_expr, Val::StrNum(t))?,
                        None => {
                            self.record = t;
                            self.split_record();
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn compare(x: &Val, y: &Val, fmt: &str) -> std::cmp::Ordering {
    let numeric = |v: &Val| match v {
        Val::Num(n) => Some(*n),
        Val::StrNum(s) => looks_numeric(s),
        Val::Str(_) => None,
    };
    match (numeric(x), numeric(y)) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ => x.string(fmt).cmp(&y.string(fmt)),
    }
}

fn split_fields(record: &str, fs: &str, cache: &mut HashMap<String, Regex>) -> Vec<String> {
    if fs == " " {
        return record.split_whitespace().map(str::to_string).collect();
    }
    if record.is_empty() {
        return Vec::new();
    }
    if fs.chars().count() == 1 && fs != "\\" {
        return record.split(fs).map(str::to_string).collect();
    }
    if fs.is_empty() {
        return record.chars().map(String::from).collect();
    }
    let re = match cache.get(fs) {
        Some(r) => r.clone(),
        None => match Regex::new(&super::text::ere_to_rust(fs)) {
            Ok(r) => {
                cache.insert(fs.to_string(), r.clone());
                r
            }
            Err(_) => return vec![record.to_string()],
        },
    };
    re.split(record).map(str::to_string).collect()
}

// Long: awk's command line (-F, -v, -f, program, operands) and the
// interpreter's initial variables (FS, OFS, ENVIRON, ARGV...).
pub fn awk(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut fs = " ".to_string();
    let mut assigns: Vec<(String, String)> = Vec::new();
    let mut program: Option<String> = None;
    let mut operands = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        if a == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(f) = a.strip_prefix("-F") {
            let v = if f.is_empty() {
                i += 1;
                args.get(i - 1).cloned().unwrap_or_default()
            } else {
                f.to_string()
            };
            fs = if v == "t" || v == "\\t" {
                "\t".to_string()
            } else {
                v
            };
            continue;
        }
        if a == "-v" {
            if let Some((k, v)) = args.get(i).and_then(|s| s.split_once('=')) {
                assigns.push((k.to_string(), unescape(v)));
            }
            i += 1;
            continue;
        }
        if a == "-f" {
            let f = args.get(i).cloned().unwrap_or_default();
            i += 1;
            match ctx.vfs().read_all(&f, ctx.sys.procs.memory()) {
                Ok((d, _)) => program = Some(String::from_utf8_lossy(&d).into_owned()),
                Err(e) => {
                    ctx.fail(&format!("can't open '{f}': {}", super::errno(&e)));
                    return Ok(2);
                }
            }
            continue;
        }
        if program.is_none() && !(a.starts_with('-') && a.len() > 1) {
            program = Some(a.clone());
            continue;
        }
        if a.starts_with('-') && a.len() > 1 && program.is_none() {
            return ctx.bad_option(&a[1..2]);
        }
        operands.push(a.clone());
    }
    let Some(src) = program else {
        if ctx.gnu() {
            ctx.errs("Usage: awk [POSIX or GNU style options] -f progfile [--] file ...\nUsage: awk [POSIX or GNU style options] [--] 'program' file ...\n");
        } else {
            ctx.usage("awk [OPTIONS] [AWK_PROGRAM] [FILE]...");
        }
        return Ok(1);
    };
    let parsed = lex(&src).and_then(|toks| {
        P {
            toks,
            pos: 0,
            depth: 0,
            no_in: false,
            no_gt: false,
        }
        .program()
    });
    let prog = match parsed {
        Ok(p) => p,
        Err(e) => {
            if ctx.gnu() {
                ctx.errs(&format!("awk: cmd. line:1: {e}\n"));
            } else {
                ctx.fail(&format!("cmd. line:1: {e}"));
            }
            return Ok(2);
        }
    };
    let mut it = Interp {
        ctx,
        prog: &prog,
        globals: HashMap::new(),
        arrays: HashMap::new(),
        locals: Vec::new(),
        local_arrays: Vec::new(),
        fields: Vec::new(),
        record: String::new(),
        nf: 0,
        out: Vec::new(),
        files: HashMap::new(),
        regex_cache: HashMap::new(),
        charge: Charge::new(ctx.sys.procs.memory()),
        held: 0,
        steps: 0,
        depth: 0,
        rand_state: 1,
        input: None,
    };
    for (k, v) in [
        ("FS", fs.as_str()),
        ("OFS", " "),
        ("ORS", "\n"),
        ("RS", "\n"),
        ("SUBSEP", "\x1c"),
        ("OFMT", "%.6g"),
        ("CONVFMT", "%.6g"),
    ] {
        it.globals.insert(k.to_string(), Val::Str(v.to_string()));
    }
    it.globals.insert("NR".into(), Val::Num(0.0));
    it.globals.insert("FNR".into(), Val::Num(0.0));
    let env: HashMap<String, Val> = ctx
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Val::StrNum(v.clone())))
        .collect();
    it.arrays.insert("ENVIRON".into(), env);
    let argv: HashMap<String, Val> = std::iter::once("awk".to_string())
        .chain(operands.iter().cloned())
        .enumerate()
        .map(|(i, a)| (i.to_string(), Val::Str(a)))
        .collect();
    it.arrays.insert("ARGV".into(), argv);
    it.globals
        .insert("ARGC".into(), Val::Num((operands.len() + 1) as f64));
    for (k, v) in assigns {
        it.globals.insert(k, Val::StrNum(v));
    }
    let code = match run(&mut it, &prog, &operands) {
        Ok(c) => c,
        Err(Flow::Abort(a)) => return Err(a),
        Err(Flow::Error(e)) => {
            let _ = it.flush();
            ctx.fail(&format!("cmd. line:1: {e}"));
            2
        }
        Err(_) => 0,
    };
    match it.flush() {
        Ok(()) => {}
        Err(Flow::Abort(a)) => return Err(a),
        Err(_) => {}
    }
    Ok(code)
}

fn unescape(v: &str) -> String {
    let (b, _) = super::text::backslash_escapes(v, false);
    String::from_utf8_lossy(&b).into_owned()
}

fn run(it: &mut Interp<'_>, prog: &Program, operands: &[String]) -> R<i32> {
    let mut exit_code = None;
    for (pat, action) in &prog.rules {
        if let (Pattern::Begin, Some(a)) = (pat, action) {
            match it.run_block(a) {
                Ok(()) | Err(Flow::Next) => {}
                Err(Flow::Exit(c)) => {
                    exit_code = Some(c);
                    break;
                }
                Err(f) => return Err(f),
            }
        }
    }
    let has_main = prog.rules.iter().any(|(p, _)| !matches!(p, Pattern::Begin));
    let mut in_range = vec![false; prog.rules.len()];
    if exit_code.is_none() && has_main {
        let mut files: Vec<String> = Vec::new();
        for o in operands {
            if let Some((k, v)) = o
                .split_once('=')
                .filter(|(k, _)| crate::shell::ast::is_name(k))
            {
                files.push(format!("\0{k}\0{v}"));
            } else {
                files.push(o.clone());
            }
        }
        if !files.iter().any(|f| !f.starts_with('\0')) {
            files.push("-".to_string());
        }
        'files: for f in files {
            if let Some(rest) = f.strip_prefix('\0') {
                if let Some((k, v)) = rest.split_once('\0') {
                    it.globals.insert(k.to_string(), Val::StrNum(unescape(v)));
                }
                continue;
            }
            let fd = match it.ctx.open_input(&f) {
                Ok(fd) => fd,
                Err(e) => {
                    it.ctx
                        .fail(&format!("cannot open \"{f}\" (No such file or directory)"));
                    let _ = e;
                    exit_code = Some(2);
                    continue;
                }
            };
            it.globals.insert(
                "FILENAME".into(),
                Val::Str(if f == "-" { String::new() } else { f.clone() }),
            );
            it.globals.insert("FNR".into(), Val::Num(0.0));
            it.input = Some(LineReader::new(fd));
            loop {
                let rs = it.var_str("RS");
                let Some(line) = read_record(it, &rs)? else {
                    break;
                };
                it.record = line;
                let nr = it.get_var("NR").num() + 1.0;
                it.globals.insert("NR".into(), Val::Num(nr));
                let fnr = it.get_var("FNR").num() + 1.0;
                it.globals.insert("FNR".into(), Val::Num(fnr));
                it.split_record();
                for (ri, (pat, action)) in prog.rules.iter().enumerate() {
                    let hit = match pat {
                        Pattern::Begin | Pattern::End => false,
                        Pattern::All => true,
                        Pattern::Expr(e) => it.eval(e)?.truthy(),
                        Pattern::Range(a, b) => {
                            if in_range[ri] {
                                if it.eval(b)?.truthy() {
                                    in_range[ri] = false;
                                }
                                true
                            } else if it.eval(a)?.truthy() {
                                in_range[ri] = !it.eval(b)?.truthy();
                                true
                            } else {
                                false
                            }
                        }
                    };
                    if !hit {
                        continue;
                    }
                    let r = match action {
                        Some(a) => it.run_block(a),
                        None => {
                            let rec = format!("{}{}", it.record, it.var_str("ORS"));
                            it.write_out(rec.as_bytes(), &None)
                        }
                    };
                    match r {
                        Ok(()) => {}
                        Err(Flow::Next) => break,
                        Err(Flow::Exit(c)) => {
                            exit_code = Some(c);
                            break 'files;
                        }
                        Err(f) => return Err(f),
                    }
                }
            }
        }
    }
    for (pat, action) in &prog.rules {
        if let (Pattern::End, Some(a)) = (pat, action) {
            match it.run_block(a) {
                Ok(()) | Err(Flow::Next) => {}
                Err(Flow::Exit(c)) => return Ok(c),
                Err(f) => return Err(f),
            }
        }
    }
    Ok(exit_code.unwrap_or(0))
}

/// The next record: a line (RS newline), or a paragraph (RS empty).
fn read_record(it: &mut Interp<'_>, rs: &str) -> R<Option<String>> {
    let ctx = it.ctx;
    let Some(r) = it.input.as_mut() else {
        return Ok(None);
    };
    if rs.is_empty() {
        let mut para = String::new();
        while let Some(l) = r.next_line(ctx)? {
            let t = String::from_utf8_lossy(l.strip_suffix(b"\n").unwrap_or(&l)).into_owned();
            if t.is_empty() {
                if para.is_empty() {
                    continue;
                }
                break;
            }
            if !para.is_empty() {
                para.push('\n');
            }
            para.push_str(&t);
        }
        return Ok(if para.is_empty() { None } else { Some(para) });
    }
    Ok(r.next_line(ctx)?
        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\n").unwrap_or(&l)).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_programs() {
        for src in [
            "{print $1}",
            "BEGIN {FS=\":\"} {print $1, $3}",
            "{s+=$1} END {print s}",
            "NR==2",
            "/err/ {n++} END {print n+0}",
            "{a[$1]++} END {for (k in a) print k, a[k]}",
            "function f(x) { return x*2 } {print f($1)}",
            "{printf \"%s-%d\\n\", $1, NR}",
            "BEGIN { while (i < 3) { i++; print i } }",
            "length($0) > 3 { print toupper($0) }",
            "{ $2 = \"x\"; print }",
            "{ if ($1 > 1) print \"big\"; else print \"small\" }",
            "NR % 2 == 0",
            "{ print $NF }",
            "{ sub(/a/, \"b\"); print }",
            "BEGIN { print 1 > \"/dev/stderr\" }",
            "{ print ($1 > 2) }",
        ] {
            let toks = lex(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            P {
                toks,
                pos: 0,
                depth: 0,
                no_in: false,
                no_gt: false,
            }
            .program()
            .unwrap_or_else(|e| panic!("{src}: {e}"));
        }
        assert_eq!(num_to_str(0.1 + 0.2, "%.6g"), "0.3");
        assert_eq!(num_to_str(3.0, "%.6g"), "3");
        assert_eq!(str_to_num("12abc"), 12.0);
    }
}
