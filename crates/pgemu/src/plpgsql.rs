//! The PL/pgSQL of `DO` blocks, as far as setup scripts use it: a
//! `BEGIN ... EXCEPTION WHEN ... THEN ... END` block of SQL statements,
//! `IF [NOT] EXISTS (...) THEN ... END IF`, `RAISE NOTICE|WARNING|EXCEPTION`,
//! `PERFORM`, `NULL`. A handled exception undoes the block's changes, as
//! PostgreSQL's subtransaction does.

use super::engine::{DbError, Engine, Notice, Session};
use super::sql::{self, Expr, Kind, SyntaxError, Tok};
use super::value::Value;

#[derive(Debug, Clone)]
pub struct Block {
    stmts: Vec<PlStmt>,
    handlers: Vec<Handler>,
}

#[derive(Debug, Clone)]
struct Handler {
    /// SQLSTATEs or class prefixes; `others` matches everything.
    conditions: Vec<String>,
    stmts: Vec<PlStmt>,
}

#[derive(Debug, Clone)]
enum PlStmt {
    Sql(String),
    Raise {
        level: String,
        format: String,
        args: Vec<Expr>,
    },
    If {
        branches: Vec<(Expr, Vec<PlStmt>)>,
        otherwise: Option<Vec<PlStmt>>,
    },
    Block(Block),
    Return,
    Null,
}

/// Nesting allowed for blocks and IFs.
const MAX_NESTING: usize = 32;

struct P {
    chars: Vec<char>,
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Parses the body of a `DO` block.
pub fn parse(body: &str) -> Result<Block, DbError> {
    let toks = sql::lex(body).map_err(DbError::from)?;
    let mut p = P {
        chars: body.chars().collect(),
        toks,
        pos: 0,
        depth: 0,
    };
    let block = p.block()?;
    p.eat_op(";");
    if !p.at_end() {
        return Err(p.error());
    }
    Ok(block)
}

impl P {
    fn peek(&self) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.min(last)]
    }

    fn at_end(&self) -> bool {
        matches!(self.peek().kind, Kind::End)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, Kind::Ident(w) if w == kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek().kind, Kind::Op(o) if o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error(&self) -> DbError {
        let t = self.peek();
        let msg = if matches!(t.kind, Kind::End) {
            "syntax error at end of input".to_string()
        } else {
            format!("syntax error at or near \"{}\"", t.text)
        };
        DbError::new("42601", msg)
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), DbError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn block(&mut self) -> Result<Block, DbError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(DbError::new("54001", "stack depth limit exceeded"));
        }
        if self.is_kw("declare") {
            let pos = self.peek().pos;
            return Err(SyntaxError::unsupported("DECLARE in DO blocks", pos).into());
        }
        self.expect_kw("begin")?;
        let stmts = self.stmts(&["exception", "end"])?;
        let mut handlers = Vec::new();
        if self.eat_kw("exception") {
            while self.eat_kw("when") {
                let mut conditions = Vec::new();
                loop {
                    if self.eat_kw("sqlstate") {
                        match &self.peek().kind {
                            Kind::Str(s) => conditions.push(s.clone()),
                            _ => return Err(self.error()),
                        }
                        self.pos += 1;
                    } else {
                        let name = match &self.peek().kind {
                            Kind::Ident(w) => w.clone(),
                            _ => return Err(self.error()),
                        };
                        self.pos += 1;
                        let Some(code) = condition_code(&name) else {
                            return Err(DbError::new(
                                "42704",
                                format!("unrecognized exception condition \"{name}\""),
                            ));
                        };
                        conditions.push(code.to_string());
                    }
                    if !self.eat_kw("or") {
                        break;
                    }
                }
                self.expect_kw("then")?;
                let stmts = self.stmts(&["when", "end"])?;
                handlers.push(Handler { conditions, stmts });
            }
        }
        self.expect_kw("end")?;
        self.depth -= 1;
        Ok(Block { stmts, handlers })
    }

    fn stmts(&mut self, stops: &[&str]) -> Result<Vec<PlStmt>, DbError> {
        let mut out = Vec::new();
        loop {
            if self.at_end() {
                return Err(self.error());
            }
            if stops.iter().any(|s| self.is_kw(s)) {
                return Ok(out);
            }
            out.push(self.stmt()?);
        }
    }

    fn stmt(&mut self) -> Result<PlStmt, DbError> {
        if self.is_kw("begin") || self.is_kw("declare") {
            let b = self.block()?;
            self.expect_semicolon()?;
            return Ok(PlStmt::Block(b));
        }
        if self.eat_kw("if") {
            return self.if_stmt();
        }
        if self.eat_kw("raise") {
            return self.raise();
        }
        if self.is_kw("null")
            && matches!(
                self.toks.get(self.pos + 1).map(|t| &t.kind),
                Some(Kind::Op(";"))
            )
        {
            self.pos += 2;
            return Ok(PlStmt::Null);
        }
        if self.eat_kw("return") {
            self.expect_semicolon()?;
            return Ok(PlStmt::Return);
        }
        let perform = self.eat_kw("perform");
        let text = self.until_semicolon()?;
        self.expect_semicolon()?;
        Ok(PlStmt::Sql(if perform {
            format!("SELECT {text}")
        } else {
            text
        }))
    }

    fn expect_semicolon(&mut self) -> Result<(), DbError> {
        if self.eat_op(";") {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// The source text from here to the next top-level `;` (not consumed),
    /// or to one of the stop words at depth 0.
    fn text_until(&mut self, stop_words: &[&str]) -> Result<String, DbError> {
        self.text_until_any(stop_words, false)
    }

    /// Like [`P::text_until`], also stopping at a top-level `,` when `commas`.
    fn text_until_any(&mut self, stop_words: &[&str], commas: bool) -> Result<String, DbError> {
        let start_tok = self.pos;
        let mut depth = 0i32;
        loop {
            let t = self.peek().clone();
            match &t.kind {
                Kind::End => return Err(self.error()),
                Kind::Op("(") => depth += 1,
                Kind::Op(")") => depth -= 1,
                Kind::Op(";") if depth <= 0 => break,
                Kind::Op(",") if commas && depth <= 0 => break,
                Kind::Ident(w) if depth <= 0 && stop_words.contains(&w.as_str()) => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start_tok {
            return Err(self.error());
        }
        let from = self.toks[start_tok].pos.saturating_sub(1);
        let to = self.peek().pos.saturating_sub(1).min(self.chars.len());
        Ok(self.chars[from.min(to)..to]
            .iter()
            .collect::<String>()
            .trim()
            .to_string())
    }

    fn until_semicolon(&mut self) -> Result<String, DbError> {
        self.text_until(&[])
    }

    fn if_stmt(&mut self) -> Result<PlStmt, DbError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(DbError::new("54001", "stack depth limit exceeded"));
        }
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond_text = self.text_until(&["then"])?;
            self.expect_kw("then")?;
            let cond = sql::parse_expr(&cond_text).map_err(DbError::from)?;
            let body = self.stmts(&["elsif", "elseif", "else", "end"])?;
            branches.push((cond, body));
            if self.eat_kw("elsif") || self.eat_kw("elseif") {
                continue;
            }
            if self.eat_kw("else") {
                otherwise = Some(self.stmts(&["end"])?);
            }
            break;
        }
        self.expect_kw("end")?;
        self.expect_kw("if")?;
        self.expect_semicolon()?;
        self.depth -= 1;
        Ok(PlStmt::If {
            branches,
            otherwise,
        })
    }

    fn raise(&mut self) -> Result<PlStmt, DbError> {
        let level = match &self.peek().kind {
            Kind::Ident(w)
                if matches!(
                    w.as_str(),
                    "notice" | "warning" | "info" | "log" | "debug" | "exception"
                ) =>
            {
                let w = w.clone();
                self.pos += 1;
                w
            }
            _ => "exception".to_string(),
        };
        let format = match &self.peek().kind {
            Kind::Str(s) => {
                let s = s.clone();
                self.pos += 1;
                s
            }
            Kind::Op(";") => {
                return Err(DbError::new(
                    "0A000",
                    "RAISE without parameters is not supported by the kubetutor sandbox's PostgreSQL emulation",
                ));
            }
            _ => return Err(self.error()),
        };
        let mut args = Vec::new();
        while self.eat_op(",") {
            let text = self.text_until_any(&["using"], true)?;
            args.push(sql::parse_expr(&text).map_err(DbError::from)?);
        }
        if self.is_kw("using") {
            let pos = self.peek().pos;
            return Err(SyntaxError::unsupported("RAISE ... USING", pos).into());
        }
        self.expect_semicolon()?;
        Ok(PlStmt::Raise {
            level,
            format,
            args,
        })
    }
}

/// SQLSTATEs of the condition names setup scripts catch.
fn condition_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "others" => "others",
        "duplicate_object" => "42710",
        "duplicate_table" => "42P07",
        "duplicate_schema" => "42P06",
        "duplicate_database" => "42P04",
        "duplicate_column" => "42701",
        "undefined_table" => "42P01",
        "undefined_object" => "42704",
        "undefined_column" => "42703",
        "unique_violation" => "23505",
        "not_null_violation" => "23502",
        "insufficient_privilege" => "42501",
        "invalid_schema_name" => "3F000",
        "division_by_zero" => "22012",
        "raise_exception" => "P0001",
        "invalid_text_representation" => "22P02",
        "dependent_objects_still_exist" => "2BP01",
        "syntax_error" => "42601",
        "feature_not_supported" => "0A000",
        _ => return None,
    })
}

fn handler_matches(h: &Handler, code: &str) -> bool {
    h.conditions
        .iter()
        .any(|c| c == "others" && code != "57014" || c == code)
}

enum Flow {
    Next,
    Return,
}

/// Runs a parsed block.
pub fn run(
    engine: &mut Engine,
    session: &mut Session,
    block: &Block,
    notices: &mut Vec<Notice>,
) -> Result<(), DbError> {
    run_block(engine, session, block, notices).map(|_| ())
}

fn run_block(
    engine: &mut Engine,
    session: &mut Session,
    block: &Block,
    notices: &mut Vec<Notice>,
) -> Result<Flow, DbError> {
    if block.handlers.is_empty() {
        return run_stmts(engine, session, &block.stmts, notices);
    }
    let snapshot = engine.snapshot();
    let mark = notices.len();
    match run_stmts(engine, session, &block.stmts, notices) {
        Ok(flow) => Ok(flow),
        Err(e) => match block.handlers.iter().find(|h| handler_matches(h, e.code)) {
            Some(h) => {
                engine.restore(snapshot);
                // What the failed part said stays said (notices are sent as they happen).
                let _ = mark;
                run_stmts(engine, session, &h.stmts, notices)
            }
            None => Err(e),
        },
    }
}

fn run_stmts(
    engine: &mut Engine,
    session: &mut Session,
    stmts: &[PlStmt],
    notices: &mut Vec<Notice>,
) -> Result<Flow, DbError> {
    for s in stmts {
        match s {
            PlStmt::Null => {}
            PlStmt::Return => return Ok(Flow::Return),
            PlStmt::Sql(text) => {
                engine.exec_nested(session, text, notices)?;
            }
            PlStmt::Block(b) => {
                if let Flow::Return = run_block(engine, session, b, notices)? {
                    return Ok(Flow::Return);
                }
            }
            PlStmt::If {
                branches,
                otherwise,
            } => {
                let mut taken = None;
                for (cond, body) in branches {
                    if engine.eval_condition(session, cond, notices)? == Value::Bool(true) {
                        taken = Some(body);
                        break;
                    }
                }
                if let Some(body) = taken.or(otherwise.as_ref())
                    && let Flow::Return = run_stmts(engine, session, body, notices)?
                {
                    return Ok(Flow::Return);
                }
            }
            PlStmt::Raise {
                level,
                format,
                args,
            } => {
                let mut values = Vec::new();
                for a in args {
                    let v = engine.eval_condition(session, a, notices)?;
                    values.push(v.to_text().unwrap_or_else(|| "<NULL>".to_string()));
                }
                let message = render(format, &values);
                match level.as_str() {
                    "exception" => return Err(DbError::new("P0001", message)),
                    "warning" => notices.push(Notice {
                        severity: "WARNING",
                        code: "01000".into(),
                        message,
                    }),
                    "notice" => notices.push(Notice {
                        severity: "NOTICE",
                        code: "00000".into(),
                        message,
                    }),
                    "info" => notices.push(Notice {
                        severity: "INFO",
                        code: "00000".into(),
                        message,
                    }),
                    // LOG and DEBUG go to the server log only.
                    _ => {}
                }
            }
        }
    }
    Ok(Flow::Next)
}

/// RAISE's format: each `%` takes the next argument, `%%` is a percent.
fn render(format: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
            } else if let Some(a) = it.next() {
                out.push_str(a);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_ifs_and_raise() {
        let b = parse(
            "BEGIN CREATE ROLE web_anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN RAISE NOTICE 'role % exists (%)', 'web_anon', 1 + 1; END",
        )
        .unwrap();
        let PlStmt::Raise { args, .. } = &b.handlers[0].stmts[0] else {
            panic!()
        };
        assert_eq!(args.len(), 2);
        assert_eq!(b.stmts.len(), 1);
        assert_eq!(b.handlers[0].conditions, ["42710"]);
        let b = parse(
            "BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'x') THEN CREATE ROLE x; ELSE NULL; END IF; END;",
        )
        .unwrap();
        assert!(matches!(b.stmts[0], PlStmt::If { .. }));
        assert!(parse("BEGIN").is_err());
        assert!(parse("DECLARE x int; BEGIN END").is_err());
        assert!(parse("BEGIN IF true THEN END").is_err());
        assert!(parse("BEGIN EXCEPTION WHEN nonsense THEN NULL; END").is_err());
        let deep = format!("{}{}", "BEGIN ".repeat(100), "END; ".repeat(100));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn render_substitutes_arguments() {
        assert_eq!(render("a % b %% c", &["1".into()]), "a 1 b % c");
    }
}
