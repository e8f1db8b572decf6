//! The syntax tree of a shell script, as the parser builds it and the
//! interpreter walks it.

use std::sync::Arc;

/// A list: and-or lists separated by `;`, `&` or newlines.
pub type List = Vec<Item>;

/// One and-or list, run in the background when it ended with `&`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub and_or: AndOr,
    pub background: bool,
}

/// `a && b || c`.
#[derive(Debug, Clone, PartialEq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// `[!] a | b | c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub bang: bool,
    pub commands: Vec<Command>,
    /// The script line it starts on (`$LINENO`, error messages).
    pub line: u32,
    /// Its source text, for `ps` and job listings.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Simple(SimpleCommand),
    Compound(Compound, Vec<Redirect>),
    /// `name() { ...; }`: the body is shared by every call.
    Function {
        name: String,
        body: Arc<Command>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimpleCommand {
    pub assigns: Vec<Assign>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
    pub line: u32,
}

/// `NAME=value` before a command (or alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub name: String,
    pub value: Word,
    /// `NAME+=value` (bash).
    pub append: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Compound {
    Brace(List),
    Subshell(List),
    If {
        branches: Vec<(List, List)>,
        otherwise: Option<List>,
    },
    Loop {
        until: bool,
        cond: List,
        body: List,
    },
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: List,
    },
    Case {
        word: Word,
        arms: Vec<CaseArm>,
    },
    /// `(( expr ))` (bash).
    Arith(Word),
    /// `for ((init; cond; step))` (bash).
    ArithFor {
        init: Word,
        cond: Word,
        step: Word,
        body: List,
    },
    /// `[[ expr ]]` (bash).
    Cond(CondExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseArm {
    pub patterns: Vec<Word>,
    pub body: List,
    /// Ended with `;&` (bash): the next arm's body runs too.
    pub fallthrough: bool,
}

/// The expression of `[[ ... ]]`.
#[derive(Debug, Clone, PartialEq)]
pub enum CondExpr {
    Not(Box<CondExpr>),
    And(Box<CondExpr>, Box<CondExpr>),
    Or(Box<CondExpr>, Box<CondExpr>),
    Unary(String, Word),
    /// `a OP b`; for `==`/`!=` the right side is a pattern, for `=~` a
    /// regular expression.
    Binary(Word, String, Word),
    Word(Word),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The fd redirected (None: the operator's default, 0 or 1).
    pub fd: Option<u32>,
    pub op: RedirOp,
    pub target: Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`
    In,
    /// `>`
    Out,
    /// `>|`
    Clobber,
    /// `>>`
    Append,
    /// `<>`
    ReadWrite,
    /// `<&N`, `<&-`
    DupIn,
    /// `>&N`, `>&-`
    DupOut,
    /// `<<` / `<<-`: the target is the document's text.
    HereDoc,
    /// `<<<` (bash, ash): the target word plus a newline.
    HereString,
    /// `&>` (bash, ash): stdout and stderr to a file.
    OutErr,
    /// `&>>`
    AppendErr,
}

/// A word: parts that expand and join into one or more fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Word {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text; unquoted text is subject to globbing (and `~` at the
    /// start of a word).
    Lit { text: String, quoted: bool },
    /// `$name`, `${name...}`.
    Param { exp: Box<ParamExp>, quoted: bool },
    /// `$(...)` or backquotes.
    Command { list: Arc<List>, quoted: bool },
    /// `$((...))`: the expression, whose own `$` expansions come first.
    Arith { expr: Word, quoted: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamExp {
    pub name: String,
    pub op: ParamOp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamOp {
    Plain,
    /// `${#name}`
    Length,
    /// `${name:-w}` (colon: also when empty), `${name-w}`
    Default {
        colon: bool,
        word: Word,
    },
    /// `${name:=w}`
    Assign {
        colon: bool,
        word: Word,
    },
    /// `${name:?w}`
    Error {
        colon: bool,
        word: Word,
    },
    /// `${name:+w}`
    Alternative {
        colon: bool,
        word: Word,
    },
    /// `${name#p}` / `${name##p}`
    RemovePrefix {
        longest: bool,
        pattern: Word,
    },
    /// `${name%p}` / `${name%%p}`
    RemoveSuffix {
        longest: bool,
        pattern: Word,
    },
    /// `${name:offset:length}`
    Substring {
        offset: Word,
        length: Option<Word>,
    },
    /// `${name/p/r}`, `${name//p/r}`, `${name/#p/r}`, `${name/%p/r}`
    Replace {
        all: bool,
        anchor: Option<char>,
        pattern: Word,
        replacement: Word,
    },
    /// `${name^}`, `${name^^}`, `${name,}`, `${name,,}` (bash)
    Case {
        upper: bool,
        all: bool,
    },
}

impl Word {
    pub fn literal(text: &str) -> Word {
        Word {
            parts: vec![Part::Lit {
                text: text.to_string(),
                quoted: false,
            }],
        }
    }

    /// The word's text when it is plain unquoted literal text (keywords,
    /// names), else None.
    pub fn as_plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [
                Part::Lit {
                    text,
                    quoted: false,
                },
            ] => Some(text),
            _ => None,
        }
    }

    /// Whether any part was quoted (a quoted empty word is still a field).
    pub fn has_quotes(&self) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Lit { quoted, .. }
            | Part::Param { quoted, .. }
            | Part::Command { quoted, .. }
            | Part::Arith { quoted, .. } => *quoted,
        })
    }
}

/// Whether `s` is a valid variable name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
