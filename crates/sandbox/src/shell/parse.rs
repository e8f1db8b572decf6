//! The shell's lexer and parser: script text to [`ast`](super::ast).
//!
//! One recursive-descent pass over the characters, as ash reads them:
//! words keep their quoting (what expands, what is literal), `$(...)` is
//! parsed recursively where it stands, here-document bodies are read at
//! the end of their line. Nesting is bounded, so no input can exhaust
//! the stack. Errors carry what ash (or bash) says about them, and whether
//! more input could complete the script (an interactive shell then asks
//! for the next line with `PS2`).

use std::sync::Arc;

use super::ast::*;

/// The deepest nesting of compound commands and substitutions.
pub const MAX_DEPTH: usize = 100;

/// What was found where it did not belong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Eof,
    Newline,
    /// A keyword or operator, as ash names it (`"fi"`, `";;"`).
    Token(String),
    Word,
    Redirection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    Unexpected {
        found: Found,
        /// The bash-style text of the token (`fi`, `)`).
        text: String,
        expecting: Option<&'static str>,
    },
    UnterminatedQuote,
    MissingArithEnd,
    BadSubstitution,
    BadForVariable,
    BadFunctionName,
    EofInBackquote,
    TooDeep,
}

/// A script that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub error: SyntaxError,
    pub line: u32,
    /// More lines could make it valid (interactive shells read on).
    pub incomplete: bool,
}

impl ParseError {
    /// ash's wording (after `sh: syntax error: `).
    pub fn ash_message(&self) -> String {
        match &self.error {
            SyntaxError::Unexpected {
                found, expecting, ..
            } => {
                let found = match found {
                    Found::Eof => "end of file".to_string(),
                    Found::Newline => "newline".to_string(),
                    Found::Token(t) => format!("\"{t}\""),
                    Found::Word => "word".to_string(),
                    Found::Redirection => "redirection".to_string(),
                };
                match expecting {
                    Some(e) => format!("unexpected {found} (expecting \"{e}\")"),
                    None => format!("unexpected {found}"),
                }
            }
            SyntaxError::UnterminatedQuote => "unterminated quoted string".to_string(),
            SyntaxError::MissingArithEnd => "missing '))'".to_string(),
            SyntaxError::BadSubstitution => "bad substitution".to_string(),
            SyntaxError::BadForVariable => "bad for loop variable".to_string(),
            SyntaxError::BadFunctionName => "bad function name".to_string(),
            SyntaxError::EofInBackquote => "EOF in backquote substitution".to_string(),
            SyntaxError::TooDeep => "nesting too deep".to_string(),
        }
    }

    /// dash's wording (after `sh: N: Syntax error: `).
    pub fn dash_message(&self) -> String {
        match &self.error {
            SyntaxError::Unexpected {
                found, expecting, ..
            } => {
                let found = match found {
                    Found::Eof => "end of file".to_string(),
                    Found::Newline => "newline".to_string(),
                    Found::Token(t) => format!("\"{t}\""),
                    Found::Word => "word".to_string(),
                    Found::Redirection => "redirection".to_string(),
                };
                match expecting {
                    Some(e) => format!("{found} unexpected (expecting \"{e}\")"),
                    None => format!("{found} unexpected"),
                }
            }
            SyntaxError::UnterminatedQuote => "Unterminated quoted string".to_string(),
            other => ParseError {
                error: other.clone(),
                line: self.line,
                incomplete: self.incomplete,
            }
            .ash_message(),
        }
    }

    /// bash's wording (after `bash: line N: `).
    pub fn bash_message(&self) -> String {
        match &self.error {
            SyntaxError::Unexpected {
                found: Found::Eof, ..
            }
            | SyntaxError::EofInBackquote => "syntax error: unexpected end of file".to_string(),
            SyntaxError::Unexpected { text, .. } => {
                format!("syntax error near unexpected token `{text}'")
            }
            SyntaxError::UnterminatedQuote => {
                "unexpected EOF while looking for matching `''".to_string()
            }
            SyntaxError::BadSubstitution => "bad substitution".to_string(),
            other => format!(
                "syntax error: {}",
                ParseError {
                    error: other.clone(),
                    line: self.line,
                    incomplete: self.incomplete
                }
                .ash_message()
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Word),
    Op(&'static str),
    IoNumber(u32),
    Newline,
    Eof,
}

const OPERATORS: &[&str] = &[
    ";;&", "<<<", "<<-", "&>>", "&&", "||", ";;", ";&", "|&", "<<", "<&", "<>", ">>", ">&", ">|",
    "&>", "<", ">", "&", "|", ";", "(", ")",
];
const BASH_ONLY_OPS: &[&str] = &[";;&", "<<<", ";&", "|&"];
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "{", "}", "!",
];
/// Keywords that end a list.
const TERMINATORS: &[&str] = &["then", "else", "elif", "fi", "do", "done", "esac", "}"];

/// Parses a whole script. `bash` enables bash's syntax (`[[`, `((`,
/// `<<<`, `function`, `;&`).
pub fn parse(script: &str, bash: bool) -> Result<List, ParseError> {
    parse_at(script, bash, 1)
}

/// Parses a script whose first line is line `line` of its source.
pub fn parse_at(script: &str, bash: bool, line: u32) -> Result<List, ParseError> {
    let mut p = Parser::new(script, bash, line);
    let list = p.parse_list()?;
    match p.peek()? {
        Tok::Eof => Ok(list),
        _ => Err(p.unexpected(None)),
    }
}

/// Parses the body of an unquoted here-document: `$` expansions and
/// backquotes expand, `\` escapes only `$`, `` ` ``, `\` and newline.
pub fn parse_heredoc_body(body: &str, bash: bool) -> Result<Word, ParseError> {
    let mut p = Parser::new(body, bash, 1);
    p.heredoc_word()
}

/// A script read one complete command (up to a newline) at a time, as
/// ash runs `sh -c` and script files: what precedes a syntax error runs.
pub struct Script(Parser);

impl Script {
    pub fn new(script: &str, bash: bool) -> Script {
        Script(Parser::new(script, bash, 1))
    }

    /// The next command line, None at the end.
    pub fn next_command(&mut self) -> Option<Result<List, ParseError>> {
        let p = &mut self.0;
        if let Err(e) = p.skip_newlines() {
            return Some(Err(e));
        }
        match p.peek() {
            Ok(Tok::Eof) => return None,
            Err(e) => return Some(Err(e)),
            Ok(_) => {}
        }
        p.stop_at_newline = true;
        let r = p.parse_list();
        p.stop_at_newline = false;
        match r {
            Ok(list) => match p.peek() {
                Ok(Tok::Eof | Tok::Newline) => Some(Ok(list)),
                Ok(_) => Some(Err(p.unexpected(None))),
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        }
    }
}

struct Parser {
    /// At the top of a script: a newline ends the command line.
    stop_at_newline: bool,
    src: Vec<char>,
    pos: usize,
    line: u32,
    peeked: Option<(Tok, usize, u32)>,
    /// Here-documents of the current line: (newline position, where the
    /// script resumes after their bodies).
    heredoc_skip: Option<(usize, usize, u32)>,
    depth: usize,
    bash: bool,
}

fn err(error: SyntaxError, line: u32, incomplete: bool) -> ParseError {
    ParseError {
        error,
        line,
        incomplete,
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_word_end(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')'
    )
}

impl Parser {
    fn new(script: &str, bash: bool, line: u32) -> Parser {
        Parser {
            stop_at_newline: false,
            src: script.chars().collect(),
            pos: 0,
            line,
            peeked: None,
            heredoc_skip: None,
            depth: 0,
            bash,
        }
    }

    fn cur(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, offset: usize) -> Option<char> {
        self.src.get(self.pos + offset).copied()
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(SyntaxError::TooDeep, self.line, false));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ------------------------------------------------------------------
    // Tokens
    // ------------------------------------------------------------------

    fn peek(&mut self) -> Result<Tok, ParseError> {
        if let Some((tok, _, _)) = &self.peeked {
            return Ok(tok.clone());
        }
        let start = self.pos;
        let line = self.line;
        let tok = self.lex()?;
        self.peeked = Some((tok.clone(), start, line));
        Ok(tok)
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        match self.peeked.take() {
            Some((tok, _, _)) => Ok(tok),
            None => self.lex(),
        }
    }

    /// The peeked token's line (or the current line).
    fn tok_line(&self) -> u32 {
        self.peeked.as_ref().map_or(self.line, |p| p.2)
    }

    fn peek_keyword(&mut self) -> Result<Option<String>, ParseError> {
        Ok(match self.peek()? {
            Tok::Word(w) => w
                .as_plain()
                .filter(|t| KEYWORDS.contains(t) || (self.bash && (*t == "[[" || *t == "function")))
                .map(str::to_string),
            _ => None,
        })
    }

    fn skip_newlines(&mut self) -> Result<(), ParseError> {
        while self.peek()? == Tok::Newline {
            self.next()?;
        }
        Ok(())
    }

    fn lex(&mut self) -> Result<Tok, ParseError> {
        loop {
            match self.cur() {
                Some(c) if is_blank(c) => self.pos += 1,
                Some('\\') if self.at(1) == Some('\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                Some('#') => {
                    while self.cur().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.cur() else {
            return Ok(Tok::Eof);
        };
        if c == '\n' {
            self.pos += 1;
            self.line += 1;
            if let Some((nl, resume, lines)) = self.heredoc_skip
                && nl + 1 == self.pos
            {
                self.pos = resume;
                self.line += lines;
                self.heredoc_skip = None;
            }
            return Ok(Tok::Newline);
        }
        for op in OPERATORS {
            if self.starts_with(op) && (self.bash || !BASH_ONLY_OPS.contains(op)) {
                self.pos += op.chars().count();
                return Ok(Tok::Op(op));
            }
        }
        let start = self.pos;
        let word = self.word(&[], false)?;
        // `2>file`: digits right before a redirection are its fd.
        if let Some(text) = word.as_plain()
            && !text.is_empty()
            && text.len() <= 4
            && text.chars().all(|c| c.is_ascii_digit())
            && self.pos - start == text.len()
            && matches!(self.cur(), Some('<' | '>'))
            && let Ok(n) = text.parse::<u32>()
        {
            return Ok(Tok::IoNumber(n));
        }
        Ok(Tok::Word(word))
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.at(i) == Some(c))
    }

    fn found(&self, tok: &Tok) -> (Found, String) {
        match tok {
            Tok::Eof => (Found::Eof, "EOF".to_string()),
            Tok::Newline => (Found::Newline, "newline".to_string()),
            Tok::Op(op) => {
                let redir = op.starts_with(['<', '>']) || *op == "&>" || *op == "&>>";
                if redir {
                    (Found::Redirection, op.to_string())
                } else {
                    (Found::Token(op.to_string()), op.to_string())
                }
            }
            Tok::IoNumber(n) => (Found::Redirection, n.to_string()),
            Tok::Word(w) => match w.as_plain() {
                Some(t) if KEYWORDS.contains(&t) => (Found::Token(t.to_string()), t.to_string()),
                Some(t) => (Found::Word, t.to_string()),
                None => (Found::Word, "word".to_string()),
            },
        }
    }

    fn unexpected(&mut self, expecting: Option<&'static str>) -> ParseError {
        let tok = self.peek().unwrap_or(Tok::Eof);
        let (found, text) = self.found(&tok);
        let incomplete = found == Found::Eof;
        err(
            SyntaxError::Unexpected {
                found,
                text,
                expecting,
            },
            self.tok_line(),
            incomplete,
        )
    }

    fn expect_keyword(&mut self, kw: &'static str) -> Result<(), ParseError> {
        if self.peek_keyword()?.as_deref() == Some(kw) {
            self.next()?;
            Ok(())
        } else {
            Err(self.unexpected(Some(kw)))
        }
    }

    fn expect_op(&mut self, op: &'static str) -> Result<(), ParseError> {
        if self.peek()? == Tok::Op(op) {
            self.next()?;
            Ok(())
        } else {
            Err(self.unexpected(Some(op)))
        }
    }

    // ------------------------------------------------------------------
    // Grammar
    // ------------------------------------------------------------------

    fn at_list_end(&mut self) -> Result<bool, ParseError> {
        Ok(match self.peek()? {
            Tok::Eof => true,
            Tok::Op(op) => matches!(op, ")" | ";;" | ";&" | ";;&"),
            Tok::Word(_) => self
                .peek_keyword()?
                .is_some_and(|k| TERMINATORS.contains(&k.as_str())),
            _ => false,
        })
    }

    fn parse_list(&mut self) -> Result<List, ParseError> {
        self.enter()?;
        let mut list = Vec::new();
        self.skip_newlines()?;
        while !self.at_list_end()? {
            let and_or = self.and_or()?;
            let background = match self.peek()? {
                Tok::Op(";") => {
                    self.next()?;
                    false
                }
                Tok::Op("&") => {
                    self.next()?;
                    true
                }
                Tok::Newline if self.stop_at_newline && self.depth == 1 => {
                    list.push(Item {
                        and_or,
                        background: false,
                    });
                    break;
                }
                Tok::Newline => false,
                _ => {
                    list.push(Item {
                        and_or,
                        background: false,
                    });
                    break;
                }
            };
            list.push(Item { and_or, background });
            if self.stop_at_newline && self.depth == 1 && self.peek()? == Tok::Newline {
                break;
            }
            self.skip_newlines()?;
        }
        self.leave();
        Ok(list)
    }

    /// A list that must not be empty (`if`, `while`, `{ }` bodies).
    fn body(&mut self, expecting: &'static str) -> Result<List, ParseError> {
        let list = self.parse_list()?;
        if list.is_empty() {
            return Err(self.unexpected(None).with_expecting(expecting));
        }
        Ok(list)
    }

    fn and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let connector = match self.peek()? {
                Tok::Op("&&") => Connector::And,
                Tok::Op("||") => Connector::Or,
                _ => break,
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((connector, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        self.peek()?;
        let (start, line) = self
            .peeked
            .as_ref()
            .map_or((self.pos, self.line), |p| (p.1, p.2));
        let mut bang = false;
        while self.peek_keyword()?.as_deref() == Some("!") {
            self.next()?;
            bang = !bang;
        }
        let mut commands = vec![self.command()?];
        loop {
            let both = match self.peek()? {
                Tok::Op("|") => false,
                Tok::Op("|&") => true,
                _ => break,
            };
            self.next()?;
            if both && let Some(last) = commands.last_mut() {
                let dup = Redirect {
                    fd: Some(2),
                    op: RedirOp::DupOut,
                    target: Word::literal("1"),
                };
                match last {
                    Command::Simple(s) => s.redirects.push(dup),
                    Command::Compound(_, r) => r.push(dup),
                    Command::Function { .. } => {}
                }
            }
            self.skip_newlines()?;
            commands.push(self.command()?);
        }
        let end = self
            .peeked
            .as_ref()
            .map_or(self.pos, |p| p.1)
            .min(self.src.len());
        let text: String = self.src[start.min(end)..end].iter().collect();
        Ok(Pipeline {
            bang,
            commands,
            line,
            text: text.trim().to_string(),
        })
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        self.enter()?;
        let result = self.command_inner();
        self.leave();
        result
    }

    fn command_inner(&mut self) -> Result<Command, ParseError> {
        let compound = match self.peek_keyword()?.as_deref() {
            Some("if") => self.if_clause()?,
            Some("while") => self.loop_clause(false)?,
            Some("until") => self.loop_clause(true)?,
            Some("for") => self.for_clause()?,
            Some("case") => self.case_clause()?,
            Some("{") => {
                self.next()?;
                let list = self.body("}")?;
                self.expect_keyword("}")?;
                Compound::Brace(list)
            }
            Some("[[") if self.bash => self.cond_command()?,
            Some("function") if self.bash => return self.bash_function(),
            Some(_) => return Err(self.unexpected(None)),
            None => match self.peek()? {
                Tok::Op("(") => {
                    self.next()?;
                    if self.bash && self.cur() == Some('(') && self.pos > 0 {
                        // `((expr))`
                        if let Some(expr) = self.arith_command()? {
                            Compound::Arith(expr)
                        } else {
                            let list = self.body(")")?;
                            self.expect_op(")")?;
                            Compound::Subshell(list)
                        }
                    } else {
                        let list = self.body(")")?;
                        self.expect_op(")")?;
                        Compound::Subshell(list)
                    }
                }
                Tok::Word(_) | Tok::IoNumber(_) => return self.simple_command(),
                Tok::Op(op) if op.starts_with(['<', '>']) || op.starts_with("&>") => {
                    return self.simple_command();
                }
                _ => return Err(self.unexpected(None)),
            },
        };
        let mut redirects = Vec::new();
        while let Some(r) = self.redirect()? {
            redirects.push(r);
        }
        Ok(Command::Compound(compound, redirects))
    }

    /// After `((`'s first `(`: the expression up to `))`, or None when the
    /// parentheses do not close as one (then it is two subshells).
    fn arith_command(&mut self) -> Result<Option<Word>, ParseError> {
        let save = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.cur() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    if self.at(1) == Some(')') {
                        let text: String = self.src[start..self.pos].iter().collect();
                        self.pos += 2;
                        let mut sub = Parser::new(&text, self.bash, self.line);
                        return Ok(Some(sub.arith_word()?));
                    }
                    break;
                }
                ')' => depth -= 1,
                '\n' => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.pos = save;
        Ok(None)
    }

    fn if_clause(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let mut branches = Vec::new();
        let cond = self.body("then")?;
        self.expect_keyword("then")?;
        let body = self.body("fi")?;
        branches.push((cond, body));
        let mut otherwise = None;
        loop {
            match self.peek_keyword()?.as_deref() {
                Some("elif") => {
                    self.next()?;
                    let cond = self.body("then")?;
                    self.expect_keyword("then")?;
                    let body = self.body("fi")?;
                    branches.push((cond, body));
                }
                Some("else") => {
                    self.next()?;
                    otherwise = Some(self.body("fi")?);
                    self.expect_keyword("fi")?;
                    break;
                }
                Some("fi") => {
                    self.next()?;
                    break;
                }
                _ => return Err(self.unexpected(Some("fi"))),
            }
        }
        Ok(Compound::If {
            branches,
            otherwise,
        })
    }

    fn do_group(&mut self) -> Result<List, ParseError> {
        self.expect_keyword("do")?;
        let body = self.body("done")?;
        self.expect_keyword("done")?;
        Ok(body)
    }

    fn loop_clause(&mut self, until: bool) -> Result<Compound, ParseError> {
        self.next()?;
        let cond = self.body("do")?;
        let body = self.do_group()?;
        Ok(Compound::Loop { until, cond, body })
    }

    fn for_clause(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        if self.bash && self.peek()? == Tok::Op("(") && self.cur() == Some('(') {
            return self.arith_for();
        }
        let var = match self.next()? {
            Tok::Word(w) => match w.as_plain() {
                Some(name) if is_name(name) => name.to_string(),
                _ => return Err(err(SyntaxError::BadForVariable, self.line, false)),
            },
            Tok::Eof => {
                return Err(err(
                    SyntaxError::Unexpected {
                        found: Found::Eof,
                        text: "EOF".into(),
                        expecting: Some("word"),
                    },
                    self.line,
                    true,
                ));
            }
            _ => return Err(err(SyntaxError::BadForVariable, self.line, false)),
        };
        self.skip_newlines()?;
        let mut words = None;
        if self.peek_keyword()?.as_deref() == Some("in") {
            self.next()?;
            let mut list = Vec::new();
            loop {
                match self.peek()? {
                    Tok::Word(w) => {
                        self.next()?;
                        list.push(w);
                    }
                    Tok::Op(";") | Tok::Newline => {
                        self.next()?;
                        break;
                    }
                    _ => return Err(self.unexpected(Some("do"))),
                }
            }
            words = Some(list);
        } else if self.peek()? == Tok::Op(";") {
            self.next()?;
        }
        self.skip_newlines()?;
        let body = self.do_group()?;
        Ok(Compound::For { var, words, body })
    }

    /// After `for (`: `(init; cond; step)) do ... done` (bash).
    fn arith_for(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        self.pos += 1;
        let start = self.pos;
        let mut depth = 0usize;
        let mut end = None;
        while let Some(c) = self.cur() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 && self.at(1) == Some(')') => {
                    end = Some(self.pos);
                    break;
                }
                ')' => depth = depth.saturating_sub(1),
                '\n' => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        let Some(end) = end else {
            return Err(err(SyntaxError::MissingArithEnd, self.line, true));
        };
        let text: String = self.src[start..end].iter().collect();
        self.pos = end + 2;
        let parts: Vec<&str> = text.splitn(3, ';').collect();
        if parts.len() != 3 {
            return Err(err(
                SyntaxError::Unexpected {
                    found: Found::Token(")".into()),
                    text: "((".into(),
                    expecting: None,
                },
                self.line,
                false,
            ));
        }
        let mut words = Vec::new();
        for p in parts {
            let mut sub = Parser::new(p, self.bash, self.line);
            words.push(sub.arith_word()?);
        }
        self.skip_newlines()?;
        if self.peek()? == Tok::Op(";") {
            self.next()?;
            self.skip_newlines()?;
        }
        let body = if self.peek_keyword()?.as_deref() == Some("{") {
            self.next()?;
            let b = self.body("}")?;
            self.expect_keyword("}")?;
            b
        } else {
            self.do_group()?
        };
        let step = words.pop().unwrap_or_default();
        let cond = words.pop().unwrap_or_default();
        let init = words.pop().unwrap_or_default();
        Ok(Compound::ArithFor {
            init,
            cond,
            step,
            body,
        })
    }

    fn case_clause(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let word = match self.next()? {
            Tok::Word(w) => w,
            _ => return Err(self.unexpected(Some("word"))),
        };
        self.skip_newlines()?;
        self.expect_keyword("in")?;
        self.skip_newlines()?;
        let mut arms = Vec::new();
        loop {
            if self.peek_keyword()?.as_deref() == Some("esac") {
                self.next()?;
                break;
            }
            if self.peek()? == Tok::Op("(") {
                self.next()?;
            }
            let mut patterns = Vec::new();
            loop {
                match self.next()? {
                    Tok::Word(w) => patterns.push(w),
                    Tok::Eof => return Err(self.unexpected(Some(")"))),
                    other => {
                        self.peeked = Some((other, self.pos, self.line));
                        return Err(self.unexpected(Some(")")));
                    }
                }
                match self.peek()? {
                    Tok::Op("|") => {
                        self.next()?;
                    }
                    Tok::Op(")") => {
                        self.next()?;
                        break;
                    }
                    _ => return Err(self.unexpected(Some(")"))),
                }
            }
            let body = self.parse_list()?;
            let fallthrough = match self.peek()? {
                Tok::Op(";;") => {
                    self.next()?;
                    false
                }
                Tok::Op(";&") => {
                    self.next()?;
                    true
                }
                Tok::Op(";;&") => {
                    self.next()?;
                    false
                }
                _ => {
                    if self.peek_keyword()?.as_deref() != Some("esac") {
                        return Err(self.unexpected(Some("esac")));
                    }
                    false
                }
            };
            arms.push(CaseArm {
                patterns,
                body,
                fallthrough,
            });
            self.skip_newlines()?;
        }
        Ok(Compound::Case { word, arms })
    }

    fn bash_function(&mut self) -> Result<Command, ParseError> {
        self.next()?;
        let name = match self.next()? {
            Tok::Word(w) => w.as_plain().unwrap_or("").to_string(),
            _ => return Err(self.unexpected(Some("word"))),
        };
        if name.is_empty() {
            return Err(err(SyntaxError::BadFunctionName, self.line, false));
        }
        if self.peek()? == Tok::Op("(") {
            self.next()?;
            self.expect_op(")")?;
        }
        self.skip_newlines()?;
        let body = self.command()?;
        Ok(Command::Function {
            name,
            body: Arc::new(body),
        })
    }

    fn simple_command(&mut self) -> Result<Command, ParseError> {
        let line = self.tok_line();
        let mut cmd = SimpleCommand {
            line,
            ..SimpleCommand::default()
        };
        loop {
            if let Some(r) = self.redirect()? {
                cmd.redirects.push(r);
                continue;
            }
            let Tok::Word(w) = self.peek()? else {
                break;
            };
            self.next()?;
            if cmd.words.is_empty()
                && let Some(assign) = assignment(&w)
            {
                cmd.assigns.push(assign);
                continue;
            }
            cmd.words.push(w);
            if cmd.words.len() == 1 && cmd.assigns.is_empty() && self.peek()? == Tok::Op("(") {
                return self.function_def(cmd);
            }
            // `[[` in bash is a keyword only where a command starts.
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirects.is_empty() {
            return Err(self.unexpected(None));
        }
        Ok(Command::Simple(cmd))
    }

    fn function_def(&mut self, cmd: SimpleCommand) -> Result<Command, ParseError> {
        let name = cmd.words[0].as_plain().unwrap_or("").to_string();
        if !(is_name(&name) || self.bash && !name.is_empty()) {
            return Err(err(SyntaxError::BadFunctionName, self.line, false));
        }
        self.next()?;
        self.expect_op(")")?;
        self.skip_newlines()?;
        let body = self.command()?;
        if matches!(body, Command::Simple(_)) {
            // `f() echo hi` is an error in both shells.
            return Err(err(
                SyntaxError::Unexpected {
                    found: Found::Word,
                    text: "word".into(),
                    expecting: None,
                },
                self.line,
                false,
            ));
        }
        Ok(Command::Function {
            name,
            body: Arc::new(body),
        })
    }

    fn redirect(&mut self) -> Result<Option<Redirect>, ParseError> {
        let (fd, op_tok) = match self.peek()? {
            Tok::IoNumber(n) => {
                self.next()?;
                match self.peek()? {
                    Tok::Op(op) => (Some(n), op),
                    _ => return Err(self.unexpected(None)),
                }
            }
            Tok::Op(op) => (None, op),
            _ => return Ok(None),
        };
        let op = match op_tok {
            "<" => RedirOp::In,
            ">" => RedirOp::Out,
            ">|" => RedirOp::Clobber,
            ">>" => RedirOp::Append,
            "<>" => RedirOp::ReadWrite,
            "<&" => RedirOp::DupIn,
            ">&" => RedirOp::DupOut,
            "<<" | "<<-" => RedirOp::HereDoc,
            "<<<" => RedirOp::HereString,
            "&>" => RedirOp::OutErr,
            "&>>" => RedirOp::AppendErr,
            _ => {
                if fd.is_some() {
                    return Err(self.unexpected(None));
                }
                return Ok(None);
            }
        };
        self.next()?;
        let target = match self.next()? {
            Tok::Word(w) => w,
            other => {
                let (found, text) = self.found(&other);
                let incomplete = found == Found::Eof;
                return Err(err(
                    SyntaxError::Unexpected {
                        found,
                        text,
                        expecting: None,
                    },
                    self.line,
                    incomplete,
                ));
            }
        };
        if op == RedirOp::HereDoc {
            let body = self.heredoc(&target, op_tok == "<<-")?;
            return Ok(Some(Redirect {
                fd,
                op,
                target: body,
            }));
        }
        Ok(Some(Redirect { fd, op, target }))
    }

    /// Reads a here-document's body from the line after the current one
    /// (after the bodies of earlier here-documents of this line).
    fn heredoc(&mut self, delimiter: &Word, strip_tabs: bool) -> Result<Word, ParseError> {
        let quoted = delimiter.has_quotes();
        let delim: String = delimiter
            .parts
            .iter()
            .map(|p| match p {
                Part::Lit { text, .. } => text.clone(),
                _ => String::new(),
            })
            .collect();
        let (nl, mut i, mut lines) = match self.heredoc_skip {
            Some(skip) => skip,
            None => {
                // The newline ending the current line (peeked tokens
                // stay where they are: the body is cut out after it).
                let from = self.peeked.as_ref().map_or(self.pos, |p| p.1).max(self.pos);
                let nl = (from..self.src.len())
                    .find(|&j| self.src[j] == '\n')
                    .unwrap_or(self.src.len());
                (nl, nl + 1, 0)
            }
        };
        let mut body = String::new();
        let mut found = false;
        while i < self.src.len() {
            let end = (i..self.src.len())
                .find(|&j| self.src[j] == '\n')
                .unwrap_or(self.src.len());
            let mut text: String = self.src[i..end].iter().collect();
            i = end + 1;
            lines += 1;
            if strip_tabs {
                text = text.trim_start_matches('\t').to_string();
            }
            if text == delim {
                found = true;
                break;
            }
            body.push_str(&text);
            body.push('\n');
        }
        let i = i.min(self.src.len());
        if nl >= self.src.len() {
            // The here-document starts on the script's last line: nothing
            // follows it.
            self.heredoc_skip = None;
        } else {
            self.heredoc_skip = Some((nl, i, lines));
        }
        if !found && i >= self.src.len() && body.is_empty() && nl >= self.src.len() {
            return Err(err(
                SyntaxError::Unexpected {
                    found: Found::Eof,
                    text: "EOF".into(),
                    expecting: None,
                },
                self.line,
                true,
            ));
        }
        if quoted {
            return Ok(Word {
                parts: vec![Part::Lit {
                    text: body,
                    quoted: true,
                }],
            });
        }
        parse_heredoc_body(&body, self.bash)
    }

    fn cond_command(&mut self) -> Result<Compound, ParseError> {
        self.next()?;
        let expr = self.cond_or()?;
        match self.next()? {
            Tok::Word(w) if w.as_plain() == Some("]]") => Ok(Compound::Cond(expr)),
            other => {
                self.peeked = Some((other, self.pos, self.line));
                Err(self.unexpected(Some("]]")))
            }
        }
    }

    fn cond_or(&mut self) -> Result<CondExpr, ParseError> {
        let mut left = self.cond_and()?;
        while self.peek()? == Tok::Op("||") {
            self.next()?;
            self.skip_newlines()?;
            let right = self.cond_and()?;
            left = CondExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_and(&mut self) -> Result<CondExpr, ParseError> {
        let mut left = self.cond_not()?;
        while self.peek()? == Tok::Op("&&") {
            self.next()?;
            self.skip_newlines()?;
            let right = self.cond_not()?;
            left = CondExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_not(&mut self) -> Result<CondExpr, ParseError> {
        self.enter()?;
        let r = self.cond_not_inner();
        self.leave();
        r
    }

    fn cond_not_inner(&mut self) -> Result<CondExpr, ParseError> {
        match self.peek()? {
            Tok::Word(w) if w.as_plain() == Some("!") => {
                self.next()?;
                Ok(CondExpr::Not(Box::new(self.cond_not()?)))
            }
            Tok::Op("(") => {
                self.next()?;
                let e = self.cond_or()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Word(w) => {
                self.next()?;
                let text = w.as_plain().unwrap_or("").to_string();
                if text.len() == 2
                    && text.starts_with('-')
                    && !matches!(self.peek()?, Tok::Word(ref n) if n.as_plain() == Some("]]"))
                    && let Tok::Word(operand) = self.peek()?
                {
                    self.next()?;
                    return Ok(CondExpr::Unary(text, operand));
                }
                let op = match self.peek()? {
                    Tok::Op("<") => "<".to_string(),
                    Tok::Op(">") => ">".to_string(),
                    Tok::Word(o) => match o.as_plain() {
                        Some(
                            t @ ("==" | "=" | "!=" | "=~" | "-eq" | "-ne" | "-lt" | "-le" | "-gt"
                            | "-ge" | "-nt" | "-ot" | "-ef"),
                        ) => t.to_string(),
                        _ => return Ok(CondExpr::Word(w)),
                    },
                    _ => return Ok(CondExpr::Word(w)),
                };
                self.next()?;
                let right = if op == "=~" {
                    self.regex_word()?
                } else {
                    match self.next()? {
                        Tok::Word(r) => r,
                        _ => return Err(self.unexpected(None)),
                    }
                };
                Ok(CondExpr::Binary(w, op, right))
            }
            _ => Err(self.unexpected(None)),
        }
    }

    /// The right side of `=~`: up to a blank outside parentheses.
    fn regex_word(&mut self) -> Result<Word, ParseError> {
        if let Some((_, start, line)) = self.peeked.take() {
            self.pos = start;
            self.line = line;
        }
        while self.cur().is_some_and(is_blank) {
            self.pos += 1;
        }
        let mut parts = Vec::new();
        let mut depth = 0usize;
        while let Some(c) = self.cur() {
            match c {
                ' ' | '\t' | '\n' if depth == 0 => break,
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ')' => break,
                '\'' | '"' | '$' | '\\' => {
                    let w = self.word(&[' ', '\t', '\n', '(', ')'], false)?;
                    parts.extend(w.parts);
                    continue;
                }
                _ => {}
            }
            push_lit(&mut parts, c, false);
            self.pos += 1;
        }
        Ok(Word { parts })
    }

    // ------------------------------------------------------------------
    // Words
    // ------------------------------------------------------------------

    /// Reads a word. With `terms` empty it ends at a blank or operator;
    /// otherwise only at one of `terms` (inside `${...}`), where blanks
    /// are part of it. `quoted`: inside double quotes.
    fn word(&mut self, terms: &[char], quoted: bool) -> Result<Word, ParseError> {
        let mut parts: Vec<Part> = Vec::new();
        while let Some(c) = self.cur() {
            if terms.is_empty() {
                if is_word_end(c) {
                    break;
                }
            } else if terms.contains(&c) {
                break;
            }
            match c {
                '\\' => match self.at(1) {
                    Some('\n') => {
                        self.pos += 2;
                        self.line += 1;
                    }
                    Some(n) if quoted => {
                        if matches!(n, '$' | '`' | '"' | '\\' | '}') {
                            push_lit(&mut parts, n, true);
                        } else {
                            push_lit(&mut parts, '\\', true);
                            push_lit(&mut parts, n, true);
                        }
                        self.pos += 2;
                    }
                    Some(n) => {
                        push_lit(&mut parts, n, true);
                        self.pos += 2;
                    }
                    None => {
                        push_lit(&mut parts, '\\', quoted);
                        self.pos += 1;
                    }
                },
                '\'' if !quoted => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.cur().is_some_and(|c| c != '\'') {
                        if self.cur() == Some('\n') {
                            self.line += 1;
                        }
                        self.pos += 1;
                    }
                    if self.cur().is_none() {
                        return Err(err(SyntaxError::UnterminatedQuote, self.line, true));
                    }
                    let text: String = self.src[start..self.pos].iter().collect();
                    self.pos += 1;
                    parts.push(Part::Lit { text, quoted: true });
                }
                '"' if !quoted => {
                    self.pos += 1;
                    let inner = self.dquote()?;
                    if inner.is_empty() {
                        // `""`: an empty field that still counts.
                        parts.push(Part::Lit {
                            text: String::new(),
                            quoted: true,
                        });
                    }
                    parts.extend(inner);
                }
                '$' => self.dollar(&mut parts, quoted)?,
                '`' => {
                    let list = self.backquote(quoted)?;
                    parts.push(Part::Command {
                        list: Arc::new(list),
                        quoted,
                    });
                }
                '\n' => {
                    self.line += 1;
                    push_lit(&mut parts, c, quoted);
                    self.pos += 1;
                }
                _ => {
                    push_lit(&mut parts, c, quoted);
                    self.pos += 1;
                }
            }
        }
        Ok(Word { parts })
    }

    /// After an opening `"`: up to the closing one.
    fn dquote(&mut self) -> Result<Vec<Part>, ParseError> {
        let mut parts = Vec::new();
        loop {
            match self.cur() {
                None => return Err(err(SyntaxError::UnterminatedQuote, self.line, true)),
                Some('"') => {
                    self.pos += 1;
                    return Ok(parts);
                }
                Some('\\') => {
                    match self.at(1) {
                        Some('\n') => self.line += 1,
                        Some(n @ ('$' | '`' | '"' | '\\')) => push_lit(&mut parts, n, true),
                        Some(n) => {
                            push_lit(&mut parts, '\\', true);
                            push_lit(&mut parts, n, true);
                        }
                        None => return Err(err(SyntaxError::UnterminatedQuote, self.line, true)),
                    }
                    self.pos += 2;
                }
                Some('$') => self.dollar(&mut parts, true)?,
                Some('`') => {
                    let list = self.backquote(true)?;
                    parts.push(Part::Command {
                        list: Arc::new(list),
                        quoted: true,
                    });
                }
                Some(c) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    push_lit(&mut parts, c, true);
                    self.pos += 1;
                }
            }
        }
    }

    fn dollar(&mut self, parts: &mut Vec<Part>, quoted: bool) -> Result<(), ParseError> {
        match self.at(1) {
            Some('{') => {
                self.pos += 2;
                self.enter()?;
                let exp = self.brace_param(quoted);
                self.leave();
                parts.push(Part::Param {
                    exp: Box::new(exp?),
                    quoted,
                });
            }
            Some('(') if self.at(2) == Some('(') => {
                if let Some(expr) = self.arith_expansion()? {
                    parts.push(Part::Arith { expr, quoted });
                } else {
                    self.pos += 1;
                    let list = self.command_subst()?;
                    parts.push(Part::Command {
                        list: Arc::new(list),
                        quoted,
                    });
                }
            }
            Some('(') => {
                self.pos += 1;
                let list = self.command_subst()?;
                parts.push(Part::Command {
                    list: Arc::new(list),
                    quoted,
                });
            }
            Some('\'') if !quoted => {
                self.pos += 2;
                let text = self.ansi_c_string()?;
                parts.push(Part::Lit { text, quoted: true });
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                self.pos += 1;
                let start = self.pos;
                while self
                    .cur()
                    .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
                {
                    self.pos += 1;
                }
                let name: String = self.src[start..self.pos].iter().collect();
                parts.push(Part::Param {
                    exp: Box::new(ParamExp {
                        name,
                        op: ParamOp::Plain,
                    }),
                    quoted,
                });
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                self.pos += 2;
                parts.push(Part::Param {
                    exp: Box::new(ParamExp {
                        name: c.to_string(),
                        op: ParamOp::Plain,
                    }),
                    quoted,
                });
            }
            _ => {
                push_lit(parts, '$', quoted);
                self.pos += 1;
            }
        }
        Ok(())
    }

    /// At `$((`: the expression up to the matching `))`, or None when the
    /// parentheses close otherwise (`$((a) | b)` is a command).
    fn arith_expansion(&mut self) -> Result<Option<Word>, ParseError> {
        let start = self.pos + 3;
        let mut i = start;
        let mut depth = 0usize;
        let mut lines = 0;
        while i < self.src.len() {
            match self.src[i] {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    if self.src.get(i + 1) == Some(&')') {
                        let text: String = self.src[start..i].iter().collect();
                        let mut sub = Parser::new(&text, self.bash, self.line);
                        sub.depth = self.depth;
                        let word = sub.arith_word()?;
                        self.pos = i + 2;
                        self.line += lines;
                        return Ok(Some(word));
                    }
                    return Ok(None);
                }
                ')' => depth -= 1,
                '\n' => lines += 1,
                _ => {}
            }
            i += 1;
        }
        Err(err(SyntaxError::MissingArithEnd, self.line, true))
    }

    /// An arithmetic expression's text: `$` and backquotes expand, quotes
    /// are removed, the rest is literal.
    fn arith_word(&mut self) -> Result<Word, ParseError> {
        let mut parts = Vec::new();
        while let Some(c) = self.cur() {
            match c {
                '$' => self.dollar(&mut parts, true)?,
                '`' => {
                    let list = self.backquote(true)?;
                    parts.push(Part::Command {
                        list: Arc::new(list),
                        quoted: true,
                    });
                }
                '"' => self.pos += 1,
                _ => {
                    push_lit(&mut parts, c, true);
                    self.pos += 1;
                }
            }
        }
        Ok(Word { parts })
    }

    /// At `$(`'s `(`: the list up to the matching `)`.
    fn command_subst(&mut self) -> Result<List, ParseError> {
        self.pos += 1;
        self.enter()?;
        let saved = self.peeked.take();
        let list = self.parse_list()?;
        match self.peek()? {
            Tok::Op(")") => {
                self.next()?;
            }
            Tok::Eof => {
                return Err(err(
                    SyntaxError::Unexpected {
                        found: Found::Eof,
                        text: "EOF".into(),
                        expecting: Some(")"),
                    },
                    self.line,
                    true,
                ));
            }
            _ => return Err(self.unexpected(Some(")"))),
        }
        self.peeked = saved;
        self.leave();
        Ok(list)
    }

    fn backquote(&mut self, quoted: bool) -> Result<List, ParseError> {
        self.pos += 1;
        let mut text = String::new();
        let line = self.line;
        loop {
            match self.cur() {
                None => return Err(err(SyntaxError::EofInBackquote, self.line, true)),
                Some('`') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    match self.at(1) {
                        Some(n @ ('$' | '`' | '\\')) => text.push(n),
                        Some('"') if quoted => text.push('"'),
                        Some(n) => {
                            text.push('\\');
                            text.push(n);
                        }
                        None => text.push('\\'),
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        self.enter()?;
        let mut sub = Parser::new(&text, self.bash, line);
        sub.depth = self.depth;
        let list = sub.parse_list()?;
        if sub.peek()? != Tok::Eof {
            return Err(sub.unexpected(None));
        }
        self.leave();
        Ok(list)
    }

    /// After `$'`: bash's ANSI-C quoting (`\n`, `\t`, `\x41`, `\0101`...).
    fn ansi_c_string(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.cur() else {
                return Err(err(SyntaxError::UnterminatedQuote, self.line, true));
            };
            self.pos += 1;
            match c {
                '\'' => return Ok(out),
                '\\' => {
                    let Some(e) = self.cur() else { continue };
                    self.pos += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\x07'),
                        'b' => out.push('\x08'),
                        'e' | 'E' => out.push('\x1b'),
                        'f' => out.push('\x0c'),
                        'v' => out.push('\x0b'),
                        'x' => {
                            let mut n = 0u32;
                            let mut digits = 0;
                            while digits < 2
                                && let Some(d) = self.cur().and_then(|c| c.to_digit(16))
                            {
                                n = n * 16 + d;
                                self.pos += 1;
                                digits += 1;
                            }
                            out.push(char::from_u32(n).unwrap_or('?'));
                        }
                        '0'..='7' => {
                            let mut n = e.to_digit(8).unwrap_or(0);
                            let mut digits = 1;
                            while digits < 3
                                && let Some(d) = self.cur().and_then(|c| c.to_digit(8))
                            {
                                n = n * 8 + d;
                                self.pos += 1;
                                digits += 1;
                            }
                            out.push(char::from_u32(n).unwrap_or('?'));
                        }
                        other => {
                            if !matches!(other, '\\' | '\'' | '"' | '?') {
                                out.push('\\');
                            }
                            out.push(other);
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    /// After `${`: the parameter and its operator, through the `}`.
    fn brace_param(&mut self, quoted: bool) -> Result<ParamExp, ParseError> {
        let bad = |p: &Parser| err(SyntaxError::BadSubstitution, p.line, false);
        // `${#name}`: the length (but `${#}` is `$#`).
        let length = self.cur() == Some('#')
            && self.at(1).is_some_and(|c| {
                c != '}' && (c == '_' || c.is_ascii_alphanumeric() || "@*?$!-#".contains(c))
            });
        if length {
            self.pos += 1;
        }
        let name = self.param_name().ok_or_else(|| bad(self))?;
        if length {
            if self.cur() != Some('}') {
                return Err(bad(self));
            }
            self.pos += 1;
            return Ok(ParamExp {
                name,
                op: ParamOp::Length,
            });
        }
        let Some(c) = self.cur() else {
            return Err(err(
                SyntaxError::Unexpected {
                    found: Found::Eof,
                    text: "EOF".into(),
                    expecting: Some("}"),
                },
                self.line,
                true,
            ));
        };
        let colon = c == ':' && self.at(1).is_some_and(|n| "-=?+".contains(n));
        if colon {
            self.pos += 1;
        }
        let op_char = self.cur().unwrap_or('}');
        let op = match op_char {
            '}' => {
                self.pos += 1;
                return Ok(ParamExp {
                    name,
                    op: ParamOp::Plain,
                });
            }
            '-' | '=' | '?' | '+' => {
                self.pos += 1;
                let word = self.brace_word(&['}'], quoted)?;
                match op_char {
                    '-' => ParamOp::Default { colon, word },
                    '=' => ParamOp::Assign { colon, word },
                    '?' => ParamOp::Error { colon, word },
                    _ => ParamOp::Alternative { colon, word },
                }
            }
            '#' | '%' => {
                self.pos += 1;
                let longest = self.cur() == Some(op_char);
                if longest {
                    self.pos += 1;
                }
                let pattern = self.brace_word(&['}'], quoted)?;
                if op_char == '#' {
                    ParamOp::RemovePrefix { longest, pattern }
                } else {
                    ParamOp::RemoveSuffix { longest, pattern }
                }
            }
            ':' => {
                self.pos += 1;
                let offset = self.brace_word(&[':', '}'], true)?;
                let length = if self.cur() == Some(':') {
                    self.pos += 1;
                    Some(self.brace_word(&['}'], true)?)
                } else {
                    None
                };
                ParamOp::Substring { offset, length }
            }
            '/' => {
                self.pos += 1;
                let (all, anchor) = match self.cur() {
                    Some('/') => {
                        self.pos += 1;
                        (true, None)
                    }
                    Some(a @ ('#' | '%')) => {
                        self.pos += 1;
                        (false, Some(a))
                    }
                    _ => (false, None),
                };
                let pattern = self.brace_word(&['/', '}'], quoted)?;
                let replacement = if self.cur() == Some('/') {
                    self.pos += 1;
                    self.brace_word(&['}'], quoted)?
                } else {
                    Word::default()
                };
                ParamOp::Replace {
                    all,
                    anchor,
                    pattern,
                    replacement,
                }
            }
            '^' | ',' if self.bash => {
                self.pos += 1;
                let all = self.cur() == Some(op_char);
                if all {
                    self.pos += 1;
                }
                ParamOp::Case {
                    upper: op_char == '^',
                    all,
                }
            }
            _ => return Err(bad(self)),
        };
        if self.cur() != Some('}') {
            return Err(err(
                SyntaxError::Unexpected {
                    found: Found::Eof,
                    text: "EOF".into(),
                    expecting: Some("}"),
                },
                self.line,
                true,
            ));
        }
        self.pos += 1;
        Ok(ParamExp { name, op })
    }

    fn brace_word(&mut self, terms: &[char], quoted: bool) -> Result<Word, ParseError> {
        self.word(terms, quoted)
    }

    fn param_name(&mut self) -> Option<String> {
        let c = self.cur()?;
        if c == '_' || c.is_ascii_alphabetic() {
            let start = self.pos;
            while self
                .cur()
                .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
            {
                self.pos += 1;
            }
            return Some(self.src[start..self.pos].iter().collect());
        }
        if c.is_ascii_digit() {
            let start = self.pos;
            while self.cur().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            return Some(self.src[start..self.pos].iter().collect());
        }
        if "@*#?-$!".contains(c) {
            self.pos += 1;
            return Some(c.to_string());
        }
        None
    }

    fn heredoc_word(&mut self) -> Result<Word, ParseError> {
        let mut parts = vec![Part::Lit {
            text: String::new(),
            quoted: true,
        }];
        while let Some(c) = self.cur() {
            match c {
                '\\' => {
                    match self.at(1) {
                        Some('\n') => {}
                        Some(n @ ('$' | '`' | '\\')) => push_lit(&mut parts, n, true),
                        Some(n) => {
                            push_lit(&mut parts, '\\', true);
                            push_lit(&mut parts, n, true);
                        }
                        None => push_lit(&mut parts, '\\', true),
                    }
                    self.pos += 2;
                }
                '$' => self.dollar(&mut parts, true)?,
                '`' => {
                    let list = self.backquote(true)?;
                    parts.push(Part::Command {
                        list: Arc::new(list),
                        quoted: true,
                    });
                }
                c => {
                    push_lit(&mut parts, c, true);
                    self.pos += 1;
                }
            }
        }
        Ok(Word { parts })
    }
}

impl ParseError {
    fn with_expecting(mut self, expecting: &'static str) -> ParseError {
        if let SyntaxError::Unexpected {
            found: Found::Eof,
            expecting: e,
            ..
        } = &mut self.error
        {
            *e = Some(expecting);
        }
        self
    }
}

fn push_lit(parts: &mut Vec<Part>, c: char, quoted: bool) {
    if let Some(Part::Lit { text, quoted: q }) = parts.last_mut()
        && *q == quoted
    {
        text.push(c);
        return;
    }
    parts.push(Part::Lit {
        text: c.to_string(),
        quoted,
    });
}

/// `NAME=value` (or `NAME+=value`) as an assignment, if `w` is one.
fn assignment(w: &Word) -> Option<Assign> {
    let Some(Part::Lit {
        text,
        quoted: false,
    }) = w.parts.first()
    else {
        return None;
    };
    let eq = text.find('=')?;
    let (mut name, append) = (&text[..eq], false);
    let append = if let Some(n) = name.strip_suffix('+') {
        name = n;
        true
    } else {
        append
    };
    if !is_name(name) {
        return None;
    }
    let mut parts = Vec::new();
    let rest = &text[eq + 1..];
    if !rest.is_empty() {
        parts.push(Part::Lit {
            text: rest.to_string(),
            quoted: false,
        });
    }
    parts.extend(w.parts[1..].iter().cloned());
    Some(Assign {
        name: name.to_string(),
        value: Word { parts },
        append,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> List {
        parse(s, false).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
    }

    fn ash_err(s: &str) -> String {
        parse(s, false).unwrap_err().ash_message()
    }

    #[test]
    fn lists_pipelines_and_compounds() {
        let l = ok("a | b && c || d; e &\nf");
        assert_eq!(l.len(), 3);
        assert!(l[1].background);
        assert_eq!(l[0].and_or.first.commands.len(), 2);
        assert_eq!(l[0].and_or.rest.len(), 2);
        ok("if a; then b; elif c; then d; else e; fi");
        ok("while true; do x=1; done; until false; do :; done");
        ok("for i in 1 2 3; do echo $i; done; for j; do :; done");
        ok("case $x in a|b) echo ab;; (c) ;; *) echo other; esac");
        ok("case x in\n  a) echo a\n  ;;\nesac");
        ok("{ a; b; } > f 2>&1; (cd /; ls)");
        ok("f() { echo $1; }; f x");
        ok("echo ${x:-def} ${#x} ${x#*/} ${x%%.*} ${x/a/b} ${x:1:2} $((1 + $y))");
        ok("cat <<EOF\nhello $USER\nEOF\necho after");
        ok("cat <<-'EOF' | wc -l\n\tone\n\tEOF\n");
        ok("echo $(echo $(echo deep)) `echo back` \"$(date +%s)\"");
        ok("x=$(case y in y) echo yes;; esac)");
    }

    #[test]
    fn heredoc_bodies_are_cut_from_the_script() {
        let l = ok("cat <<A; cat <<B\n1\nA\n2\nB\necho end");
        assert_eq!(l.len(), 3);
        let Command::Simple(c) = &l[0].and_or.first.commands[0] else {
            panic!()
        };
        assert_eq!(c.redirects[0].op, RedirOp::HereDoc);
        assert_eq!(l[2].and_or.first.line, 6);
    }

    #[test]
    fn ash_error_messages() {
        assert_eq!(
            ash_err("while true; do echo"),
            "unexpected end of file (expecting \"done\")"
        );
        assert_eq!(ash_err("fi"), "unexpected \"fi\"");
        assert_eq!(ash_err("echo 'x"), "unterminated quoted string");
        assert_eq!(ash_err("if true; then fi"), "unexpected \"fi\"");
        assert_eq!(ash_err("for 1 in a; do :; done"), "bad for loop variable");
        assert_eq!(ash_err("echo ${x!}"), "bad substitution");
        assert_eq!(ash_err("echo $((1+"), "missing '))'");
        assert_eq!(ash_err("a && "), "unexpected end of file");
        assert!(parse("echo 'x", false).unwrap_err().incomplete);
        assert!(parse("for i in 1; do", false).unwrap_err().incomplete);
        assert!(!parse("fi", false).unwrap_err().incomplete);
        assert_eq!(
            parse("if true; then fi", true).unwrap_err().bash_message(),
            "syntax error near unexpected token `fi'"
        );
    }

    #[test]
    fn bash_syntax() {
        assert!(parse("[[ $a == b* && -n $c ]]", true).is_ok());
        assert!(parse("(( i++ ))", true).is_ok());
        assert!(parse("[[ $x =~ ^(a|b)$ ]]", true).is_ok());
        assert!(parse("cat <<< \"$x\"", true).is_ok());
        assert!(parse("function f { echo; }", true).is_ok());
        // In ash `[[` is a command and `<` a redirection.
        assert!(parse("[[ a < b ]]", false).is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        assert!(parse(&"{ ".repeat(100_000), false).is_err());
        assert!(parse(&"$(".repeat(10_000), false).is_err());
        assert!(parse(&"echo ${x:-".repeat(10_000), false).is_err());
        assert!(parse(&"`".repeat(10_001), false).is_err());
    }
}
