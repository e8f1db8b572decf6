//! The SQL the emulated PostgreSQL understands: a lexer and a parser for the
//! statements the course and a curious learner type (tables, roles, grants,
//! `DO` blocks, `INSERT`/`SELECT`/`UPDATE`/`DELETE` on one table, `NOTIFY`,
//! transactions, `SET`/`SHOW`). Anything else is a clear error, never a panic.

use std::fmt;

/// A parse error: PostgreSQL's wording (`syntax error at or near "x"`) and
/// the 1-based character position it points at, when known.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub position: Option<usize>,
    /// SQLSTATE: 42601 for syntax errors, 0A000 for what the emulation lacks.
    pub code: &'static str,
}

impl SyntaxError {
    fn at(token: &Tok) -> Self {
        let near = match &token.kind {
            Kind::End => return Self::end(token.pos),
            Kind::Str(_) => token.text.clone(),
            _ => token.text.clone(),
        };
        Self {
            message: format!("syntax error at or near \"{near}\""),
            position: Some(token.pos),
            code: "42601",
        }
    }

    fn end(pos: usize) -> Self {
        Self {
            message: "syntax error at end of input".to_string(),
            position: Some(pos),
            code: "42601",
        }
    }

    /// A statement PostgreSQL has but this emulation does not.
    pub fn unsupported(what: &str, pos: usize) -> Self {
        Self {
            message: format!(
                "{what} is not supported by the kubetutor sandbox's PostgreSQL emulation"
            ),
            position: Some(pos),
            code: "0A000",
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// An unquoted identifier or keyword, lowercased.
    Ident(String),
    /// A `"quoted"` identifier, case kept.
    Quoted(String),
    Str(String),
    Num(String),
    /// Operators and punctuation: `(`, `)`, `,`, `;`, `.`, `*`, `=`, `<>`,
    /// `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `/`, `%`, `||`, `::`.
    Op(&'static str),
    /// `$1`: parameters belong to the extended protocol, which is not spoken.
    Param,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    pub kind: Kind,
    /// The source text (for error messages).
    pub text: String,
    /// 1-based character position in the query.
    pub pos: usize,
}

const OPS: &[&str] = &[
    "::", "<>", "!=", "<=", ">=", "||", "(", ")", ",", ";", ".", "*", "=", "<", ">", "+", "-", "/",
    "%", "[", "]",
];

/// Splits a query into tokens. Comments (`--`, `/* */`) are skipped.
pub fn lex(sql: &str) -> Result<Vec<Tok>, SyntaxError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i = skip_block_comment(&chars, i)?;
            continue;
        }
        let (tok, next) = if (c == 'e' || c == 'E') && chars.get(i + 1) == Some(&'\'') {
            // E'..' strings: backslash escapes.
            let (text, used) = quoted_string(&chars[i + 1..], true)
                .ok_or_else(|| unterminated("quoted string", &chars[i..], pos))?;
            let tok = Tok {
                kind: Kind::Str(text),
                text: chars[i..i + 1 + used].iter().collect(),
                pos,
            };
            (tok, i + 1 + used)
        } else if c.is_alphabetic() || c == '_' {
            let mut end = i;
            while end < chars.len()
                && (chars[end].is_alphanumeric() || chars[end] == '_' || chars[end] == '$')
            {
                end += 1;
            }
            let text: String = chars[i..end].iter().collect();
            let tok = Tok {
                kind: Kind::Ident(text.to_lowercase()),
                text,
                pos,
            };
            (tok, end)
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            lex_number(&chars, i)
        } else if c == '\'' {
            let (text, used) = quoted_string(&chars[i..], false)
                .ok_or_else(|| unterminated("quoted string", &chars[i..], pos))?;
            let tok = Tok {
                kind: Kind::Str(text),
                text: chars[i..i + used].iter().collect(),
                pos,
            };
            (tok, i + used)
        } else if c == '"' {
            lex_quoted_identifier(&chars, i)?
        } else if let Some(found) = (c == '$')
            .then(|| lex_dollar(&chars, i))
            .transpose()?
            .flatten()
        {
            found
        } else {
            lex_operator(&chars, i)?
        };
        toks.push(tok);
        i = next;
    }
    toks.push(Tok {
        kind: Kind::End,
        text: String::new(),
        pos: chars.len() + 1,
    });
    Ok(toks)
}

/// Skips a `/* */` comment (they nest); returns where the text goes on.
fn skip_block_comment(chars: &[char], start: usize) -> Result<usize, SyntaxError> {
    let mut i = start;
    let mut depth = 0usize;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    if depth > 0 {
        return Err(SyntaxError {
            message: "unterminated /* comment at or near \"/*\"".to_string(),
            position: Some(start + 1),
            code: "42601",
        });
    }
    Ok(i)
}

/// `12`, `1.5`, `.5`, `1e10`: the token and where the text goes on.
fn lex_number(chars: &[char], start: usize) -> (Tok, usize) {
    let mut i = start;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = chars[start..i].iter().collect();
    let tok = Tok {
        kind: Kind::Num(text.clone()),
        text,
        pos: start + 1,
    };
    (tok, i)
}

/// `"Name"`, with `""` for a quote inside.
fn lex_quoted_identifier(chars: &[char], start: usize) -> Result<(Tok, usize), SyntaxError> {
    let pos = start + 1;
    let mut j = start + 1;
    let mut text = String::new();
    let mut closed = false;
    while j < chars.len() {
        if chars[j] == '"' {
            if chars.get(j + 1) == Some(&'"') {
                text.push('"');
                j += 2;
                continue;
            }
            closed = true;
            j += 1;
            break;
        }
        text.push(chars[j]);
        j += 1;
    }
    if !closed {
        return Err(unterminated("quoted identifier", &chars[start..], pos));
    }
    if text.is_empty() {
        return Err(SyntaxError {
            message: "zero-length delimited identifier at or near \"\"\"\"".to_string(),
            position: Some(pos),
            code: "42601",
        });
    }
    let tok = Tok {
        kind: Kind::Quoted(text),
        text: chars[start..j].iter().collect(),
        pos,
    };
    Ok((tok, j))
}

/// `$1` parameters and `$tag$ ... $tag$` dollar quoting; None for a `$`
/// that is neither.
fn lex_dollar(chars: &[char], start: usize) -> Result<Option<(Tok, usize)>, SyntaxError> {
    let pos = start + 1;
    if chars.get(start + 1).is_some_and(char::is_ascii_digit) {
        let mut i = start + 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let tok = Tok {
            kind: Kind::Param,
            text: chars[start..i].iter().collect(),
            pos,
        };
        return Ok(Some((tok, i)));
    }
    let mut j = start + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if chars.get(j) != Some(&'$') {
        return Ok(None);
    }
    let tag = &chars[start..=j];
    let body_start = j + 1;
    let Some(end) = (body_start..=chars.len().saturating_sub(tag.len()))
        .find(|&k| chars[k..k + tag.len()] == *tag)
    else {
        return Err(unterminated("dollar-quoted string", &chars[start..], pos));
    };
    let tok = Tok {
        kind: Kind::Str(chars[body_start..end].iter().collect()),
        text: chars[start..end + tag.len()].iter().collect(),
        pos,
    };
    Ok(Some((tok, end + tag.len())))
}

/// An operator or punctuation, or the syntax error at anything else.
fn lex_operator(chars: &[char], i: usize) -> Result<(Tok, usize), SyntaxError> {
    let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
    match OPS.iter().find(|op| rest.starts_with(**op)) {
        Some(op) => {
            let tok = Tok {
                kind: Kind::Op(op),
                text: op.to_string(),
                pos: i + 1,
            };
            Ok((tok, i + op.chars().count()))
        }
        None => Err(SyntaxError {
            message: format!("syntax error at or near \"{}\"", chars[i]),
            position: Some(i + 1),
            code: "42601",
        }),
    }
}

fn unterminated(what: &str, rest: &[char], pos: usize) -> SyntaxError {
    let near: String = rest.iter().take(40).collect();
    SyntaxError {
        message: format!("unterminated {what} at or near \"{near}\""),
        position: Some(pos),
        code: "42601",
    }
}

/// Reads `'...'` at the start of `chars` (`''` is a quote; with
/// `backslash`, `\n`, `\t`, `\\` and `\'` too). Returns the text and the
/// number of chars used, or None when unterminated.
fn quoted_string(chars: &[char], backslash: bool) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut j = 1;
    while j < chars.len() {
        let c = chars[j];
        if c == '\'' {
            if chars.get(j + 1) == Some(&'\'') {
                text.push('\'');
                j += 2;
                continue;
            }
            return Some((text, j + 1));
        }
        if backslash && c == '\\' {
            let next = chars.get(j + 1).copied()?;
            text.push(match next {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
            j += 2;
            continue;
        }
        text.push(c);
        j += 1;
    }
    None
}

/// Splits a query string into statements at top-level `;` (quotes, dollar
/// quotes and comments respected). Returns each statement's text (without
/// the `;`) and where it starts; blank statements are dropped.
pub fn split_statements(sql: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut depth = 0i32;
    let push = |out: &mut Vec<(String, usize)>, from: usize, to: usize| {
        let text: String = chars[from..to].iter().collect();
        if !only_comments(&text) {
            out.push((text, from));
        }
    };
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            '$' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let digits_only = chars[i + 1..j.min(chars.len())]
                    .iter()
                    .all(char::is_ascii_digit);
                if chars.get(j) == Some(&'$') && !(digits_only && j > i + 1) {
                    let tag: Vec<char> = chars[i..=j].to_vec();
                    let mut k = j + 1;
                    let mut found = None;
                    while k + tag.len() <= chars.len() {
                        if chars[k..k + tag.len()] == tag[..] {
                            found = Some(k + tag.len());
                            break;
                        }
                        k += 1;
                    }
                    i = found.unwrap_or(chars.len());
                } else {
                    i += 1;
                }
            }
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth -= 1;
                i += 1;
            }
            ';' if depth <= 0 => {
                push(&mut out, start, i);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < chars.len() {
        push(&mut out, start, chars.len());
    }
    out
}

/// True when `text` holds nothing but whitespace and comments.
pub fn only_comments(text: &str) -> bool {
    matches!(lex(text), Ok(toks) if toks.len() == 1)
}

// ---------------------------------------------------------------------------
// The syntax tree

/// A possibly schema-qualified name: `customer`, `public.customer`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjName {
    pub schema: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The column types the emulation stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    Bpchar,
    Date,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
    Uuid,
    Name,
    Oid,
    /// A literal whose type is not settled yet (`'abc'`).
    Unknown,
}

impl SqlType {
    /// The type's OID, as sent in a RowDescription.
    pub fn oid(self) -> u32 {
        match self {
            SqlType::Bool => 16,
            SqlType::Name => 19,
            SqlType::Int8 => 20,
            SqlType::Int2 => 21,
            SqlType::Int4 => 23,
            SqlType::Text | SqlType::Unknown => 25,
            SqlType::Oid => 26,
            SqlType::Json => 114,
            SqlType::Float4 => 700,
            SqlType::Float8 => 701,
            SqlType::Bpchar => 1042,
            SqlType::Varchar => 1043,
            SqlType::Date => 1082,
            SqlType::Timestamp => 1114,
            SqlType::Timestamptz => 1184,
            SqlType::Numeric => 1700,
            SqlType::Uuid => 2950,
            SqlType::Jsonb => 3802,
        }
    }

    /// The type a RowDescription's OID names (for clients).
    pub fn from_oid(oid: u32) -> SqlType {
        match oid {
            16 => SqlType::Bool,
            19 => SqlType::Name,
            20 => SqlType::Int8,
            21 => SqlType::Int2,
            23 => SqlType::Int4,
            26 => SqlType::Oid,
            114 => SqlType::Json,
            700 => SqlType::Float4,
            701 => SqlType::Float8,
            1042 => SqlType::Bpchar,
            1043 => SqlType::Varchar,
            1082 => SqlType::Date,
            1114 => SqlType::Timestamp,
            1184 => SqlType::Timestamptz,
            1700 => SqlType::Numeric,
            2950 => SqlType::Uuid,
            3802 => SqlType::Jsonb,
            _ => SqlType::Text,
        }
    }

    /// The wire length of the type (-1 for variable).
    pub fn typlen(self) -> i16 {
        match self {
            SqlType::Bool => 1,
            SqlType::Int2 => 2,
            SqlType::Int4 | SqlType::Float4 | SqlType::Oid | SqlType::Date => 4,
            SqlType::Int8 | SqlType::Float8 | SqlType::Timestamp | SqlType::Timestamptz => 8,
            SqlType::Name => 64,
            SqlType::Uuid => 16,
            _ => -1,
        }
    }

    /// The name `\d` and `information_schema` show.
    pub fn display_name(self) -> &'static str {
        match self {
            SqlType::Bool => "boolean",
            SqlType::Int2 => "smallint",
            SqlType::Int4 => "integer",
            SqlType::Int8 => "bigint",
            SqlType::Float4 => "real",
            SqlType::Float8 => "double precision",
            SqlType::Numeric => "numeric",
            SqlType::Text | SqlType::Unknown => "text",
            SqlType::Varchar => "character varying",
            SqlType::Bpchar => "character",
            SqlType::Date => "date",
            SqlType::Timestamp => "timestamp without time zone",
            SqlType::Timestamptz => "timestamp with time zone",
            SqlType::Json => "json",
            SqlType::Jsonb => "jsonb",
            SqlType::Uuid => "uuid",
            SqlType::Name => "name",
            SqlType::Oid => "oid",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SqlType::Int2
                | SqlType::Int4
                | SqlType::Int8
                | SqlType::Float4
                | SqlType::Float8
                | SqlType::Numeric
                | SqlType::Oid
        )
    }
}

/// A type as written in a column definition or a cast.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    pub ty: SqlType,
    /// `serial`/`bigserial`/`smallserial`: an integer with a sequence.
    pub serial: bool,
    /// `varchar(20)`, `char(3)`.
    pub length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: TypeName,
    pub not_null: bool,
    pub primary_key: bool,
    pub unique: bool,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    /// A number with a fraction or too big for i64, kept as written.
    Decimal(String),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A column, possibly qualified (`customer.name`: only the last part counts).
    Column(String),
    Binary(Box<Expr>, BinOp, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        insensitive: bool,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// A function call; `count(*)` has `star`.
    Func {
        name: String,
        args: Vec<Expr>,
        star: bool,
        distinct: bool,
    },
    Cast(Box<Expr>, TypeName),
    Exists(Box<Select>),
    /// `(SELECT ...)` giving one value.
    Subquery(Box<Select>),
    /// `CURRENT_USER`, `CURRENT_TIMESTAMP`...: SQL keywords that act as functions.
    Keyword(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Wildcard,
    Expr { expr: Expr, alias: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub desc: bool,
    /// `NULLS FIRST` (true) / `NULLS LAST` (false); default: nulls count as largest.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub items: Vec<SelectItem>,
    pub from: Option<ObjName>,
    pub filter: Option<Expr>,
    pub order: Vec<OrderItem>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Defaults,
}

/// Role attributes in `CREATE ROLE` / `ALTER ROLE`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleOptions {
    pub login: Option<bool>,
    pub superuser: Option<bool>,
    /// `PASSWORD 'x'` (Some(Some)) or `PASSWORD NULL` (Some(None)).
    pub password: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GrantObject {
    Tables(Vec<ObjName>),
    AllTablesInSchema(Vec<String>),
    Sequences(Vec<ObjName>),
    AllSequencesInSchema(Vec<String>),
    Schemas(Vec<String>),
    Database(Vec<String>),
    /// `GRANT role TO role`: membership.
    Roles(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateTable {
        name: ObjName,
        if_not_exists: bool,
        columns: Vec<ColumnDef>,
        primary_key: Vec<String>,
    },
    DropTable {
        names: Vec<ObjName>,
        if_exists: bool,
    },
    CreateRole {
        name: String,
        options: RoleOptions,
        /// `CREATE USER` logs in by default.
        user: bool,
    },
    AlterRole {
        name: String,
        options: RoleOptions,
    },
    DropRole {
        names: Vec<String>,
        if_exists: bool,
    },
    CreateDatabase {
        name: String,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    CreateSchema {
        name: String,
        if_not_exists: bool,
    },
    Grant {
        revoke: bool,
        /// Lowercase privilege names; `all` for ALL [PRIVILEGES].
        privileges: Vec<String>,
        object: GrantObject,
        roles: Vec<String>,
    },
    Do {
        body: String,
    },
    Notify {
        channel: String,
        payload: String,
    },
    Listen {
        channel: String,
    },
    Unlisten {
        channel: Option<String>,
    },
    Insert {
        table: ObjName,
        columns: Option<Vec<String>>,
        source: InsertSource,
        returning: Option<Vec<SelectItem>>,
    },
    Select(Select),
    Update {
        table: ObjName,
        sets: Vec<(String, Expr)>,
        filter: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    },
    Delete {
        table: ObjName,
        filter: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    },
    Truncate {
        tables: Vec<ObjName>,
    },
    Begin,
    Commit,
    Rollback,
    /// `SET [LOCAL|SESSION] name = value` (`SET ROLE x` has name `role`).
    Set {
        name: String,
        value: String,
        local: bool,
    },
    Reset {
        name: String,
    },
    Show {
        name: String,
    },
}

impl Statement {
    /// The command tag PostgreSQL answers with when the statement succeeds
    /// without rows to count.
    pub fn tag(&self) -> &'static str {
        match self {
            Statement::CreateTable { .. } => "CREATE TABLE",
            Statement::DropTable { .. } => "DROP TABLE",
            Statement::CreateRole { .. } => "CREATE ROLE",
            Statement::AlterRole { .. } => "ALTER ROLE",
            Statement::DropRole { .. } => "DROP ROLE",
            Statement::CreateDatabase { .. } => "CREATE DATABASE",
            Statement::DropDatabase { .. } => "DROP DATABASE",
            Statement::CreateSchema { .. } => "CREATE SCHEMA",
            Statement::Grant { revoke: false, .. } => "GRANT",
            Statement::Grant { revoke: true, .. } => "REVOKE",
            Statement::Do { .. } => "DO",
            Statement::Notify { .. } => "NOTIFY",
            Statement::Listen { .. } => "LISTEN",
            Statement::Unlisten { .. } => "UNLISTEN",
            Statement::Insert { .. } => "INSERT",
            Statement::Select(_) => "SELECT",
            Statement::Update { .. } => "UPDATE",
            Statement::Delete { .. } => "DELETE",
            Statement::Truncate { .. } => "TRUNCATE TABLE",
            Statement::Begin => "BEGIN",
            Statement::Commit => "COMMIT",
            Statement::Rollback => "ROLLBACK",
            Statement::Set { .. } => "SET",
            Statement::Reset { .. } => "RESET",
            Statement::Show { .. } => "SHOW",
        }
    }
}

// ---------------------------------------------------------------------------
// The parser

/// The deepest expression nesting accepted (the parser recurses).
const MAX_DEPTH: usize = 64;

pub struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Parses one statement (a trailing `;` is allowed).
pub fn parse_statement(sql: &str) -> Result<Statement, SyntaxError> {
    let mut p = Parser {
        toks: lex(sql)?,
        pos: 0,
        depth: 0,
    };
    let stmt = p.statement()?;
    p.eat_op(";");
    if !p.at_end() {
        return Err(SyntaxError::at(p.peek()));
    }
    Ok(stmt)
}

/// Parses an expression alone (tests, and PL/pgSQL conditions).
pub fn parse_expr(sql: &str) -> Result<Expr, SyntaxError> {
    let mut p = Parser {
        toks: lex(sql)?,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if !p.at_end() {
        return Err(SyntaxError::at(p.peek()));
    }
    Ok(e)
}

/// Words that end an expression or a select item (so they are never read
/// as an alias).
const CLAUSE_WORDS: &[&str] = &[
    "from",
    "where",
    "order",
    "limit",
    "offset",
    "group",
    "having",
    "returning",
    "and",
    "or",
    "not",
    "is",
    "in",
    "like",
    "ilike",
    "between",
    "as",
    "asc",
    "desc",
    "nulls",
    "then",
    "else",
    "end",
    "union",
    "on",
    "set",
    "values",
    "into",
    "loop",
];

impl Parser {
    fn peek(&self) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.min(last)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[(self.pos + n).min(last)]
    }

    fn advance(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn at_end(&self) -> bool {
        matches!(self.peek().kind, Kind::End)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, Kind::Ident(w) if w == kw)
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(&self.peek_at(n).kind, Kind::Ident(w) if w == kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SyntaxError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(SyntaxError::at(self.peek()))
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek().kind, Kind::Op(o) if o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), SyntaxError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(SyntaxError::at(self.peek()))
        }
    }

    /// An identifier (unquoted lowercased, or quoted as written).
    fn ident(&mut self) -> Result<String, SyntaxError> {
        match &self.peek().kind {
            Kind::Ident(w) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            Kind::Quoted(w) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(SyntaxError::at(self.peek())),
        }
    }

    fn obj_name(&mut self) -> Result<ObjName, SyntaxError> {
        let first = self.ident()?;
        if self.eat_op(".") {
            let second = self.ident()?;
            // database.schema.table: the database part must be the current
            // one; the emulation ignores it.
            if self.eat_op(".") {
                let third = self.ident()?;
                return Ok(ObjName {
                    schema: Some(second),
                    name: third,
                });
            }
            return Ok(ObjName {
                schema: Some(first),
                name: second,
            });
        }
        Ok(ObjName {
            schema: None,
            name: first,
        })
    }

    fn ident_list(&mut self) -> Result<Vec<String>, SyntaxError> {
        let mut v = vec![self.ident()?];
        while self.eat_op(",") {
            v.push(self.ident()?);
        }
        Ok(v)
    }

    fn obj_list(&mut self) -> Result<Vec<ObjName>, SyntaxError> {
        let mut v = vec![self.obj_name()?];
        while self.eat_op(",") {
            v.push(self.obj_name()?);
        }
        Ok(v)
    }

    /// A role name: an identifier, or `PUBLIC`/`CURRENT_USER`.
    fn role_name(&mut self) -> Result<String, SyntaxError> {
        self.ident()
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        match &self.peek().kind {
            Kind::Str(s) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(SyntaxError::at(self.peek())),
        }
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        let tok = self.peek().clone();
        let Kind::Ident(word) = &tok.kind else {
            if self.eat_op("(") {
                // (SELECT ...)
                let s = self.select_body()?;
                self.expect_op(")")?;
                return Ok(Statement::Select(s));
            }
            return Err(SyntaxError::at(&tok));
        };
        match word.as_str() {
            "create" => self.create(),
            "drop" => self.drop(),
            "alter" => self.alter(),
            "grant" => self.grant(false),
            "revoke" => self.grant(true),
            "do" => {
                self.pos += 1;
                if self.eat_kw("language") {
                    self.ident()?;
                }
                let body = self.string()?;
                if self.eat_kw("language") {
                    self.ident()?;
                }
                Ok(Statement::Do { body })
            }
            "notify" => {
                self.pos += 1;
                let channel = self.ident()?;
                let payload = if self.eat_op(",") {
                    self.string()?
                } else {
                    String::new()
                };
                Ok(Statement::Notify { channel, payload })
            }
            "listen" => {
                self.pos += 1;
                Ok(Statement::Listen {
                    channel: self.ident()?,
                })
            }
            "unlisten" => {
                self.pos += 1;
                if self.eat_op("*") {
                    return Ok(Statement::Unlisten { channel: None });
                }
                Ok(Statement::Unlisten {
                    channel: Some(self.ident()?),
                })
            }
            "insert" => self.insert(),
            "select" | "table" => {
                if word == "table" {
                    self.pos += 1;
                    let from = self.obj_name()?;
                    return Ok(Statement::Select(Select {
                        items: vec![SelectItem::Wildcard],
                        from: Some(from),
                        filter: None,
                        order: Vec::new(),
                        limit: None,
                        offset: None,
                    }));
                }
                Ok(Statement::Select(self.select_body()?))
            }
            "update" => self.update(),
            "delete" => self.delete(),
            "truncate" => {
                self.pos += 1;
                self.eat_kw("table");
                let tables = self.obj_list()?;
                self.eat_kw("restart");
                self.eat_kw("identity");
                self.eat_kw("cascade");
                Ok(Statement::Truncate { tables })
            }
            "begin" | "start" => {
                self.pos += 1;
                if word == "start" {
                    self.expect_kw("transaction")?;
                } else if !self.eat_kw("transaction") {
                    self.eat_kw("work");
                }
                self.skip_transaction_modes();
                Ok(Statement::Begin)
            }
            "commit" | "end" => {
                self.pos += 1;
                if !self.eat_kw("transaction") {
                    self.eat_kw("work");
                }
                Ok(Statement::Commit)
            }
            "rollback" | "abort" => {
                self.pos += 1;
                if !self.eat_kw("transaction") {
                    self.eat_kw("work");
                }
                Ok(Statement::Rollback)
            }
            "set" => self.set(),
            "reset" => {
                self.pos += 1;
                if self.eat_kw("all") {
                    return Ok(Statement::Reset {
                        name: "all".to_string(),
                    });
                }
                let name = self.setting_name()?;
                Ok(Statement::Reset { name })
            }
            "show" => {
                self.pos += 1;
                if self.eat_kw("all") {
                    return Ok(Statement::Show {
                        name: "all".to_string(),
                    });
                }
                let name = self.setting_name()?;
                Ok(Statement::Show { name })
            }
            "with" | "copy" | "explain" | "vacuum" | "analyze" | "comment" | "prepare"
            | "execute" | "deallocate" | "lock" | "call" | "merge" | "cluster" | "reindex"
            | "checkpoint" | "discard" | "savepoint" | "release" | "fetch" | "declare"
            | "close" | "move" | "load" | "import" | "refresh" | "security" | "reassign" => {
                Err(SyntaxError::unsupported(&word.to_uppercase(), tok.pos))
            }
            _ => Err(SyntaxError::at(&tok)),
        }
    }

    fn skip_transaction_modes(&mut self) {
        while !self.at_end() && !self.is_op(";") {
            self.pos += 1;
        }
    }

    fn setting_name(&mut self) -> Result<String, SyntaxError> {
        let mut name = self.ident()?;
        while self.eat_op(".") {
            name.push('.');
            name.push_str(&self.ident()?);
        }
        // `SHOW TIME ZONE`, `SET TIME ZONE`.
        if name == "time" && self.eat_kw("zone") {
            name = "timezone".to_string();
        }
        if name == "session" && self.eat_kw("authorization") {
            name = "session_authorization".to_string();
        }
        Ok(name)
    }

    fn set(&mut self) -> Result<Statement, SyntaxError> {
        self.pos += 1;
        let local = self.eat_kw("local");
        if !local {
            self.eat_kw("session");
        }
        let name = self.setting_name()?;
        if name == "role" || name == "session_authorization" {
            let value = match &self.peek().kind {
                Kind::Str(s) => s.clone(),
                Kind::Ident(s) | Kind::Quoted(s) => s.clone(),
                _ => return Err(SyntaxError::at(self.peek())),
            };
            self.pos += 1;
            return Ok(Statement::Set { name, value, local });
        }
        if name == "timezone" {
            let value = self.setting_value()?;
            return Ok(Statement::Set { name, value, local });
        }
        if !self.eat_kw("to") {
            self.expect_op("=")?;
        }
        let value = self.setting_value()?;
        Ok(Statement::Set { name, value, local })
    }

    /// A setting's value: words, strings and numbers, comma-separated.
    fn setting_value(&mut self) -> Result<String, SyntaxError> {
        let mut parts = Vec::new();
        loop {
            let t = self.peek().clone();
            let part = match &t.kind {
                Kind::Ident(s) | Kind::Quoted(s) | Kind::Str(s) | Kind::Num(s) => s.clone(),
                Kind::Op("-") => {
                    self.pos += 1;
                    let n = self.peek().clone();
                    match n.kind {
                        Kind::Num(s) => format!("-{s}"),
                        _ => return Err(SyntaxError::at(&n)),
                    }
                }
                _ => return Err(SyntaxError::at(&t)),
            };
            self.pos += 1;
            parts.push(part);
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(parts.join(", "))
    }

    fn create(&mut self) -> Result<Statement, SyntaxError> {
        let start = self.peek().pos;
        self.pos += 1;
        if self.eat_kw("or") {
            self.expect_kw("replace")?;
            return Err(SyntaxError::unsupported("CREATE OR REPLACE", start));
        }
        let temp = self.eat_kw("temporary") || self.eat_kw("temp") || self.eat_kw("unlogged");
        if self.eat_kw("table") {
            let _ = temp;
            return self.create_table();
        }
        if self.eat_kw("role") || self.is_kw("user") || self.is_kw("group") {
            let user = self.eat_kw("user");
            if !user {
                self.eat_kw("group");
            }
            let name = self.role_name()?;
            let options = self.role_options()?;
            return Ok(Statement::CreateRole {
                name,
                options,
                user,
            });
        }
        if self.eat_kw("database") {
            let name = self.ident()?;
            // Options (OWNER, ENCODING...) are accepted and ignored.
            while !self.at_end() && !self.is_op(";") {
                self.pos += 1;
            }
            return Ok(Statement::CreateDatabase { name });
        }
        if self.eat_kw("schema") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            while !self.at_end() && !self.is_op(";") {
                self.pos += 1;
            }
            return Ok(Statement::CreateSchema {
                name,
                if_not_exists,
            });
        }
        let what = self.peek().text.to_uppercase();
        Err(SyntaxError::unsupported(&format!("CREATE {what}"), start))
    }

    fn if_not_exists(&mut self) -> Result<bool, SyntaxError> {
        if self.eat_kw("if") {
            self.expect_kw("not")?;
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_exists(&mut self) -> Result<bool, SyntaxError> {
        if self.eat_kw("if") {
            self.expect_kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn create_table(&mut self) -> Result<Statement, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.obj_name()?;
        self.expect_op("(")?;
        let mut columns = Vec::new();
        let mut primary_key = Vec::new();
        loop {
            if self.is_op(")") && columns.is_empty() {
                break;
            }
            if self.eat_kw("constraint") {
                self.ident()?;
            }
            if self.eat_kw("primary") {
                self.expect_kw("key")?;
                self.expect_op("(")?;
                primary_key = self.ident_list()?;
                self.expect_op(")")?;
            } else if self.eat_kw("unique") {
                self.expect_op("(")?;
                self.ident_list()?;
                self.expect_op(")")?;
            } else if self.is_kw("check") || self.is_kw("foreign") {
                let pos = self.peek().pos;
                return Err(SyntaxError::unsupported(
                    "table constraint CHECK/FOREIGN KEY",
                    pos,
                ));
            } else {
                columns.push(self.column_def()?);
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        Ok(Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            primary_key,
        })
    }

    fn column_def(&mut self) -> Result<ColumnDef, SyntaxError> {
        let name = self.ident()?;
        let ty = self.type_name()?;
        let mut col = ColumnDef {
            name,
            ty,
            not_null: false,
            primary_key: false,
            unique: false,
            default: None,
        };
        loop {
            if self.eat_kw("constraint") {
                self.ident()?;
            }
            if self.eat_kw("not") {
                self.expect_kw("null")?;
                col.not_null = true;
            } else if self.eat_kw("null") {
                col.not_null = false;
            } else if self.eat_kw("primary") {
                self.expect_kw("key")?;
                col.primary_key = true;
                col.not_null = true;
            } else if self.eat_kw("unique") {
                col.unique = true;
            } else if self.eat_kw("default") {
                col.default = Some(self.expr_prec(3)?);
            } else if self.is_kw("references") || self.is_kw("check") || self.is_kw("generated") {
                let pos = self.peek().pos;
                let what = self.peek().text.to_uppercase();
                return Err(SyntaxError::unsupported(
                    &format!("column constraint {what}"),
                    pos,
                ));
            } else {
                break;
            }
        }
        Ok(col)
    }

    fn type_name(&mut self) -> Result<TypeName, SyntaxError> {
        let tok = self.peek().clone();
        let word = self.ident()?;
        let mut serial = false;
        let ty = match word.as_str() {
            "serial" | "serial4" => {
                serial = true;
                SqlType::Int4
            }
            "bigserial" | "serial8" => {
                serial = true;
                SqlType::Int8
            }
            "smallserial" | "serial2" => {
                serial = true;
                SqlType::Int2
            }
            "int" | "integer" | "int4" => SqlType::Int4,
            "bigint" | "int8" => SqlType::Int8,
            "smallint" | "int2" => SqlType::Int2,
            "text" => SqlType::Text,
            "varchar" => SqlType::Varchar,
            "character" | "char" | "bpchar" => {
                if self.eat_kw("varying") {
                    SqlType::Varchar
                } else {
                    SqlType::Bpchar
                }
            }
            "boolean" | "bool" => SqlType::Bool,
            "real" | "float4" => SqlType::Float4,
            "float8" | "float" => SqlType::Float8,
            "double" => {
                self.expect_kw("precision")?;
                SqlType::Float8
            }
            "numeric" | "decimal" => SqlType::Numeric,
            "date" => SqlType::Date,
            "timestamptz" => SqlType::Timestamptz,
            "timestamp" => {
                // timestamp [(p)] [with|without time zone]
                if self.eat_op("(") {
                    self.advance();
                    self.expect_op(")")?;
                }
                if self.eat_kw("with") {
                    self.expect_kw("time")?;
                    self.expect_kw("zone")?;
                    SqlType::Timestamptz
                } else if self.eat_kw("without") {
                    self.expect_kw("time")?;
                    self.expect_kw("zone")?;
                    SqlType::Timestamp
                } else {
                    SqlType::Timestamp
                }
            }
            "json" => SqlType::Json,
            "jsonb" => SqlType::Jsonb,
            "uuid" => SqlType::Uuid,
            "name" => SqlType::Name,
            "oid" => SqlType::Oid,
            // `'customer_id_seq'::regclass` in serial defaults: kept as its name.
            "regclass" | "regrole" => SqlType::Text,
            _ => {
                return Err(SyntaxError {
                    message: format!("type \"{word}\" does not exist"),
                    position: Some(tok.pos),
                    code: "42704",
                });
            }
        };
        let mut length = None;
        if ty != SqlType::Timestamp && self.eat_op("(") {
            if let Kind::Num(n) = &self.peek().kind {
                length = n.parse().ok();
            }
            self.advance();
            if self.eat_op(",") {
                self.advance();
            }
            self.expect_op(")")?;
        }
        // Arrays (`text[]`) are not stored.
        if self.is_op("[") {
            return Err(SyntaxError::unsupported("array types", self.peek().pos));
        }
        Ok(TypeName { ty, serial, length })
    }

    fn role_options(&mut self) -> Result<RoleOptions, SyntaxError> {
        let mut o = RoleOptions::default();
        self.eat_kw("with");
        while let Kind::Ident(w) = &self.peek().kind {
            match w.as_str() {
                "login" => o.login = Some(true),
                "nologin" => o.login = Some(false),
                "superuser" => o.superuser = Some(true),
                "nosuperuser" => o.superuser = Some(false),
                "password" => {
                    self.pos += 1;
                    if self.eat_kw("null") {
                        o.password = Some(None);
                    } else {
                        o.password = Some(Some(self.string()?));
                    }
                    continue;
                }
                "encrypted" => {}
                "inherit" | "noinherit" | "createdb" | "nocreatedb" | "createrole"
                | "nocreaterole" | "replication" | "noreplication" | "bypassrls"
                | "nobypassrls" => {}
                "connection" | "valid" | "in" | "role" | "admin" | "user" => {
                    let pos = self.peek().pos;
                    return Err(SyntaxError::unsupported(
                        &format!("role option {}", w.to_uppercase()),
                        pos,
                    ));
                }
                _ => break,
            }
            self.pos += 1;
        }
        Ok(o)
    }

    fn drop(&mut self) -> Result<Statement, SyntaxError> {
        let start = self.peek().pos;
        self.pos += 1;
        if self.eat_kw("table") {
            let if_exists = self.if_exists()?;
            let names = self.obj_list()?;
            let _ = self.eat_kw("cascade") || self.eat_kw("restrict");
            return Ok(Statement::DropTable { names, if_exists });
        }
        if self.eat_kw("role") || self.eat_kw("user") || self.eat_kw("group") {
            let if_exists = self.if_exists()?;
            let names = self.ident_list()?;
            return Ok(Statement::DropRole { names, if_exists });
        }
        if self.eat_kw("database") {
            let if_exists = self.if_exists()?;
            let name = self.ident()?;
            return Ok(Statement::DropDatabase { name, if_exists });
        }
        let what = self.peek().text.to_uppercase();
        Err(SyntaxError::unsupported(&format!("DROP {what}"), start))
    }

    fn alter(&mut self) -> Result<Statement, SyntaxError> {
        let start = self.peek().pos;
        self.pos += 1;
        if self.eat_kw("role") || self.eat_kw("user") {
            let name = self.role_name()?;
            let options = self.role_options()?;
            return Ok(Statement::AlterRole { name, options });
        }
        let what = self.peek().text.to_uppercase();
        Err(SyntaxError::unsupported(&format!("ALTER {what}"), start))
    }

    fn grant(&mut self, revoke: bool) -> Result<Statement, SyntaxError> {
        self.pos += 1;
        let mut privileges = Vec::new();
        if self.eat_kw("all") {
            self.eat_kw("privileges");
            privileges.push("all".to_string());
        } else {
            loop {
                let w = self.ident()?;
                privileges.push(w);
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        let object = if self.eat_kw("on") {
            if self.eat_kw("all") {
                let tables = if self.eat_kw("tables") {
                    true
                } else if self.eat_kw("sequences") {
                    false
                } else {
                    return Err(SyntaxError::at(self.peek()));
                };
                self.expect_kw("in")?;
                self.expect_kw("schema")?;
                let schemas = self.ident_list()?;
                if tables {
                    GrantObject::AllTablesInSchema(schemas)
                } else {
                    GrantObject::AllSequencesInSchema(schemas)
                }
            } else if self.eat_kw("schema") {
                GrantObject::Schemas(self.ident_list()?)
            } else if self.eat_kw("sequence") {
                GrantObject::Sequences(self.obj_list()?)
            } else if self.eat_kw("database") {
                GrantObject::Database(self.ident_list()?)
            } else {
                self.eat_kw("table");
                GrantObject::Tables(self.obj_list()?)
            }
        } else {
            // GRANT role TO role
            GrantObject::Roles(std::mem::take(&mut privileges))
        };
        if revoke {
            self.expect_kw("from")?;
        } else {
            self.expect_kw("to")?;
        }
        let mut roles = vec![self.role_name()?];
        while self.eat_op(",") {
            roles.push(self.role_name()?);
        }
        // WITH GRANT OPTION, CASCADE...
        while !self.at_end() && !self.is_op(";") {
            self.pos += 1;
        }
        Ok(Statement::Grant {
            revoke,
            privileges,
            object,
            roles,
        })
    }

    fn insert(&mut self) -> Result<Statement, SyntaxError> {
        self.pos += 1;
        self.expect_kw("into")?;
        let table = self.obj_name()?;
        // INSERT INTO t AS alias
        if self.eat_kw("as") {
            self.ident()?;
        }
        let columns = if self.is_op("(") && !self.is_kw_at(1, "select") {
            self.pos += 1;
            let cols = self.ident_list()?;
            self.expect_op(")")?;
            Some(cols)
        } else {
            None
        };
        let source = if self.eat_kw("default") {
            self.expect_kw("values")?;
            InsertSource::Defaults
        } else if self.eat_kw("values") {
            let mut rows = Vec::new();
            loop {
                self.expect_op("(")?;
                let mut row = Vec::new();
                loop {
                    if self.eat_kw("default") {
                        row.push(Expr::Keyword("default".to_string()));
                    } else {
                        row.push(self.expr()?);
                    }
                    if !self.eat_op(",") {
                        break;
                    }
                }
                self.expect_op(")")?;
                rows.push(row);
                if !self.eat_op(",") {
                    break;
                }
            }
            InsertSource::Values(rows)
        } else if self.is_kw("select") || self.is_op("(") {
            return Err(SyntaxError::unsupported(
                "INSERT ... SELECT",
                self.peek().pos,
            ));
        } else {
            return Err(SyntaxError::at(self.peek()));
        };
        if self.is_kw("on") {
            return Err(SyntaxError::unsupported("ON CONFLICT", self.peek().pos));
        }
        let returning = self.returning()?;
        Ok(Statement::Insert {
            table,
            columns,
            source,
            returning,
        })
    }

    fn returning(&mut self) -> Result<Option<Vec<SelectItem>>, SyntaxError> {
        if self.eat_kw("returning") {
            return Ok(Some(self.select_items()?));
        }
        Ok(None)
    }

    fn update(&mut self) -> Result<Statement, SyntaxError> {
        self.pos += 1;
        self.eat_kw("only");
        let table = self.obj_name()?;
        self.expect_kw("set")?;
        let mut sets = Vec::new();
        loop {
            let col = self.ident()?;
            self.expect_op("=")?;
            let e = if self.eat_kw("default") {
                Expr::Keyword("default".to_string())
            } else {
                self.expr()?
            };
            sets.push((col, e));
            if !self.eat_op(",") {
                break;
            }
        }
        if self.is_kw("from") {
            return Err(SyntaxError::unsupported("UPDATE ... FROM", self.peek().pos));
        }
        let filter = if self.eat_kw("where") {
            Some(self.expr()?)
        } else {
            None
        };
        let returning = self.returning()?;
        Ok(Statement::Update {
            table,
            sets,
            filter,
            returning,
        })
    }

    fn delete(&mut self) -> Result<Statement, SyntaxError> {
        self.pos += 1;
        self.expect_kw("from")?;
        self.eat_kw("only");
        let table = self.obj_name()?;
        if self.is_kw("using") {
            return Err(SyntaxError::unsupported(
                "DELETE ... USING",
                self.peek().pos,
            ));
        }
        let filter = if self.eat_kw("where") {
            Some(self.expr()?)
        } else {
            None
        };
        let returning = self.returning()?;
        Ok(Statement::Delete {
            table,
            filter,
            returning,
        })
    }

    fn select_items(&mut self) -> Result<Vec<SelectItem>, SyntaxError> {
        let mut items = Vec::new();
        loop {
            if self.eat_op("*") {
                items.push(SelectItem::Wildcard);
            } else if matches!(self.peek().kind, Kind::Ident(_) | Kind::Quoted(_))
                && matches!(self.peek_at(1).kind, Kind::Op("."))
                && matches!(self.peek_at(2).kind, Kind::Op("*"))
            {
                self.pos += 3;
                items.push(SelectItem::Wildcard);
            } else {
                let expr = self.expr()?;
                let alias = if self.eat_kw("as") {
                    Some(self.ident()?)
                } else {
                    match &self.peek().kind {
                        Kind::Ident(w) if !CLAUSE_WORDS.contains(&w.as_str()) => {
                            let w = w.clone();
                            self.pos += 1;
                            Some(w)
                        }
                        Kind::Quoted(w) => {
                            let w = w.clone();
                            self.pos += 1;
                            Some(w)
                        }
                        _ => None,
                    }
                };
                items.push(SelectItem::Expr { expr, alias });
            }
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(items)
    }

    fn select_body(&mut self) -> Result<Select, SyntaxError> {
        self.expect_kw("select")?;
        if self.eat_kw("distinct") {
            return Err(SyntaxError::unsupported("SELECT DISTINCT", self.peek().pos));
        }
        self.eat_kw("all");
        // `SELECT FROM t` (no columns) is valid PostgreSQL.
        let items = if self.is_kw("from") {
            Vec::new()
        } else {
            self.select_items()?
        };
        let from = if self.eat_kw("from") {
            self.eat_kw("only");
            let name = self.obj_name()?;
            if self.eat_kw("as") {
                self.ident()?;
            } else if let Kind::Ident(w) = &self.peek().kind
                && !CLAUSE_WORDS.contains(&w.as_str())
                && !matches!(
                    w.as_str(),
                    "join" | "inner" | "left" | "right" | "cross" | "full"
                )
            {
                self.pos += 1;
            }
            if self.is_op(",")
                || ["join", "inner", "left", "right", "cross", "full", "natural"]
                    .iter()
                    .any(|k| self.is_kw(k))
            {
                return Err(SyntaxError::unsupported("joins", self.peek().pos));
            }
            Some(name)
        } else {
            None
        };
        let filter = if self.eat_kw("where") {
            Some(self.expr()?)
        } else {
            None
        };
        if self.is_kw("group") || self.is_kw("having") {
            return Err(SyntaxError::unsupported("GROUP BY", self.peek().pos));
        }
        let mut order = Vec::new();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let expr = self.expr()?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                let nulls_first = if self.eat_kw("nulls") {
                    if self.eat_kw("first") {
                        Some(true)
                    } else {
                        self.expect_kw("last")?;
                        Some(false)
                    }
                } else {
                    None
                };
                order.push(OrderItem {
                    expr,
                    desc,
                    nulls_first,
                });
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        let mut limit = None;
        let mut offset = None;
        for _ in 0..2 {
            if self.eat_kw("limit") {
                limit = if self.eat_kw("all") {
                    None
                } else {
                    Some(self.expr()?)
                };
            } else if self.eat_kw("offset") {
                offset = Some(self.expr()?);
                let _ = self.eat_kw("rows") || self.eat_kw("row");
            }
        }
        if self.is_kw("union") || self.is_kw("intersect") || self.is_kw("except") {
            return Err(SyntaxError::unsupported("UNION", self.peek().pos));
        }
        if self.is_kw("for") {
            // FOR UPDATE: row locks mean nothing with one writer at a time.
            while !self.at_end() && !self.is_op(";") && !self.is_op(")") {
                self.pos += 1;
            }
        }
        Ok(Select {
            items,
            from,
            filter,
            order,
            limit,
            offset,
        })
    }

    // Expressions, by precedence (lowest first): OR, AND, NOT, comparison
    // and IS/LIKE/IN/BETWEEN, || and + -, * / %, unary minus, :: casts.

    pub fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.expr_prec(0)
    }

    fn expr_prec(&mut self, level: u8) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(SyntaxError {
                message: "stack depth limit exceeded".to_string(),
                position: Some(self.peek().pos),
                code: "54001",
            });
        }
        let r = self.expr_level(level);
        self.depth -= 1;
        r
    }

    fn expr_level(&mut self, level: u8) -> Result<Expr, SyntaxError> {
        match level {
            0 => {
                let mut e = self.expr_prec(1)?;
                while self.eat_kw("or") {
                    let r = self.expr_prec(1)?;
                    e = Expr::Binary(Box::new(e), BinOp::Or, Box::new(r));
                }
                Ok(e)
            }
            1 => {
                let mut e = self.expr_prec(2)?;
                while self.eat_kw("and") {
                    let r = self.expr_prec(2)?;
                    e = Expr::Binary(Box::new(e), BinOp::And, Box::new(r));
                }
                Ok(e)
            }
            2 => {
                if self.eat_kw("not") {
                    let e = self.expr_prec(2)?;
                    return Ok(Expr::Not(Box::new(e)));
                }
                self.expr_prec(3)
            }
            3 => self.comparison(),
            4 => {
                let mut e = self.expr_prec(5)?;
                loop {
                    let op = if self.eat_op("+") {
                        BinOp::Add
                    } else if self.eat_op("-") {
                        BinOp::Sub
                    } else if self.eat_op("||") {
                        BinOp::Concat
                    } else {
                        break;
                    };
                    let r = self.expr_prec(5)?;
                    e = Expr::Binary(Box::new(e), op, Box::new(r));
                }
                Ok(e)
            }
            5 => {
                let mut e = self.expr_prec(6)?;
                loop {
                    let op = if self.eat_op("*") {
                        BinOp::Mul
                    } else if self.eat_op("/") {
                        BinOp::Div
                    } else if self.eat_op("%") {
                        BinOp::Mod
                    } else {
                        break;
                    };
                    let r = self.expr_prec(6)?;
                    e = Expr::Binary(Box::new(e), op, Box::new(r));
                }
                Ok(e)
            }
            6 => {
                if self.eat_op("-") {
                    let e = self.expr_prec(6)?;
                    return Ok(match e {
                        Expr::Literal(Literal::Int(n)) => Expr::Literal(Literal::Int(-n)),
                        Expr::Literal(Literal::Decimal(d)) => {
                            Expr::Literal(Literal::Decimal(format!("-{d}")))
                        }
                        other => Expr::Neg(Box::new(other)),
                    });
                }
                if self.eat_op("+") {
                    return self.expr_prec(6);
                }
                let mut e = self.primary()?;
                while self.eat_op("::") {
                    let ty = self.type_name()?;
                    e = Expr::Cast(Box::new(e), ty);
                }
                Ok(e)
            }
            _ => self.primary(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.expr_prec(4)?;
        let op = match self.peek().kind {
            Kind::Op("=") => Some(BinOp::Eq),
            Kind::Op("<>") | Kind::Op("!=") => Some(BinOp::Ne),
            Kind::Op("<") => Some(BinOp::Lt),
            Kind::Op("<=") => Some(BinOp::Le),
            Kind::Op(">") => Some(BinOp::Gt),
            Kind::Op(">=") => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.expr_prec(4)?;
            return Ok(Expr::Binary(Box::new(left), op, Box::new(right)));
        }
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            if self.eat_kw("null") {
                return Ok(Expr::IsNull {
                    expr: Box::new(left),
                    negated,
                });
            }
            let value = if self.eat_kw("true") {
                true
            } else if self.eat_kw("false") {
                false
            } else {
                return Err(SyntaxError::at(self.peek()));
            };
            // x IS TRUE: never null.
            let cmp = Expr::Binary(
                Box::new(Expr::Func {
                    name: "coalesce".to_string(),
                    args: vec![
                        Expr::Binary(
                            Box::new(left),
                            BinOp::Eq,
                            Box::new(Expr::Literal(Literal::Bool(value))),
                        ),
                        Expr::Literal(Literal::Bool(false)),
                    ],
                    star: false,
                    distinct: false,
                }),
                BinOp::Eq,
                Box::new(Expr::Literal(Literal::Bool(!negated))),
            );
            return Ok(cmp);
        }
        let negated = if self.is_kw("not")
            && (self.is_kw_at(1, "like")
                || self.is_kw_at(1, "ilike")
                || self.is_kw_at(1, "in")
                || self.is_kw_at(1, "between"))
        {
            self.pos += 1;
            true
        } else {
            false
        };
        if self.is_kw("like") || self.is_kw("ilike") {
            let insensitive = self.is_kw("ilike");
            self.pos += 1;
            let pattern = self.expr_prec(4)?;
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                insensitive,
                negated,
            });
        }
        if self.eat_kw("in") {
            self.expect_op("(")?;
            if self.is_kw("select") {
                return Err(SyntaxError::unsupported("IN (SELECT ...)", self.peek().pos));
            }
            let mut list = vec![self.expr()?];
            while self.eat_op(",") {
                list.push(self.expr()?);
            }
            self.expect_op(")")?;
            return Ok(Expr::InList {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.eat_kw("between") {
            let low = self.expr_prec(4)?;
            self.expect_kw("and")?;
            let high = self.expr_prec(4)?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if negated {
            return Err(SyntaxError::at(self.peek()));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let tok = self.peek().clone();
        match &tok.kind {
            Kind::Num(n) => {
                self.pos += 1;
                let lit = if n.contains(['.', 'e', 'E']) {
                    Literal::Decimal(n.clone())
                } else {
                    match n.parse::<i64>() {
                        Ok(i) => Literal::Int(i),
                        Err(_) => Literal::Decimal(n.clone()),
                    }
                };
                Ok(Expr::Literal(lit))
            }
            Kind::Str(s) => {
                self.pos += 1;
                Ok(Expr::Literal(Literal::Str(s.clone())))
            }
            Kind::Param => Err(SyntaxError {
                message: format!("there is no parameter {}", tok.text),
                position: Some(tok.pos),
                code: "42P02",
            }),
            Kind::Op("(") => {
                self.pos += 1;
                if self.is_kw("select") {
                    let s = self.select_body()?;
                    self.expect_op(")")?;
                    return Ok(Expr::Subquery(Box::new(s)));
                }
                let e = self.expr()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Kind::Quoted(name) => {
                self.pos += 1;
                let mut name = name.clone();
                while self.eat_op(".") {
                    name = self.ident()?;
                }
                Ok(Expr::Column(name))
            }
            Kind::Ident(word) => self.word_primary(&tok, word.clone()),
            _ => Err(SyntaxError::at(&tok)),
        }
    }

    /// A primary that starts with a word: a keyword literal or
    /// construct, a function call, or a (qualified) column.
    fn word_primary(&mut self, tok: &Tok, word: String) -> Result<Expr, SyntaxError> {
        let call = matches!(self.peek_at(1).kind, Kind::Op("("));
        match word.as_str() {
            "null" | "true" | "false" => {
                self.pos += 1;
                return Ok(Expr::Literal(match word.as_str() {
                    "null" => Literal::Null,
                    w => Literal::Bool(w == "true"),
                }));
            }
            "exists" if call => {
                self.pos += 2;
                let s = self.select_body()?;
                self.expect_op(")")?;
                return Ok(Expr::Exists(Box::new(s)));
            }
            "cast" if call => {
                self.pos += 2;
                let e = self.expr()?;
                self.expect_kw("as")?;
                let ty = self.type_name()?;
                self.expect_op(")")?;
                return Ok(Expr::Cast(Box::new(e), ty));
            }
            "current_user" | "session_user" | "user" | "current_timestamp" | "current_date"
            | "localtimestamp" | "current_schema" | "current_catalog"
                if !call =>
            {
                self.pos += 1;
                return Ok(Expr::Keyword(word));
            }
            "case" => {
                return Err(SyntaxError::unsupported("CASE", tok.pos));
            }
            "interval" | "timestamp" | "timestamptz" | "date"
                if matches!(self.peek_at(1).kind, Kind::Str(_)) =>
            {
                // date '2024-01-01': a typed literal.
                let ty = self.type_name()?;
                let s = self.string()?;
                return Ok(Expr::Cast(Box::new(Expr::Literal(Literal::Str(s))), ty));
            }
            _ => {}
        }
        if CLAUSE_WORDS.contains(&word.as_str())
            || matches!(word.as_str(), "select" | "when" | "default")
        {
            return Err(SyntaxError::at(tok));
        }
        self.pos += 1;
        if self.eat_op("(") {
            let distinct = self.eat_kw("distinct");
            let (args, star) = self.call_args()?;
            // pg_catalog.now(): the schema part is dropped by the caller.
            return Ok(Expr::Func {
                name: word,
                args,
                star,
                distinct,
            });
        }
        let mut name = word;
        while self.eat_op(".") {
            if self.is_op("*") {
                return Err(SyntaxError::at(self.peek()));
            }
            let next = self.ident()?;
            if self.eat_op("(") {
                // schema.function(...)
                let (args, star) = self.call_args()?;
                return Ok(Expr::Func {
                    name: next,
                    args,
                    star,
                    distinct: false,
                });
            }
            name = next;
        }
        Ok(Expr::Column(name))
    }

    /// A call's arguments after its `(`, through the `)`: the arguments,
    /// and whether it was `(*)`.
    fn call_args(&mut self) -> Result<(Vec<Expr>, bool), SyntaxError> {
        let mut args = Vec::new();
        let mut star = false;
        if self.eat_op("*") {
            star = true;
        } else if !self.is_op(")") {
            args.push(self.expr()?);
            while self.eat_op(",") {
                args.push(self.expr()?);
            }
        }
        self.expect_op(")")?;
        Ok((args, star))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &str = r#"CREATE TABLE IF NOT EXISTS customer (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);
DO $do$
BEGIN
  CREATE ROLE web_anon NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
  RAISE NOTICE 'role web_anon already exists';
END
$do$;
GRANT USAGE ON SCHEMA public TO web_anon;
GRANT SELECT, INSERT ON customer TO web_anon;
GRANT USAGE ON SEQUENCE customer_id_seq TO web_anon;
NOTIFY pgrst, 'reload schema';
"#;

    #[test]
    fn splits_the_init_script_into_statements() {
        let parts = split_statements(INIT);
        assert_eq!(parts.len(), 6, "{parts:#?}");
        assert!(parts[1].0.contains("EXCEPTION WHEN duplicate_object"));
        for (text, _) in &parts {
            parse_statement(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn parses_the_init_script() {
        let parts = split_statements(INIT);
        let create = parse_statement(&parts[0].0).unwrap();
        let Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            ..
        } = create
        else {
            panic!("not a create table");
        };
        assert_eq!(name.name, "customer");
        assert!(if_not_exists);
        assert_eq!(columns.len(), 4);
        assert!(columns[0].ty.serial && columns[0].primary_key);
        assert!(columns[1].not_null);
        assert_eq!(columns[3].ty.ty, SqlType::Timestamptz);
        assert!(matches!(columns[3].default, Some(Expr::Func { ref name, .. }) if name == "now"));
        assert!(matches!(
            parse_statement(&parts[1].0).unwrap(),
            Statement::Do { ref body } if body.contains("CREATE ROLE web_anon NOLOGIN")
        ));
        assert!(matches!(
            parse_statement(&parts[3].0).unwrap(),
            Statement::Grant { ref privileges, object: GrantObject::Tables(_), .. }
                if privileges == &["select", "insert"]
        ));
        assert_eq!(
            parse_statement(&parts[5].0).unwrap(),
            Statement::Notify {
                channel: "pgrst".into(),
                payload: "reload schema".into()
            }
        );
    }

    #[test]
    fn selects_with_filters_order_and_limits() {
        let s = parse_statement(
            "SELECT id, name AS who FROM public.customer WHERE id >= 2 AND name ILIKE 'a%' \
             ORDER BY id DESC NULLS LAST LIMIT 10 OFFSET 1",
        )
        .unwrap();
        let Statement::Select(s) = s else { panic!() };
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.from.unwrap().schema.as_deref(), Some("public"));
        assert!(s.filter.is_some());
        assert!(s.order[0].desc);
        assert_eq!(s.limit, Some(Expr::Literal(Literal::Int(10))));
        assert!(parse_statement("select count(*) from customer;").is_ok());
        assert!(parse_statement("SELECT 1").is_ok());
        assert!(parse_statement("SELECT version()").is_ok());
        assert!(parse_statement("select * from customer where email is not null").is_ok());
        assert!(parse_statement("select now()::date, 'a' || 'b' as ab").is_ok());
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let e = parse_statement("SELEC * FROM customer").unwrap_err();
        assert_eq!(e.message, "syntax error at or near \"SELEC\"");
        assert_eq!(e.position, Some(1));
        let e = parse_statement("SELECT * FROM").unwrap_err();
        assert_eq!(e.message, "syntax error at end of input");
        let e = parse_statement("SELECT 'abc").unwrap_err();
        assert!(e.message.starts_with("unterminated quoted string"), "{e}");
        let e = parse_statement("SELECT * FROM a JOIN b ON true").unwrap_err();
        assert_eq!(e.code, "0A000");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let samples = [
            "",
            ";",
            "(",
            ")",
            "$",
            "$$",
            "$a",
            "'",
            "\"",
            "\"\"",
            "--",
            "/*",
            "1e",
            "..",
            "::",
            "select ((((((((((1",
            "insert into",
            "create table t (",
            "grant",
            "do",
            "set",
            "select * from t where",
            "select -",
            "select 1::",
            "update t set",
            "e'\\",
        ];
        for s in samples {
            let _ = parse_statement(s);
            let _ = split_statements(s);
        }
        let deep = format!("select {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse_statement(&deep).is_err());
    }

    #[test]
    fn splitting_respects_quotes_and_dollar_quotes() {
        let parts = split_statements("select 'a;b'; select $x$;$x$; -- c;\n select 3");
        assert_eq!(parts.len(), 3);
        assert_eq!(split_statements("  -- only a comment\n").len(), 0);
    }
}
