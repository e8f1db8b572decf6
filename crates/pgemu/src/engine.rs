//! The database behind the emulated PostgreSQL server: roles, databases,
//! tables, sequences and privileges, executed statement by statement and
//! kept in real files under the server's data directory (`PGDATA`).
//!
//! Files: `PG_VERSION` and the usual skeleton that `initdb` creates, plus
//! `global/kubetutor_catalog.json` (roles, databases) and
//! `base/<oid>/kubetutor_data.json` (one database's tables and sequences),
//! each rewritten atomically after every committed change. So the data is
//! exactly as durable as the directory: gone with a container's writable
//! layer, kept on a persistent volume.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::password::{self, Secret};
use super::sql::{
    self, BinOp, ColumnDef, Expr, GrantObject, InsertSource, Literal, ObjName, OrderItem,
    RoleOptions, Select, SelectItem, SqlType, Statement, SyntaxError,
};
use super::value::{self, Value, ValueError};
use super::{hba, plpgsql, scram};

/// The server version the emulation reports (the image's PostgreSQL 16).
pub const SERVER_VERSION: &str = "16.13";
/// What `SELECT version()` answers on the alpine image.
pub const VERSION_STRING: &str =
    "PostgreSQL 16.13 on x86_64-pc-linux-musl, compiled by gcc (Alpine 14.2.0) 14.2.0, 64-bit";

const CATALOG_FILE: &str = "global/kubetutor_catalog.json";
const DATA_FILE: &str = "kubetutor_data.json";

/// An error reported to the client (an ErrorResponse).
#[derive(Debug, Clone, PartialEq)]
pub struct DbError {
    /// `ERROR` or `FATAL`.
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the statement.
    pub position: Option<usize>,
}

impl DbError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: "ERROR",
            code,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }

    pub fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: "FATAL",
            ..Self::new(code, message)
        }
    }

    fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    fn undefined_table(name: &ObjName) -> Self {
        Self::new("42P01", format!("relation \"{name}\" does not exist"))
    }
}

impl From<SyntaxError> for DbError {
    fn from(e: SyntaxError) -> Self {
        Self {
            position: e.position,
            ..Self::new(e.code, e.message)
        }
    }
}

impl From<ValueError> for DbError {
    fn from(e: ValueError) -> Self {
        Self::new(e.code, e.message)
    }
}

/// A NoticeResponse (NOTICE, WARNING).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub severity: &'static str,
    pub code: String,
    pub message: String,
}

impl Notice {
    fn info(code: &str, message: impl Into<String>) -> Self {
        Self {
            severity: "NOTICE",
            code: code.to_string(),
            message: message.into(),
        }
    }

    fn warning(code: &str, message: impl Into<String>) -> Self {
        Self {
            severity: "WARNING",
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDesc {
    pub name: String,
    pub ty: SqlType,
}

/// What a successful statement gives back.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A command tag alone (`CREATE TABLE`, `INSERT 0 1`).
    Command(String),
    /// Rows, then a tag (`SELECT 2`, `INSERT 0 1` with RETURNING).
    Rows {
        columns: Vec<ColumnDesc>,
        rows: Vec<Vec<Value>>,
        tag: String,
    },
}

/// A NOTIFY delivered at commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub database: String,
    pub channel: String,
    pub payload: String,
    pub sender_pid: i32,
}

/// The result of one statement of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementResult {
    pub notices: Vec<Notice>,
    pub result: Result<Outcome, DbError>,
}

/// Everything one Query message produced.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// One entry per statement run; the last is the error, if any.
    pub statements: Vec<StatementResult>,
    pub notifications: Vec<Notification>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Role {
    superuser: bool,
    login: bool,
    password: Option<String>,
    #[serde(default)]
    member_of: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DatabaseEntry {
    oid: u32,
    owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Catalog {
    roles: BTreeMap<String, Role>,
    databases: BTreeMap<String, DatabaseEntry>,
    next_oid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Column {
    name: String,
    ty: SqlType,
    length: Option<u32>,
    not_null: bool,
    /// The default as SQL text (`nextval('t_id_seq'::regclass)`).
    default: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Constraint {
    name: String,
    columns: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Table {
    schema: String,
    name: String,
    owner: String,
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
    /// Primary key first, then unique constraints.
    keys: Vec<Constraint>,
    grants: BTreeMap<String, BTreeSet<String>>,
    /// Sequences created by serial columns (dropped with the table).
    owned_sequences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Sequence {
    owner: String,
    last_value: i64,
    is_called: bool,
    grants: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct DbData {
    schemas: BTreeSet<String>,
    /// Keyed by `schema.name`.
    tables: BTreeMap<String, Table>,
    sequences: BTreeMap<String, Sequence>,
    #[serde(default)]
    schema_grants: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

#[derive(Debug, Clone)]
struct State {
    catalog: Catalog,
    dbs: BTreeMap<String, DbData>,
}

/// A top-level object a transaction may change (the unit of undo).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ObjKey {
    Role(String),
    Database(String),
    Table(String, String),
    Sequence(String, String),
    Schemas(String),
    SchemaGrants(String),
}

#[derive(Debug, Clone)]
enum Obj {
    Role(Role),
    Database(DatabaseEntry, Box<DbData>),
    Table(Box<Table>),
    Sequence(Sequence),
    Schemas(BTreeSet<String>),
    SchemaGrants(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>),
}

impl State {
    fn get(&self, key: &ObjKey) -> Option<Obj> {
        match key {
            ObjKey::Role(n) => self.catalog.roles.get(n).cloned().map(Obj::Role),
            ObjKey::Database(n) => {
                let entry = self.catalog.databases.get(n)?;
                let data = self.dbs.get(n).cloned().unwrap_or_default();
                Some(Obj::Database(entry.clone(), Box::new(data)))
            }
            ObjKey::Table(db, k) => self
                .dbs
                .get(db)?
                .tables
                .get(k)
                .cloned()
                .map(|t| Obj::Table(Box::new(t))),
            ObjKey::Sequence(db, k) => self
                .dbs
                .get(db)?
                .sequences
                .get(k)
                .cloned()
                .map(Obj::Sequence),
            ObjKey::Schemas(db) => Some(Obj::Schemas(self.dbs.get(db)?.schemas.clone())),
            ObjKey::SchemaGrants(db) => {
                Some(Obj::SchemaGrants(self.dbs.get(db)?.schema_grants.clone()))
            }
        }
    }

    fn put(&mut self, key: &ObjKey, value: Option<Obj>) {
        match (key, value) {
            (ObjKey::Role(n), Some(Obj::Role(r))) => {
                self.catalog.roles.insert(n.clone(), r);
            }
            (ObjKey::Role(n), _) => {
                self.catalog.roles.remove(n);
            }
            (ObjKey::Database(n), Some(Obj::Database(e, d))) => {
                self.catalog.databases.insert(n.clone(), e);
                self.dbs.insert(n.clone(), *d);
            }
            (ObjKey::Database(n), _) => {
                self.catalog.databases.remove(n);
                self.dbs.remove(n);
            }
            (ObjKey::Table(db, k), v) => {
                if let Some(d) = self.dbs.get_mut(db) {
                    match v {
                        Some(Obj::Table(t)) => {
                            d.tables.insert(k.clone(), *t);
                        }
                        _ => {
                            d.tables.remove(k);
                        }
                    }
                }
            }
            (ObjKey::Sequence(db, k), v) => {
                if let Some(d) = self.dbs.get_mut(db) {
                    match v {
                        Some(Obj::Sequence(q)) => {
                            d.sequences.insert(k.clone(), q);
                        }
                        _ => {
                            d.sequences.remove(k);
                        }
                    }
                }
            }
            (ObjKey::Schemas(db), Some(Obj::Schemas(set))) => {
                if let Some(d) = self.dbs.get_mut(db) {
                    d.schemas = set;
                }
            }
            (ObjKey::SchemaGrants(db), Some(Obj::SchemaGrants(g))) => {
                if let Some(d) = self.dbs.get_mut(db) {
                    d.schema_grants = g;
                }
            }
            _ => {}
        }
    }
}

/// Adds to `undo` the pre-image of every object that differs between
/// `before` and `after` (the first pre-image of an object wins).
fn record_changes(before: &State, after: &State, undo: &mut BTreeMap<ObjKey, Option<Obj>>) {
    let mut keys: Vec<ObjKey> = Vec::new();
    let roles: BTreeSet<&String> = before
        .catalog
        .roles
        .keys()
        .chain(after.catalog.roles.keys())
        .collect();
    for r in roles {
        if before.catalog.roles.get(r) != after.catalog.roles.get(r) {
            keys.push(ObjKey::Role(r.clone()));
        }
    }
    let dbs: BTreeSet<&String> = before
        .catalog
        .databases
        .keys()
        .chain(after.catalog.databases.keys())
        .collect();
    for db in dbs {
        let (b, a) = (before.dbs.get(db), after.dbs.get(db));
        if before.catalog.databases.get(db) != after.catalog.databases.get(db)
            || b.is_none() != a.is_none()
        {
            keys.push(ObjKey::Database(db.clone()));
            continue;
        }
        let (Some(b), Some(a)) = (b, a) else { continue };
        let tables: BTreeSet<&String> = b.tables.keys().chain(a.tables.keys()).collect();
        for t in tables {
            if b.tables.get(t) != a.tables.get(t) {
                keys.push(ObjKey::Table(db.clone(), t.clone()));
            }
        }
        let seqs: BTreeSet<&String> = b.sequences.keys().chain(a.sequences.keys()).collect();
        for q in seqs {
            if b.sequences.get(q) != a.sequences.get(q) {
                keys.push(ObjKey::Sequence(db.clone(), q.clone()));
            }
        }
        if b.schemas != a.schemas {
            keys.push(ObjKey::Schemas(db.clone()));
        }
        if b.schema_grants != a.schema_grants {
            keys.push(ObjKey::SchemaGrants(db.clone()));
        }
    }
    for k in keys {
        if let std::collections::btree_map::Entry::Vacant(slot) = undo.entry(k) {
            let pre = before.get(slot.key());
            slot.insert(pre);
        }
    }
}

/// One client connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub database: String,
    pub pid: i32,
    role: Option<String>,
    local_role: Option<Option<String>>,
    settings: BTreeMap<String, String>,
    txn: Option<Txn>,
    pub listening: BTreeSet<String>,
    /// The container path of PGDATA (`SHOW data_directory`).
    data_directory: String,
}

#[derive(Debug, Clone)]
struct Txn {
    /// What this transaction changed, as it was before: a rollback puts
    /// back these objects only, so other sessions' commits stay.
    undo: BTreeMap<ObjKey, Option<Obj>>,
    failed: bool,
    /// BEGIN was sent (not the implicit block of a multi-statement query).
    explicit: bool,
    notifies: Vec<(String, String)>,
    started: jiff::Timestamp,
}

impl Session {
    pub fn new(user: &str, database: &str, pid: i32) -> Self {
        Self {
            user: user.to_string(),
            database: database.to_string(),
            pid,
            role: None,
            local_role: None,
            settings: BTreeMap::new(),
            txn: None,
            listening: BTreeSet::new(),
            data_directory: "/var/lib/postgresql/data".to_string(),
        }
    }

    /// The role privileges are checked against.
    pub fn current_role(&self) -> &str {
        if let Some(local) = &self.local_role {
            return local.as_deref().unwrap_or(&self.user);
        }
        self.role.as_deref().unwrap_or(&self.user)
    }

    /// `I` idle, `T` in a transaction, `E` in a failed transaction.
    pub fn transaction_status(&self) -> u8 {
        match &self.txn {
            None => b'I',
            Some(t) if t.failed => b'E',
            Some(_) => b'T',
        }
    }
}

/// How `initdb` and the image's entrypoint set up a new cluster.
pub struct InitOptions<'a> {
    pub superuser: &'a str,
    pub password: Option<&'a str>,
    pub database: &'a str,
    /// `POSTGRES_HOST_AUTH_METHOD`, the method of the entrypoint's
    /// `host all all all` record (`scram-sha-256` when unset).
    pub host_auth_method: &'a str,
}

/// A cluster: the data directory and what it holds.
pub struct Engine {
    dir: PathBuf,
    state: State,
}

impl Engine {
    /// `initdb` plus the entrypoint's database creation: writes the skeleton
    /// of a data directory and the catalog.
    pub fn init(dir: &Path, opts: &InitOptions<'_>) -> std::io::Result<()> {
        for sub in [
            "base/1",
            "base/4",
            "base/5",
            "global",
            "pg_commit_ts",
            "pg_dynshmem",
            "pg_logical/mappings",
            "pg_logical/snapshots",
            "pg_multixact/members",
            "pg_multixact/offsets",
            "pg_notify",
            "pg_replslot",
            "pg_serial",
            "pg_snapshots",
            "pg_stat",
            "pg_stat_tmp",
            "pg_subtrans",
            "pg_tblspc",
            "pg_twophase",
            "pg_wal/archive_status",
            "pg_xact",
        ] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        std::fs::write(
            dir.join("postgresql.conf"),
            "# PostgreSQL configuration (kubetutor sandbox emulation)\nlisten_addresses = '*'\n",
        )?;
        std::fs::write(
            dir.join("postgresql.auto.conf"),
            "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n",
        )?;
        std::fs::write(
            dir.join("pg_hba.conf"),
            hba::image_file(opts.host_auth_method),
        )?;
        std::fs::write(
            dir.join("pg_ident.conf"),
            "# MAPNAME       SYSTEM-USERNAME         PG-USERNAME\n",
        )?;
        let mut catalog = Catalog {
            roles: BTreeMap::new(),
            databases: BTreeMap::new(),
            next_oid: 16384,
        };
        catalog.roles.insert(
            opts.superuser.to_string(),
            Role {
                superuser: true,
                login: true,
                password: opts
                    .password
                    .map(|p| password::encrypt(opts.superuser, p, None)),
                member_of: BTreeSet::new(),
            },
        );
        for (name, oid) in [("template1", 1), ("template0", 4), ("postgres", 5)] {
            catalog.databases.insert(
                name.to_string(),
                DatabaseEntry {
                    oid,
                    owner: opts.superuser.to_string(),
                },
            );
        }
        let mut dbs = BTreeMap::new();
        for name in ["template1", "template0", "postgres"] {
            dbs.insert(name.to_string(), DbData::fresh());
        }
        if !catalog.databases.contains_key(opts.database) {
            let oid = catalog.next_oid;
            catalog.next_oid += 1;
            catalog.databases.insert(
                opts.database.to_string(),
                DatabaseEntry {
                    oid,
                    owner: opts.superuser.to_string(),
                },
            );
            dbs.insert(opts.database.to_string(), DbData::fresh());
        }
        let engine = Engine {
            dir: dir.to_path_buf(),
            state: State { catalog, dbs },
        };
        engine.persist_all()?;
        // Last: a directory with PG_VERSION is a finished cluster.
        std::fs::write(dir.join("PG_VERSION"), "16\n")
    }

    /// Opens an initialized data directory.
    pub fn open(dir: &Path) -> Result<Engine, String> {
        let catalog_path = dir.join(CATALOG_FILE);
        let bytes = std::fs::read(&catalog_path).map_err(|e| {
            format!(
                "could not open file \"{}\": {}",
                catalog_path.display(),
                io_reason(&e)
            )
        })?;
        let catalog: Catalog = serde_json::from_slice(&bytes)
            .map_err(|e| format!("invalid catalog file \"{}\": {e}", catalog_path.display()))?;
        let mut dbs = BTreeMap::new();
        for (name, entry) in &catalog.databases {
            let path = dir.join("base").join(entry.oid.to_string()).join(DATA_FILE);
            let data = match std::fs::read(&path) {
                Ok(b) => serde_json::from_slice(&b)
                    .map_err(|e| format!("invalid data file \"{}\": {e}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => DbData::fresh(),
                Err(e) => {
                    return Err(format!(
                        "could not open file \"{}\": {}",
                        path.display(),
                        io_reason(&e)
                    ));
                }
            };
            dbs.insert(name.clone(), data);
        }
        let mut engine = Engine {
            dir: dir.to_path_buf(),
            state: State { catalog, dbs },
        };
        engine.hash_clear_passwords().map_err(|e| {
            format!(
                "could not write file \"{}\": {}",
                catalog_path.display(),
                io_reason(&e)
            )
        })?;
        Ok(engine)
    }

    /// Earlier versions of the emulation kept passwords in clear: they
    /// become SCRAM verifiers, as PostgreSQL would have stored them.
    fn hash_clear_passwords(&mut self) -> std::io::Result<()> {
        let mut changed = false;
        for (name, role) in &mut self.state.catalog.roles {
            if let Some(p) = &role.password
                && let Secret::Plain(clear) = Secret::parse(p)
            {
                role.password = Some(password::encrypt(name, &clear, None));
                changed = true;
            }
        }
        if changed {
            self.persist_catalog()?;
        }
        Ok(())
    }

    fn persist_all(&self) -> std::io::Result<()> {
        self.persist_catalog()?;
        for name in self.state.dbs.keys() {
            self.persist_db(name)?;
        }
        Ok(())
    }

    fn persist_catalog(&self) -> std::io::Result<()> {
        let bytes =
            serde_json::to_vec_pretty(&self.state.catalog).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join(CATALOG_FILE), &bytes)
    }

    fn persist_db(&self, name: &str) -> std::io::Result<()> {
        let (Some(entry), Some(data)) = (
            self.state.catalog.databases.get(name),
            self.state.dbs.get(name),
        ) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(data).map_err(std::io::Error::other)?;
        let path = self
            .dir
            .join("base")
            .join(entry.oid.to_string())
            .join(DATA_FILE);
        write_atomic(&path, &bytes)
    }

    fn persist(&self) -> Result<(), DbError> {
        self.persist_all().map_err(|e| {
            DbError::new(
                "58030",
                format!("could not write to data directory: {}", io_reason(&e)),
            )
        })
    }

    /// The stored password of a role (`pg_authid.rolpassword`), if the
    /// role exists and has one.
    pub fn role_secret(&self, user: &str) -> Option<Secret> {
        let role = self.state.catalog.roles.get(user)?;
        role.password.as_deref().map(Secret::parse)
    }

    pub fn role_exists(&self, user: &str) -> bool {
        self.state.catalog.roles.contains_key(user)
    }

    /// Whether `user` is a member of `role`, directly or through other
    /// roles (pg_hba.conf's `+role`: being superuser does not count).
    pub fn belongs_to(&self, user: &str, role: &str) -> bool {
        if !self.role_exists(user) || !self.role_exists(role) {
            return false;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![user.to_string()];
        while let Some(r) = stack.pop() {
            if r == role {
                return true;
            }
            if !seen.insert(r.clone()) {
                continue;
            }
            if let Some(entry) = self.state.catalog.roles.get(&r) {
                stack.extend(entry.member_of.iter().cloned());
            }
        }
        false
    }

    /// What follows authentication: the role exists and may log in, and
    /// the database exists.
    pub fn authorize(&self, user: &str, database: &str) -> Result<(), DbError> {
        let Some(role) = self.state.catalog.roles.get(user) else {
            return Err(DbError::fatal(
                "28000",
                format!("role \"{user}\" does not exist"),
            ));
        };
        if !role.login {
            return Err(DbError::fatal(
                "28000",
                format!("role \"{user}\" is not permitted to log in"),
            ));
        }
        if !self.state.catalog.databases.contains_key(database) {
            return Err(DbError::fatal(
                "3D000",
                format!("database \"{database}\" does not exist"),
            ));
        }
        Ok(())
    }

    pub fn is_superuser(&self, role: &str) -> bool {
        self.state
            .catalog
            .roles
            .get(role)
            .is_some_and(|r| r.superuser)
    }

    /// Runs a simple-protocol query: every statement in order, in one
    /// implicit transaction when there are several; stops at the first error.
    pub fn run_query(&mut self, session: &mut Session, sql: &str) -> QueryResult {
        let mut out = QueryResult::default();
        let statements = sql::split_statements(sql);
        let implicit = statements.len() > 1 && session.txn.is_none();
        if implicit {
            session.txn = Some(self.begin_txn(false));
        }
        for (text, _) in &statements {
            let mut notices = Vec::new();
            let result = self.run_statement(session, text, &mut notices, &mut out.notifications);
            let failed = result.is_err();
            out.statements.push(StatementResult { notices, result });
            if failed {
                break;
            }
        }
        if implicit
            && let Some(txn) = &session.txn
            && !txn.explicit
        {
            let failed = txn.failed;
            let notes = if failed {
                self.rollback(session);
                Vec::new()
            } else {
                match self.commit(session) {
                    Ok(n) => n,
                    Err(e) => {
                        out.statements.push(StatementResult {
                            notices: Vec::new(),
                            result: Err(e),
                        });
                        Vec::new()
                    }
                }
            };
            out.notifications.extend(notes);
        }
        out
    }

    fn begin_txn(&self, explicit: bool) -> Txn {
        Txn {
            undo: BTreeMap::new(),
            failed: false,
            explicit,
            notifies: Vec::new(),
            started: jiff::Timestamp::now(),
        }
    }

    fn commit(&mut self, session: &mut Session) -> Result<Vec<Notification>, DbError> {
        session.local_role = None;
        let Some(txn) = session.txn.take() else {
            return Ok(Vec::new());
        };
        if txn.failed {
            self.undo(txn.undo);
            return Ok(Vec::new());
        }
        self.persist()?;
        Ok(txn
            .notifies
            .into_iter()
            .map(|(channel, payload)| Notification {
                database: session.database.clone(),
                channel,
                payload,
                sender_pid: session.pid,
            })
            .collect())
    }

    fn rollback(&mut self, session: &mut Session) {
        session.local_role = None;
        if let Some(txn) = session.txn.take() {
            self.undo(txn.undo);
        }
    }

    /// Puts back the pre-images of what a transaction changed.
    fn undo(&mut self, undo: BTreeMap<ObjKey, Option<Obj>>) {
        for (key, pre) in undo {
            self.state.put(&key, pre);
        }
    }

    fn run_statement(
        &mut self,
        session: &mut Session,
        text: &str,
        notices: &mut Vec<Notice>,
        notifications: &mut Vec<Notification>,
    ) -> Result<Outcome, DbError> {
        let stmt = match sql::parse_statement(text) {
            Ok(s) => s,
            Err(e) => {
                if let Some(t) = &mut session.txn {
                    t.failed = true;
                }
                return Err(e.into());
            }
        };
        if let Some(t) = &session.txn
            && t.failed
            && !matches!(stmt, Statement::Commit | Statement::Rollback)
        {
            return Err(DbError::new(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match stmt {
            Statement::Begin => {
                match &mut session.txn {
                    Some(t) if t.explicit => notices.push(Notice::warning(
                        "25001",
                        "there is already a transaction in progress",
                    )),
                    Some(t) => t.explicit = true,
                    None => session.txn = Some(self.begin_txn(true)),
                }
                return Ok(Outcome::Command("BEGIN".into()));
            }
            Statement::Commit => {
                let Some(t) = &session.txn else {
                    notices.push(Notice::warning(
                        "25P01",
                        "there is no transaction in progress",
                    ));
                    return Ok(Outcome::Command("COMMIT".into()));
                };
                let failed = t.failed;
                let n = self.commit(session)?;
                notifications.extend(n);
                return Ok(Outcome::Command(
                    if failed { "ROLLBACK" } else { "COMMIT" }.into(),
                ));
            }
            Statement::Rollback => {
                if session.txn.is_none() {
                    notices.push(Notice::warning(
                        "25P01",
                        "there is no transaction in progress",
                    ));
                }
                self.rollback(session);
                return Ok(Outcome::Command("ROLLBACK".into()));
            }
            _ => {}
        }
        // Statement-level atomicity: a failing statement leaves no trace.
        let before = self.state.clone();
        let in_txn = session.txn.is_some();
        let mutating = stmt_mutates(&stmt);
        let result = self.exec(session, stmt, notices);
        match result {
            Ok(outcome) => {
                if mutating && let Some(t) = &mut session.txn {
                    record_changes(&before, &self.state, &mut t.undo);
                }
                if !in_txn && mutating {
                    self.persist()?;
                }
                if !in_txn {
                    // Outside a transaction, NOTIFY is delivered at once.
                    let pending = std::mem::take(&mut session.pending_notifies());
                    notifications.extend(pending.into_iter().map(|(channel, payload)| {
                        Notification {
                            database: session.database.clone(),
                            channel,
                            payload,
                            sender_pid: session.pid,
                        }
                    }));
                }
                Ok(outcome)
            }
            Err(e) => {
                self.state = before;
                if let Some(t) = &mut session.txn {
                    t.failed = true;
                }
                Err(e)
            }
        }
    }

    fn exec(
        &mut self,
        session: &mut Session,
        stmt: Statement,
        notices: &mut Vec<Notice>,
    ) -> Result<Outcome, DbError> {
        let tag = stmt.tag();
        match stmt {
            Statement::Do { body } => {
                let block = plpgsql::parse(&body)?;
                plpgsql::run(self, session, &block, notices)?;
                Ok(Outcome::Command(tag.into()))
            }
            Statement::Set { name, value, local } => {
                self.set(session, &name, &value, local, notices)
            }
            Statement::Reset { name } => {
                if name == "role" || name == "all" {
                    session.role = None;
                }
                session.settings.remove(&name);
                Ok(Outcome::Command(tag.into()))
            }
            Statement::Show { name } => self.show(session, &name),
            Statement::Listen { channel } => {
                session.listening.insert(channel);
                Ok(Outcome::Command(tag.into()))
            }
            Statement::Unlisten { channel } => {
                match channel {
                    Some(c) => {
                        session.listening.remove(&c);
                    }
                    None => session.listening.clear(),
                }
                Ok(Outcome::Command(tag.into()))
            }
            Statement::Notify { channel, payload } => {
                session.queue_notify(channel, payload);
                Ok(Outcome::Command(tag.into()))
            }
            other => {
                let mut ex = Exec {
                    engine: self,
                    session,
                    notices,
                };
                ex.statement(other)
            }
        }
    }

    fn set(
        &mut self,
        session: &mut Session,
        name: &str,
        value: &str,
        local: bool,
        notices: &mut Vec<Notice>,
    ) -> Result<Outcome, DbError> {
        if local && session.txn.is_none() {
            notices.push(Notice::warning(
                "25P01",
                "SET LOCAL can only be used in transaction blocks",
            ));
            return Ok(Outcome::Command("SET".into()));
        }
        if name == "role" {
            let target = if value.eq_ignore_ascii_case("none") {
                None
            } else {
                if !self.state.catalog.roles.contains_key(value) {
                    return Err(DbError::new(
                        "22023",
                        format!("role \"{value}\" does not exist"),
                    ));
                }
                if !self.is_member(&session.user, value) {
                    return Err(DbError::new(
                        "42501",
                        format!("permission denied to set role \"{value}\""),
                    ));
                }
                Some(value.to_string())
            };
            if local {
                session.local_role = Some(target);
            } else {
                session.role = target;
            }
            return Ok(Outcome::Command("SET".into()));
        }
        if name == "password_encryption" && !password::ENCRYPTIONS.contains(&value) {
            return Err(DbError::new(
                "22023",
                format!("invalid value for parameter \"password_encryption\": \"{value}\""),
            )
            .hint("Available values: md5, scram-sha-256."));
        }
        if !KNOWN_SETTINGS.contains(&name) && !name.contains('.') {
            return Err(DbError::new(
                "42704",
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        }
        session.settings.insert(name.to_string(), value.to_string());
        Ok(Outcome::Command("SET".into()))
    }

    fn show(&self, session: &Session, name: &str) -> Result<Outcome, DbError> {
        let value = match session.settings.get(name) {
            Some(v) => v.clone(),
            None => match name {
                "server_version" => SERVER_VERSION.to_string(),
                "server_version_num" => "160013".to_string(),
                "timezone" => "Etc/UTC".to_string(),
                "datestyle" => "ISO, MDY".to_string(),
                "search_path" => "\"$user\", public".to_string(),
                "client_encoding" | "server_encoding" => "UTF8".to_string(),
                "standard_conforming_strings" => "on".to_string(),
                "listen_addresses" => "*".to_string(),
                "port" => "5432".to_string(),
                "max_connections" => "100".to_string(),
                "password_encryption" => "scram-sha-256".to_string(),
                "scram_iterations" => scram::ITERATIONS.to_string(),
                "data_directory" => {
                    if !self.is_superuser(session.current_role()) {
                        return Err(DbError::new(
                            "42501",
                            "permission denied to examine \"data_directory\"",
                        )
                        .detail("Only roles with privileges of the \"pg_read_all_settings\" role may examine this parameter."));
                    }
                    session.data_directory.clone()
                }
                "transaction_isolation" => "read committed".to_string(),
                "role" => session.role.clone().unwrap_or_else(|| "none".to_string()),
                "is_superuser" => if self.is_superuser(session.current_role()) {
                    "on"
                } else {
                    "off"
                }
                .to_string(),
                "application_name" => String::new(),
                _ => {
                    return Err(DbError::new(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    ));
                }
            },
        };
        Ok(Outcome::Rows {
            columns: vec![ColumnDesc {
                name: name.to_string(),
                ty: SqlType::Text,
            }],
            rows: vec![vec![Value::Text(value)]],
            tag: "SHOW".to_string(),
        })
    }

    /// Whether `user` may act as `role` (itself, a superuser, or a member).
    fn is_member(&self, user: &str, role: &str) -> bool {
        if user == role || self.is_superuser(user) {
            return true;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![user.to_string()];
        while let Some(r) = stack.pop() {
            if !seen.insert(r.clone()) {
                continue;
            }
            if let Some(entry) = self.state.catalog.roles.get(&r) {
                for m in &entry.member_of {
                    if m == role {
                        return true;
                    }
                    stack.push(m.clone());
                }
            }
        }
        false
    }

    /// The roles whose grants apply to `role` (itself, what it belongs to,
    /// and PUBLIC).
    fn applicable_roles(&self, role: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        out.insert("public".to_string());
        let mut stack = vec![role.to_string()];
        while let Some(r) = stack.pop() {
            if !out.insert(r.clone()) {
                continue;
            }
            if let Some(entry) = self.state.catalog.roles.get(&r) {
                stack.extend(entry.member_of.iter().cloned());
            }
        }
        out
    }

    /// Runs the statements of a PL/pgSQL block (used by `DO`).
    pub(super) fn exec_nested(
        &mut self,
        session: &mut Session,
        text: &str,
        notices: &mut Vec<Notice>,
    ) -> Result<Outcome, DbError> {
        let stmt = sql::parse_statement(text)?;
        if matches!(
            stmt,
            Statement::Begin | Statement::Commit | Statement::Rollback
        ) {
            return Err(DbError::new(
                "0A000",
                "transaction control statements are not supported in DO blocks by the kubetutor sandbox",
            ));
        }
        self.exec(session, stmt, notices)
    }

    /// Evaluates a PL/pgSQL condition (`IF NOT EXISTS (...)`).
    pub(super) fn eval_condition(
        &mut self,
        session: &mut Session,
        expr: &Expr,
        notices: &mut Vec<Notice>,
    ) -> Result<Value, DbError> {
        let mut ex = Exec {
            engine: self,
            session,
            notices,
        };
        ex.eval(expr, &Row::none())
    }

    pub(super) fn snapshot(&self) -> Box<dyn std::any::Any + Send> {
        Box::new(self.state.clone())
    }

    pub(super) fn restore(&mut self, snapshot: Box<dyn std::any::Any + Send>) {
        if let Ok(state) = snapshot.downcast::<State>() {
            self.state = *state;
        }
    }
}

impl Session {
    fn queue_notify(&mut self, channel: String, payload: String) {
        match &mut self.txn {
            Some(t) => {
                if !t.notifies.contains(&(channel.clone(), payload.clone())) {
                    t.notifies.push((channel, payload));
                }
            }
            None => self
                .settings
                .insert(format!("\u{0}notify\u{0}{channel}"), payload)
                .map_or((), |_| ()),
        }
    }

    /// NOTIFYs queued outside a transaction (delivered after the statement).
    fn pending_notifies(&mut self) -> Vec<(String, String)> {
        let keys: Vec<String> = self
            .settings
            .keys()
            .filter(|k| k.starts_with("\u{0}notify\u{0}"))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let payload = self.settings.remove(&k)?;
                let channel = k.trim_start_matches("\u{0}notify\u{0}").to_string();
                Some((channel, payload))
            })
            .collect()
    }

    /// The time `now()` answers: the transaction's start.
    fn now(&self) -> jiff::Timestamp {
        self.txn
            .as_ref()
            .map_or_else(jiff::Timestamp::now, |t| t.started)
    }

    /// Remembers the container path of PGDATA for `SHOW data_directory`.
    pub fn set_data_directory(&mut self, path: &str) {
        self.data_directory = path.to_string();
    }
}

const KNOWN_SETTINGS: &[&str] = &[
    "search_path",
    "timezone",
    "datestyle",
    "client_encoding",
    "application_name",
    "statement_timeout",
    "lock_timeout",
    "client_min_messages",
    "extra_float_digits",
    "standard_conforming_strings",
    "intervalstyle",
    "work_mem",
    "session_authorization",
    "default_transaction_isolation",
    "transaction_isolation",
    "idle_in_transaction_session_timeout",
    "password_encryption",
];

fn stmt_mutates(stmt: &Statement) -> bool {
    !matches!(
        stmt,
        Statement::Select(_)
            | Statement::Set { .. }
            | Statement::Reset { .. }
            | Statement::Show { .. }
            | Statement::Listen { .. }
            | Statement::Unlisten { .. }
            | Statement::Notify { .. }
    )
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

impl DbData {
    fn fresh() -> Self {
        let mut d = DbData::default();
        d.schemas.insert("public".to_string());
        d
    }
}

// ---------------------------------------------------------------------------
// Executing statements

/// A row being evaluated: the source's columns and values.
struct Row<'a> {
    names: &'a [String],
    values: &'a [Value],
    /// The rows of an aggregate (`count(*)`): all filtered source rows.
    group: Option<&'a [Vec<Value>]>,
}

impl<'a> Row<'a> {
    fn none() -> Row<'static> {
        Row {
            names: &[],
            values: &[],
            group: None,
        }
    }
}

struct Exec<'a> {
    engine: &'a mut Engine,
    session: &'a mut Session,
    notices: &'a mut Vec<Notice>,
}

impl Exec<'_> {
    /// What a role's `PASSWORD` option stores: the secret under the
    /// session's `password_encryption`, never the password itself; an
    /// empty password clears it, as PostgreSQL says.
    fn stored_password(&mut self, role: &str, options: &RoleOptions) -> Option<Option<String>> {
        let given = options.password.as_ref()?;
        let Some(text) = given else {
            return Some(None);
        };
        if text.is_empty() {
            self.notices.push(Notice::info(
                "00000",
                "empty string is not a valid password, clearing password",
            ));
            return Some(None);
        }
        let encryption = self.session.settings.get("password_encryption");
        Some(Some(password::encrypt(
            role,
            text,
            encryption.map(String::as_str),
        )))
    }
}

/// A relation to read: a table's or a catalog view's columns and rows.
struct Source {
    columns: Vec<ColumnDesc>,
    rows: Vec<Vec<Value>>,
}

const AGGREGATES: &[&str] = &[
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "bool_and",
    "bool_or",
    "string_agg",
    "json_agg",
];

fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Func { name, args, .. } => {
            AGGREGATES.contains(&name.as_str()) || args.iter().any(has_aggregate)
        }
        Expr::Binary(a, _, b) => has_aggregate(a) || has_aggregate(b),
        Expr::Not(a) | Expr::Neg(a) | Expr::Cast(a, _) => has_aggregate(a),
        Expr::IsNull { expr, .. } => has_aggregate(expr),
        Expr::Like { expr, pattern, .. } => has_aggregate(expr) || has_aggregate(pattern),
        Expr::InList { expr, list, .. } => has_aggregate(expr) || list.iter().any(has_aggregate),
        Expr::Between {
            expr, low, high, ..
        } => has_aggregate(expr) || has_aggregate(low) || has_aggregate(high),
        _ => false,
    }
}

/// PostgreSQL's name for an output column (`FigureColname`).
fn column_name(e: &Expr) -> String {
    match e {
        Expr::Column(c) => c.clone(),
        Expr::Func { name, .. } => name.clone(),
        Expr::Keyword(k) => match k.as_str() {
            "user" => "current_user".to_string(),
            other => other.to_string(),
        },
        Expr::Cast(inner, ty) => match inner.as_ref() {
            Expr::Literal(_) => cast_name(ty.ty),
            other => column_name(other),
        },
        Expr::Exists(_) => "exists".to_string(),
        Expr::Subquery(s) => match s.items.first() {
            Some(SelectItem::Expr { alias: Some(a), .. }) => a.clone(),
            Some(SelectItem::Expr { expr, .. }) => column_name(expr),
            _ => "?column?".to_string(),
        },
        _ => "?column?".to_string(),
    }
}

fn cast_name(ty: SqlType) -> String {
    match ty {
        SqlType::Int4 => "int4",
        SqlType::Int8 => "int8",
        SqlType::Int2 => "int2",
        SqlType::Bool => "bool",
        SqlType::Float8 => "float8",
        SqlType::Float4 => "float4",
        SqlType::Varchar => "varchar",
        SqlType::Bpchar => "bpchar",
        SqlType::Timestamptz => "timestamptz",
        SqlType::Timestamp => "timestamp",
        other => other.display_name(),
    }
    .to_string()
}

impl Exec<'_> {
    fn db(&self) -> Result<&DbData, DbError> {
        self.engine
            .state
            .dbs
            .get(&self.session.database)
            .ok_or_else(|| {
                DbError::fatal(
                    "3D000",
                    format!("database \"{}\" does not exist", self.session.database),
                )
            })
    }

    fn db_mut(&mut self) -> Result<&mut DbData, DbError> {
        let name = self.session.database.clone();
        self.engine
            .state
            .dbs
            .get_mut(&name)
            .ok_or_else(|| DbError::fatal("3D000", format!("database \"{name}\" does not exist")))
    }

    fn role(&self) -> String {
        self.session.current_role().to_string()
    }

    fn superuser(&self) -> bool {
        self.engine.is_superuser(self.session.current_role())
    }

    fn require_superuser(&self, message: &str) -> Result<(), DbError> {
        if self.superuser() {
            Ok(())
        } else {
            Err(DbError::new("42501", message))
        }
    }

    /// The key of a stored table, if the name resolves to one.
    fn table_key(&self, name: &ObjName) -> Result<Option<String>, DbError> {
        let db = self.db()?;
        let schema = name.schema.clone().unwrap_or_else(|| "public".to_string());
        let key = format!("{schema}.{}", name.name);
        Ok(db.tables.contains_key(&key).then_some(key))
    }

    fn require_table(&self, name: &ObjName) -> Result<String, DbError> {
        self.table_key(name)?
            .ok_or_else(|| DbError::undefined_table(name))
    }

    fn table(&self, key: &str) -> Result<&Table, DbError> {
        self.db()?
            .tables
            .get(key)
            .ok_or_else(|| DbError::new("42P01", format!("relation \"{key}\" does not exist")))
    }

    fn table_mut(&mut self, key: &str) -> Result<&mut Table, DbError> {
        self.db_mut()?
            .tables
            .get_mut(key)
            .ok_or_else(|| DbError::new("42P01", format!("relation \"{key}\" does not exist")))
    }

    fn check_table_privilege(&self, key: &str, privilege: &str) -> Result<(), DbError> {
        if self.superuser() {
            return Ok(());
        }
        let table = self.table(key)?;
        let role = self.role();
        if table.owner == role {
            return Ok(());
        }
        let roles = self.engine.applicable_roles(&role);
        let granted = roles.iter().any(|r| {
            table
                .grants
                .get(r)
                .is_some_and(|p| p.contains(privilege) || p.contains("all"))
        });
        if granted {
            Ok(())
        } else {
            Err(DbError::new(
                "42501",
                format!("permission denied for table {}", table.name),
            ))
        }
    }

    /// One statement: a dispatch with one arm per kind of statement.
    fn statement(&mut self, stmt: Statement) -> Result<Outcome, DbError> {
        let tag = stmt.tag();
        let done = |()| Outcome::Command(tag.into());
        match stmt {
            Statement::CreateTable {
                name,
                if_not_exists,
                columns,
                primary_key,
            } => self.create_table(name, if_not_exists, columns, primary_key),
            Statement::DropTable { names, if_exists } => {
                self.drop_tables(names, if_exists).map(done)
            }
            Statement::CreateRole {
                name,
                options,
                user,
            } => self.create_role(name, &options, user).map(done),
            Statement::AlterRole { name, options } => self.alter_role(&name, &options).map(done),
            Statement::DropRole { names, if_exists } => self.drop_roles(names, if_exists).map(done),
            Statement::CreateDatabase { name } => self.create_database(name).map(done),
            Statement::DropDatabase { name, if_exists } => {
                self.drop_database(&name, if_exists).map(done)
            }
            Statement::CreateSchema {
                name,
                if_not_exists,
            } => self.create_schema(name, if_not_exists).map(done),
            Statement::Grant {
                revoke,
                privileges,
                object,
                roles,
            } => self.grant(revoke, privileges, object, roles),
            Statement::Insert {
                table,
                columns,
                source,
                returning,
            } => self.insert(&table, columns, source, returning),
            Statement::Select(select) => {
                let (columns, rows) = self.select(&select)?;
                let tag = format!("SELECT {}", rows.len());
                Ok(Outcome::Rows { columns, rows, tag })
            }
            Statement::Update {
                table,
                sets,
                filter,
                returning,
            } => self.update(&table, sets, filter, returning),
            Statement::Delete {
                table,
                filter,
                returning,
            } => self.delete(&table, filter, returning),
            Statement::Truncate { tables } => self.truncate(tables).map(done),
            other => Err(DbError::new(
                "0A000",
                format!(
                    "{} is not supported here by the kubetutor sandbox's PostgreSQL emulation",
                    other.tag()
                ),
            )),
        }
    }

    /// `DROP TABLE [IF EXISTS] a, b`: the tables and their owned sequences.
    fn drop_tables(&mut self, names: Vec<ObjName>, if_exists: bool) -> Result<(), DbError> {
        for name in names {
            let Some(key) = self.table_key(&name)? else {
                if if_exists {
                    self.notices.push(Notice::info(
                        "00000",
                        format!("table \"{}\" does not exist, skipping", name.name),
                    ));
                    continue;
                }
                return Err(DbError::new(
                    "42P01",
                    format!("table \"{}\" does not exist", name.name),
                ));
            };
            let table = self.table(&key)?.clone();
            if !self.superuser() && table.owner != self.role() {
                return Err(DbError::new(
                    "42501",
                    format!("must be owner of table {}", table.name),
                ));
            }
            let db = self.db_mut()?;
            db.tables.remove(&key);
            for seq in &table.owned_sequences {
                db.sequences.remove(seq);
            }
        }
        Ok(())
    }

    /// `CREATE ROLE` / `CREATE USER` (which may log in by default).
    fn create_role(
        &mut self,
        name: String,
        options: &RoleOptions,
        user: bool,
    ) -> Result<(), DbError> {
        self.require_superuser("permission denied to create role")?;
        if name == "public" || name == "none" {
            return Err(DbError::new(
                "42939",
                format!("role name \"{name}\" is reserved"),
            ));
        }
        if self.engine.state.catalog.roles.contains_key(&name) {
            return Err(DbError::new(
                "42710",
                format!("role \"{name}\" already exists"),
            ));
        }
        let role = Role {
            superuser: options.superuser.unwrap_or(false),
            login: options.login.unwrap_or(user),
            password: self.stored_password(&name, options).flatten(),
            member_of: BTreeSet::new(),
        };
        self.engine.state.catalog.roles.insert(name, role);
        Ok(())
    }

    /// `ALTER ROLE`: superusers, or a role changing its own password.
    fn alter_role(&mut self, name: &str, options: &RoleOptions) -> Result<(), DbError> {
        let is_self = name == self.session.user;
        let only_password = options.login.is_none() && options.superuser.is_none();
        if !(self.superuser() || (is_self && only_password)) {
            return Err(DbError::new("42501", "permission denied to alter role"));
        }
        let missing = || DbError::new("42704", format!("role \"{name}\" does not exist"));
        if !self.engine.role_exists(name) {
            return Err(missing());
        }
        let password = self.stored_password(name, options);
        let Some(role) = self.engine.state.catalog.roles.get_mut(name) else {
            return Err(missing());
        };
        apply_role_options(role, options, password);
        Ok(())
    }

    /// `DROP ROLE [IF EXISTS]`: refused while objects depend on a role.
    fn drop_roles(&mut self, names: Vec<String>, if_exists: bool) -> Result<(), DbError> {
        self.require_superuser("permission denied to drop role")?;
        for name in names {
            if !self.engine.state.catalog.roles.contains_key(&name) {
                if if_exists {
                    self.notices.push(Notice::info(
                        "00000",
                        format!("role \"{name}\" does not exist, skipping"),
                    ));
                    continue;
                }
                return Err(DbError::new(
                    "42704",
                    format!("role \"{name}\" does not exist"),
                ));
            }
            if name == self.session.user {
                return Err(DbError::new("55006", "current user cannot be dropped"));
            }
            let depends = self.role_dependents(&name);
            if !depends.is_empty() {
                return Err(DbError::new(
                    "2BP01",
                    format!("role \"{name}\" cannot be dropped because some objects depend on it"),
                )
                .detail(depends.join("\n")));
            }
            self.engine.state.catalog.roles.remove(&name);
            for r in self.engine.state.catalog.roles.values_mut() {
                r.member_of.remove(&name);
            }
        }
        Ok(())
    }

    /// What keeps a role from being dropped, in PostgreSQL's words.
    fn role_dependents(&self, name: &str) -> Vec<String> {
        let mut depends = Vec::new();
        for data in self.engine.state.dbs.values() {
            for t in data.tables.values() {
                if t.owner == name {
                    depends.push(format!("owner of table {}", t.name));
                } else if t.grants.contains_key(name) {
                    depends.push(format!("privileges for table {}", t.name));
                }
            }
            for (s, seq) in &data.sequences {
                if seq.grants.contains_key(name) {
                    let short = s.rsplit('.').next().unwrap_or(s);
                    depends.push(format!("privileges for sequence {short}"));
                }
            }
        }
        depends
    }

    fn create_database(&mut self, name: String) -> Result<(), DbError> {
        self.require_superuser("permission denied to create database")?;
        if self.session.txn.is_some() {
            return Err(DbError::new(
                "25001",
                "CREATE DATABASE cannot run inside a transaction block",
            ));
        }
        let catalog = &mut self.engine.state.catalog;
        if catalog.databases.contains_key(&name) {
            return Err(DbError::new(
                "42P04",
                format!("database \"{name}\" already exists"),
            ));
        }
        let oid = catalog.next_oid;
        catalog.next_oid += 1;
        let owner = self.session.current_role().to_string();
        catalog
            .databases
            .insert(name.clone(), DatabaseEntry { oid, owner });
        self.engine.state.dbs.insert(name, DbData::fresh());
        Ok(())
    }

    /// `DROP DATABASE`: the catalog entry and its directory.
    fn drop_database(&mut self, name: &str, if_exists: bool) -> Result<(), DbError> {
        self.require_superuser("must be owner of database")?;
        if self.session.txn.is_some() {
            return Err(DbError::new(
                "25001",
                "DROP DATABASE cannot run inside a transaction block",
            ));
        }
        if name == self.session.database {
            return Err(DbError::new(
                "55006",
                "cannot drop the currently open database",
            ));
        }
        let Some(entry) = self.engine.state.catalog.databases.remove(name) else {
            if if_exists {
                self.notices.push(Notice::info(
                    "00000",
                    format!("database \"{name}\" does not exist, skipping"),
                ));
                return Ok(());
            }
            return Err(DbError::new(
                "3D000",
                format!("database \"{name}\" does not exist"),
            ));
        };
        self.engine.state.dbs.remove(name);
        let _ = std::fs::remove_dir_all(self.engine.dir.join("base").join(entry.oid.to_string()));
        Ok(())
    }

    fn create_schema(&mut self, name: String, if_not_exists: bool) -> Result<(), DbError> {
        self.require_superuser("permission denied for database")?;
        let db = self.db_mut()?;
        if !db.schemas.insert(name.clone()) {
            if if_not_exists {
                self.notices.push(Notice::info(
                    "42P06",
                    format!("schema \"{name}\" already exists, skipping"),
                ));
                return Ok(());
            }
            return Err(DbError::new(
                "42P06",
                format!("schema \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    fn truncate(&mut self, tables: Vec<ObjName>) -> Result<(), DbError> {
        for name in tables {
            let key = self.require_table(&name)?;
            self.check_table_privilege(&key, "truncate")?;
            self.table_mut(&key)?.rows.clear();
        }
        Ok(())
    }

    fn create_table(
        &mut self,
        name: ObjName,
        if_not_exists: bool,
        defs: Vec<ColumnDef>,
        primary_key: Vec<String>,
    ) -> Result<Outcome, DbError> {
        let schema = name.schema.clone().unwrap_or_else(|| "public".to_string());
        if !self.db()?.schemas.contains(&schema) {
            return Err(DbError::new(
                "3F000",
                format!("schema \"{schema}\" does not exist"),
            ));
        }
        if !self.superuser() {
            return Err(DbError::new(
                "42501",
                format!("permission denied for schema {schema}"),
            ));
        }
        let key = format!("{schema}.{}", name.name);
        let seq_taken = self.db()?.sequences.contains_key(&key);
        if self.db()?.tables.contains_key(&key) || seq_taken {
            if if_not_exists {
                self.notices.push(Notice::info(
                    "42P07",
                    format!("relation \"{}\" already exists, skipping", name.name),
                ));
                return Ok(Outcome::Command("CREATE TABLE".into()));
            }
            return Err(DbError::new(
                "42P07",
                format!("relation \"{}\" already exists", name.name),
            ));
        }
        let mut columns: Vec<Column> = Vec::new();
        let mut keys: Vec<Constraint> = Vec::new();
        let mut owned = Vec::new();
        let mut pk_cols: Vec<usize> = Vec::new();
        let owner = self.role();
        for (i, def) in defs.iter().enumerate() {
            if columns.iter().any(|c| c.name == def.name) {
                return Err(DbError::new(
                    "42701",
                    format!("column \"{}\" specified more than once", def.name),
                ));
            }
            let mut default = def.default.as_ref().map(expr_sql);
            if def.ty.serial {
                let seq = format!("{}_{}_seq", name.name, def.name);
                let seq_key = format!("{schema}.{seq}");
                default = Some(format!("nextval('{seq}'::regclass)"));
                owned.push(seq_key.clone());
                self.db_mut()?.sequences.insert(
                    seq_key,
                    Sequence {
                        owner: owner.clone(),
                        last_value: 1,
                        is_called: false,
                        grants: BTreeMap::new(),
                    },
                );
            }
            if def.primary_key {
                if !pk_cols.is_empty() || !primary_key.is_empty() {
                    return Err(DbError::new(
                        "42P16",
                        format!(
                            "multiple primary keys for table \"{}\" are not allowed",
                            name.name
                        ),
                    ));
                }
                pk_cols.push(i);
            }
            if def.unique && !def.primary_key {
                keys.push(Constraint {
                    name: format!("{}_{}_key", name.name, def.name),
                    columns: vec![i],
                });
            }
            columns.push(Column {
                name: def.name.clone(),
                ty: def.ty.ty,
                length: def.ty.length,
                not_null: def.not_null || def.ty.serial,
                default,
            });
        }
        for col in &primary_key {
            let Some(i) = columns.iter().position(|c| &c.name == col) else {
                return Err(DbError::new(
                    "42703",
                    format!("column \"{col}\" named in key does not exist"),
                ));
            };
            pk_cols.push(i);
        }
        if !pk_cols.is_empty() {
            for &i in &pk_cols {
                columns[i].not_null = true;
            }
            keys.insert(
                0,
                Constraint {
                    name: format!("{}_pkey", name.name),
                    columns: pk_cols,
                },
            );
        }
        let table = Table {
            schema,
            name: name.name.clone(),
            owner,
            columns,
            rows: Vec::new(),
            keys,
            grants: BTreeMap::new(),
            owned_sequences: owned,
        };
        self.db_mut()?.tables.insert(key, table);
        Ok(Outcome::Command("CREATE TABLE".into()))
    }

    /// `GRANT`/`REVOKE` of privileges on an object, or of role
    /// membership, to roles that must exist.
    fn grant(
        &mut self,
        revoke: bool,
        privileges: Vec<String>,
        object: GrantObject,
        roles: Vec<String>,
    ) -> Result<Outcome, DbError> {
        let tag = if revoke { "REVOKE" } else { "GRANT" };
        for r in &roles {
            if r != "public" && !self.engine.state.catalog.roles.contains_key(r) {
                return Err(DbError::new(
                    "42704",
                    format!("role \"{r}\" does not exist"),
                ));
            }
        }
        let g = Grant {
            revoke,
            privileges: &privileges,
            roles: &roles,
        };
        match object {
            GrantObject::Tables(names) => self.grant_tables(&g, names)?,
            GrantObject::AllTablesInSchema(schemas) => {
                g.check(TABLE_PRIVS, "table")?;
                self.require_superuser("permission denied for schema")?;
                let db = self.db_mut()?;
                if let Some(s) = schemas.iter().find(|s| !db.schemas.contains(*s)) {
                    return Err(no_schema(s));
                }
                for t in db.tables.values_mut() {
                    if schemas.contains(&t.schema) {
                        g.apply(&mut t.grants, TABLE_PRIVS);
                    }
                }
            }
            GrantObject::Sequences(names) => self.grant_sequences(&g, names)?,
            GrantObject::AllSequencesInSchema(schemas) => {
                g.check(SEQ_PRIVS, "sequence")?;
                self.require_superuser("permission denied for schema")?;
                let db = self.db_mut()?;
                for (key, seq) in db.sequences.iter_mut() {
                    let schema = key.split('.').next().unwrap_or("");
                    if schemas.iter().any(|s| s == schema) {
                        g.apply(&mut seq.grants, SEQ_PRIVS);
                    }
                }
            }
            GrantObject::Schemas(schemas) => {
                g.check(&["usage", "create"], "schema")?;
                self.require_superuser("permission denied for schema")?;
                let db = self.db_mut()?;
                for s in schemas {
                    if !db.schemas.contains(&s) {
                        return Err(no_schema(&s));
                    }
                    g.apply(db.schema_grants.entry(s).or_default(), &["usage", "create"]);
                }
            }
            GrantObject::Database(names) => {
                g.check(&["connect", "create", "temporary", "temp"], "database")?;
                if let Some(n) = names
                    .iter()
                    .find(|n| !self.engine.state.catalog.databases.contains_key(*n))
                {
                    return Err(DbError::new(
                        "3D000",
                        format!("database \"{n}\" does not exist"),
                    ));
                }
            }
            GrantObject::Roles(granted) => self.grant_roles(revoke, &granted, &roles)?,
        }
        Ok(Outcome::Command(tag.into()))
    }

    /// `GRANT ... ON [TABLE] t`: tables, or sequences named as tables.
    fn grant_tables(&mut self, g: &Grant<'_>, names: Vec<ObjName>) -> Result<(), DbError> {
        g.check(TABLE_PRIVS, "table")?;
        for name in names {
            let Some(key) = self.table_key(&name)? else {
                let schema = name.schema.clone().unwrap_or_else(|| "public".into());
                let seq_key = format!("{schema}.{}", name.name);
                // GRANT ... ON TABLE works on sequences too.
                match self.db_mut()?.sequences.get_mut(&seq_key) {
                    Some(seq) => {
                        g.apply(&mut seq.grants, SEQ_PRIVS);
                        continue;
                    }
                    None => return Err(DbError::undefined_table(&name)),
                }
            };
            self.require_owner(&key)?;
            let table = self.table_mut(&key)?;
            g.apply(&mut table.grants, TABLE_PRIVS);
        }
        Ok(())
    }

    /// `GRANT ... ON SEQUENCE s`: by its owner or a superuser.
    fn grant_sequences(&mut self, g: &Grant<'_>, names: Vec<ObjName>) -> Result<(), DbError> {
        g.check(SEQ_PRIVS, "sequence")?;
        for name in names {
            let schema = name.schema.clone().unwrap_or_else(|| "public".into());
            let key = format!("{schema}.{}", name.name);
            let superuser = self.superuser();
            let role = self.role();
            let Some(seq) = self.db_mut()?.sequences.get_mut(&key) else {
                return Err(DbError::undefined_table(&name));
            };
            if !superuser && seq.owner != role {
                return Err(DbError::new(
                    "42501",
                    format!("permission denied for sequence {}", name.name),
                ));
            }
            g.apply(&mut seq.grants, SEQ_PRIVS);
        }
        Ok(())
    }

    /// `GRANT role TO role`: membership.
    fn grant_roles(
        &mut self,
        revoke: bool,
        granted: &[String],
        roles: &[String],
    ) -> Result<(), DbError> {
        self.require_superuser("permission denied to grant role")?;
        let catalog = &mut self.engine.state.catalog;
        if let Some(g) = granted.iter().find(|g| !catalog.roles.contains_key(*g)) {
            return Err(DbError::new(
                "42704",
                format!("role \"{g}\" does not exist"),
            ));
        }
        for r in roles {
            if let Some(role) = catalog.roles.get_mut(r) {
                for g in granted {
                    if revoke {
                        role.member_of.remove(g);
                    } else {
                        role.member_of.insert(g.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn require_owner(&self, key: &str) -> Result<(), DbError> {
        if self.superuser() {
            return Ok(());
        }
        let t = self.table(key)?;
        if t.owner == self.role() {
            Ok(())
        } else {
            Err(DbError::new(
                "42501",
                format!("permission denied for table {}", t.name),
            ))
        }
    }

    fn names(table: &Table) -> Vec<String> {
        table.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Checks a row against the table's constraints (NOT NULL, lengths,
    /// keys), `skip` being the index of the row it replaces.
    fn check_row(table: &Table, row: &[Value], skip: Option<usize>) -> Result<(), DbError> {
        for (i, col) in table.columns.iter().enumerate() {
            if col.not_null && row[i].is_null() {
                return Err(DbError::new(
                    "23502",
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        col.name, table.name
                    ),
                )
                .detail(failing_row(row)));
            }
            if let (Some(n), Value::Text(s)) = (col.length, &row[i])
                && col.ty == SqlType::Varchar
                && s.chars().count() > n as usize
            {
                return Err(DbError::new(
                    "22001",
                    format!("value too long for type character varying({n})"),
                ));
            }
        }
        for key in &table.keys {
            let mine: Vec<&Value> = key.columns.iter().map(|&i| &row[i]).collect();
            if mine.iter().any(|v| v.is_null()) {
                continue;
            }
            let clash = table.rows.iter().enumerate().any(|(r, other)| {
                Some(r) != skip
                    && key
                        .columns
                        .iter()
                        .map(|&i| &other[i])
                        .eq(mine.iter().copied())
            });
            if clash {
                let cols: Vec<&str> = key
                    .columns
                    .iter()
                    .map(|&i| table.columns[i].name.as_str())
                    .collect();
                let vals: Vec<String> = mine
                    .iter()
                    .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
                    .collect();
                return Err(DbError::new(
                    "23505",
                    format!(
                        "duplicate key value violates unique constraint \"{}\"",
                        key.name
                    ),
                )
                .detail(format!(
                    "Key ({})=({}) already exists.",
                    cols.join(", "),
                    vals.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn insert(
        &mut self,
        name: &ObjName,
        columns: Option<Vec<String>>,
        source: InsertSource,
        returning: Option<Vec<SelectItem>>,
    ) -> Result<Outcome, DbError> {
        let key = self.require_table(name)?;
        self.check_table_privilege(&key, "insert")?;
        let table = self.table(&key)?.clone();
        let targets: Vec<usize> = match &columns {
            Some(cols) => cols
                .iter()
                .map(|c| {
                    table
                        .columns
                        .iter()
                        .position(|col| &col.name == c)
                        .ok_or_else(|| {
                            DbError::new(
                                "42703",
                                format!(
                                    "column \"{c}\" of relation \"{}\" does not exist",
                                    table.name
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => (0..table.columns.len()).collect(),
        };
        let rows_in = match source {
            InsertSource::Defaults => vec![Vec::new()],
            InsertSource::Values(rows) => rows,
        };
        let mut inserted = Vec::new();
        for exprs in rows_in {
            if exprs.len() > targets.len() {
                return Err(DbError::new(
                    "42601",
                    "INSERT has more expressions than target columns",
                ));
            }
            if !exprs.is_empty() && exprs.len() < targets.len() && columns.is_some() {
                return Err(DbError::new(
                    "42601",
                    "INSERT has more target columns than expressions",
                ));
            }
            let mut given: Vec<Option<Value>> = vec![None; table.columns.len()];
            for (expr, &col) in exprs.iter().zip(&targets) {
                if matches!(expr, Expr::Keyword(k) if k == "default") {
                    continue;
                }
                let v = self.eval(expr, &Row::none())?;
                given[col] = Some(self.assign(&table, col, v)?);
            }
            let mut row = Vec::with_capacity(table.columns.len());
            for (i, g) in given.into_iter().enumerate() {
                let v = match g {
                    Some(v) => v,
                    None => self.default_value(&table, i)?,
                };
                row.push(v);
            }
            let current = self.table(&key)?;
            Self::check_row(current, &row, None)?;
            self.table_mut(&key)?.rows.push(row.clone());
            inserted.push(row);
        }
        let tag = format!("INSERT 0 {}", inserted.len());
        self.returning(&table, returning, inserted, tag)
    }

    fn default_value(&mut self, table: &Table, i: usize) -> Result<Value, DbError> {
        let col = &table.columns[i];
        let Some(text) = &col.default else {
            return Ok(Value::Null);
        };
        let expr = sql::parse_expr(text)?;
        let v = self.eval(&expr, &Row::none())?;
        self.assign(table, i, v)
    }

    /// Converts a value for column `i` (assignment cast).
    fn assign(&self, table: &Table, i: usize, v: Value) -> Result<Value, DbError> {
        let col = &table.columns[i];
        v.coerce(col.ty).map_err(|e| {
            if e.code == "42846" {
                DbError::new(
                    "42804",
                    format!(
                        "column \"{}\" is of type {} but expression is of another type",
                        col.name,
                        col.ty.display_name()
                    ),
                )
                .hint("You will need to rewrite or cast the expression.")
            } else {
                e.into()
            }
        })
    }

    fn returning(
        &mut self,
        table: &Table,
        returning: Option<Vec<SelectItem>>,
        rows: Vec<Vec<Value>>,
        tag: String,
    ) -> Result<Outcome, DbError> {
        let Some(items) = returning else {
            return Ok(Outcome::Command(tag));
        };
        let names = Self::names(table);
        let source_cols: Vec<ColumnDesc> = table
            .columns
            .iter()
            .map(|c| ColumnDesc {
                name: c.name.clone(),
                ty: c.ty,
            })
            .collect();
        let columns = self.output_columns(&items, &source_cols)?;
        let mut out = Vec::new();
        for row in &rows {
            out.push(self.project(&items, &names, row)?);
        }
        Ok(Outcome::Rows {
            columns,
            rows: out,
            tag,
        })
    }

    fn update(
        &mut self,
        name: &ObjName,
        sets: Vec<(String, Expr)>,
        filter: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    ) -> Result<Outcome, DbError> {
        let key = self.require_table(name)?;
        self.check_table_privilege(&key, "update")?;
        if filter.is_some() || returning.is_some() {
            self.check_table_privilege(&key, "select")?;
        }
        let table = self.table(&key)?.clone();
        let names = Self::names(&table);
        let mut targets = Vec::new();
        for (col, expr) in &sets {
            let Some(i) = table.columns.iter().position(|c| &c.name == col) else {
                return Err(DbError::new(
                    "42703",
                    format!(
                        "column \"{col}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                ));
            };
            targets.push((i, expr.clone()));
        }
        let mut changed = Vec::new();
        for (r, old) in table.rows.iter().enumerate() {
            if let Some(f) = &filter
                && !self.truthy(f, &names, old)?
            {
                continue;
            }
            let mut new = old.clone();
            for (i, expr) in &targets {
                let v = if matches!(expr, Expr::Keyword(k) if k == "default") {
                    self.default_value(&table, *i)?
                } else {
                    let row = Row {
                        names: &names,
                        values: old,
                        group: None,
                    };
                    let v = self.eval(expr, &row)?;
                    self.assign(&table, *i, v)?
                };
                new[*i] = v;
            }
            Self::check_row(self.table(&key)?, &new, Some(r))?;
            self.table_mut(&key)?.rows[r] = new.clone();
            changed.push(new);
        }
        let tag = format!("UPDATE {}", changed.len());
        self.returning(&table, returning, changed, tag)
    }

    fn delete(
        &mut self,
        name: &ObjName,
        filter: Option<Expr>,
        returning: Option<Vec<SelectItem>>,
    ) -> Result<Outcome, DbError> {
        let key = self.require_table(name)?;
        self.check_table_privilege(&key, "delete")?;
        if filter.is_some() || returning.is_some() {
            self.check_table_privilege(&key, "select")?;
        }
        let table = self.table(&key)?.clone();
        let names = Self::names(&table);
        let mut kept = Vec::new();
        let mut gone = Vec::new();
        for row in &table.rows {
            let hit = match &filter {
                Some(f) => self.truthy(f, &names, row)?,
                None => true,
            };
            if hit {
                gone.push(row.clone());
            } else {
                kept.push(row.clone());
            }
        }
        self.table_mut(&key)?.rows = kept;
        let tag = format!("DELETE {}", gone.len());
        self.returning(&table, returning, gone, tag)
    }

    fn truthy(&mut self, e: &Expr, names: &[String], values: &[Value]) -> Result<bool, DbError> {
        let row = Row {
            names,
            values,
            group: None,
        };
        match self.eval(e, &row)? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            other => Err(DbError::new(
                "42804",
                format!(
                    "argument of WHERE must be type boolean, not type {}",
                    other.natural_type().display_name()
                ),
            )),
        }
    }

    /// Reads a relation: a stored table or a catalog view.
    fn source(&self, name: &ObjName) -> Result<Source, DbError> {
        let schema = name.schema.as_deref();
        if matches!(schema, None | Some("pg_catalog" | "information_schema"))
            && let Some(src) = self.catalog_view(schema, &name.name)?
        {
            return Ok(src);
        }
        let key = self.require_table(name)?;
        self.check_table_privilege(&key, "select")?;
        let t = self.table(&key)?;
        Ok(Source {
            columns: t
                .columns
                .iter()
                .map(|c| ColumnDesc {
                    name: c.name.clone(),
                    ty: c.ty,
                })
                .collect(),
            rows: t.rows.clone(),
        })
    }

    /// The catalog views psql and PostgREST-like clients read.
    fn catalog_view(&self, schema: Option<&str>, name: &str) -> Result<Option<Source>, DbError> {
        let cols = column_descs;
        let text = text_value;
        let catalog = &self.engine.state.catalog;
        let db = self.db()?;
        let is_info = schema == Some("information_schema");
        let src = match (is_info, name) {
            (false, "pg_roles" | "pg_user" | "pg_authid") => self.roles_view(name)?,
            (false, "pg_database") => Source {
                columns: cols(&[
                    ("datname", SqlType::Name),
                    ("oid", SqlType::Oid),
                    ("owner", SqlType::Name),
                ]),
                rows: catalog
                    .databases
                    .iter()
                    .map(|(n, d)| vec![text(n), Value::Int(i64::from(d.oid)), text(&d.owner)])
                    .collect(),
            },
            (false, "pg_indexes") => indexes_view(db),
            (false, "pg_namespace") => Source {
                columns: cols(&[("nspname", SqlType::Name)]),
                rows: db.schemas.iter().map(|s| vec![text(s)]).collect(),
            },
            (false, "pg_tables") => Source {
                columns: cols(&[
                    ("schemaname", SqlType::Name),
                    ("tablename", SqlType::Name),
                    ("tableowner", SqlType::Name),
                ]),
                rows: db
                    .tables
                    .values()
                    .map(|t| vec![text(&t.schema), text(&t.name), text(&t.owner)])
                    .collect(),
            },
            (true, "tables") => Source {
                columns: cols(&[
                    ("table_catalog", SqlType::Name),
                    ("table_schema", SqlType::Name),
                    ("table_name", SqlType::Name),
                    ("table_type", SqlType::Text),
                ]),
                rows: db
                    .tables
                    .values()
                    .map(|t| {
                        vec![
                            text(&self.session.database),
                            text(&t.schema),
                            text(&t.name),
                            text("BASE TABLE"),
                        ]
                    })
                    .collect(),
            },
            (true, "columns") => columns_view(db, &self.session.database),
            (true, "table_privileges") => privileges_view(db),
            _ => return Ok(None),
        };
        Ok(Some(src))
    }

    /// `pg_roles`, `pg_user` and `pg_authid` (with the password hashes:
    /// superusers only).
    fn roles_view(&self, name: &str) -> Result<Source, DbError> {
        let (cols, text) = (column_descs, text_value);
        let user_view = name == "pg_user";
        let authid = name == "pg_authid";
        if authid && !self.superuser() {
            return Err(DbError::new(
                "42501",
                "permission denied for table pg_authid",
            ));
        }
        let mut columns = if user_view {
            cols(&[("usename", SqlType::Name), ("usesuper", SqlType::Bool)])
        } else {
            cols(&[
                ("rolname", SqlType::Name),
                ("rolsuper", SqlType::Bool),
                ("rolcanlogin", SqlType::Bool),
            ])
        };
        if authid {
            columns.extend(cols(&[("rolpassword", SqlType::Text)]));
        }
        let rows = self
            .engine
            .state
            .catalog
            .roles
            .iter()
            .filter(|(_, r)| !user_view || r.login)
            .map(|(n, r)| {
                let mut row = vec![text(n), Value::Bool(r.superuser)];
                if !user_view {
                    row.push(Value::Bool(r.login));
                }
                if authid {
                    row.push(r.password.as_deref().map_or(Value::Null, text));
                }
                row
            })
            .collect();
        Ok(Source { columns, rows })
    }

    /// The description of a SELECT's output columns.
    fn output_columns(
        &self,
        items: &[SelectItem],
        source: &[ColumnDesc],
    ) -> Result<Vec<ColumnDesc>, DbError> {
        let mut out = Vec::new();
        for item in items {
            match item {
                SelectItem::Wildcard => out.extend(source.iter().cloned()),
                SelectItem::Expr { expr, alias } => out.push(ColumnDesc {
                    name: alias.clone().unwrap_or_else(|| column_name(expr)),
                    ty: self.expr_type(expr, source)?,
                }),
            }
        }
        Ok(out)
    }

    fn project(
        &mut self,
        items: &[SelectItem],
        names: &[String],
        values: &[Value],
    ) -> Result<Vec<Value>, DbError> {
        let mut out = Vec::new();
        let row = Row {
            names,
            values,
            group: None,
        };
        for item in items {
            match item {
                SelectItem::Wildcard => out.extend(values.iter().cloned()),
                SelectItem::Expr { expr, .. } => out.push(self.eval(expr, &row)?),
            }
        }
        Ok(out)
    }

    fn select(&mut self, s: &Select) -> Result<(Vec<ColumnDesc>, Vec<Vec<Value>>), DbError> {
        let source = match &s.from {
            Some(name) => self.source(name)?,
            None => Source {
                columns: Vec::new(),
                rows: vec![Vec::new()],
            },
        };
        if s.from.is_none() && s.items.iter().any(|i| matches!(i, SelectItem::Wildcard)) {
            return Err(DbError::new(
                "42601",
                "SELECT * with no tables specified is not valid",
            ));
        }
        let names: Vec<String> = source.columns.iter().map(|c| c.name.clone()).collect();
        let mut rows = Vec::new();
        for row in &source.rows {
            let keep = match &s.filter {
                Some(f) => self.truthy(f, &names, row)?,
                None => true,
            };
            if keep {
                rows.push(row.clone());
            }
        }
        let columns = self.output_columns(&s.items, &source.columns)?;
        let aggregate = s.items.iter().any(|i| match i {
            SelectItem::Expr { expr, .. } => has_aggregate(expr),
            SelectItem::Wildcard => false,
        });
        let mut out: Vec<Vec<Value>> = Vec::new();
        if aggregate {
            let mut values = Vec::new();
            for item in &s.items {
                match item {
                    SelectItem::Expr { expr, .. } => {
                        let row = Row {
                            names: &names,
                            values: &[],
                            group: Some(&rows),
                        };
                        values.push(self.eval(expr, &row)?);
                    }
                    SelectItem::Wildcard => {
                        return Err(DbError::new(
                            "42803",
                            "column \"*\" must appear in the GROUP BY clause or be used in an aggregate function",
                        ));
                    }
                }
            }
            out.push(values);
        } else {
            let mut keyed: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
            for row in &rows {
                let projected = self.project(&s.items, &names, row)?;
                let mut keys = Vec::new();
                for o in &s.order {
                    keys.push(self.order_key(o, &columns, &projected, &names, row)?);
                }
                keyed.push((keys, projected));
            }
            if !s.order.is_empty() {
                let order = s.order.clone();
                let mut err = None;
                keyed.sort_by(|(a, _), (b, _)| {
                    for (i, o) in order.iter().enumerate() {
                        let ord = order_values(&a[i], &b[i], o).unwrap_or_else(|e| {
                            err.get_or_insert(e);
                            std::cmp::Ordering::Equal
                        });
                        if ord != std::cmp::Ordering::Equal {
                            return ord;
                        }
                    }
                    std::cmp::Ordering::Equal
                });
                if let Some(e) = err {
                    return Err(e.into());
                }
            }
            out = keyed.into_iter().map(|(_, p)| p).collect();
        }
        let offset = match &s.offset {
            Some(e) => self.count_value(e, "OFFSET")?,
            None => 0,
        };
        let limit = match &s.limit {
            Some(e) => Some(self.count_value(e, "LIMIT")?),
            None => None,
        };
        let out: Vec<Vec<Value>> = out
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
        Ok((columns, out))
    }

    fn count_value(&mut self, e: &Expr, what: &str) -> Result<usize, DbError> {
        match self.eval(e, &Row::none())?.coerce(SqlType::Int8)? {
            Value::Int(n) if n >= 0 => Ok(n as usize),
            Value::Null => Ok(usize::MAX),
            _ => Err(DbError::new(
                "2201W",
                format!("{what} must not be negative"),
            )),
        }
    }

    fn order_key(
        &mut self,
        o: &OrderItem,
        columns: &[ColumnDesc],
        projected: &[Value],
        names: &[String],
        row: &[Value],
    ) -> Result<Value, DbError> {
        if let Expr::Literal(Literal::Int(n)) = &o.expr {
            let i = usize::try_from(*n)
                .ok()
                .filter(|i| *i >= 1 && *i <= projected.len());
            return match i {
                Some(i) => Ok(projected[i - 1].clone()),
                None => Err(DbError::new(
                    "42P10",
                    format!("ORDER BY position {n} is not in select list"),
                )),
            };
        }
        if let Expr::Column(c) = &o.expr
            && !names.contains(c)
            && let Some(i) = columns.iter().position(|col| &col.name == c)
        {
            return Ok(projected[i].clone());
        }
        let r = Row {
            names,
            values: row,
            group: None,
        };
        self.eval(&o.expr, &r)
    }

    fn expr_type(&self, e: &Expr, source: &[ColumnDesc]) -> Result<SqlType, DbError> {
        Ok(match e {
            Expr::Literal(l) => match l {
                Literal::Null | Literal::Str(_) => SqlType::Text,
                Literal::Bool(_) => SqlType::Bool,
                Literal::Int(n) if i32::try_from(*n).is_ok() => SqlType::Int4,
                Literal::Int(_) => SqlType::Int8,
                Literal::Decimal(_) => SqlType::Numeric,
            },
            Expr::Column(c) => match source.iter().find(|col| &col.name == c) {
                Some(col) => col.ty,
                None => return Err(undefined_column(c)),
            },
            Expr::Binary(a, op, b) => match op {
                BinOp::Concat => SqlType::Text,
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                    let (x, y) = (self.expr_type(a, source)?, self.expr_type(b, source)?);
                    if x == SqlType::Timestamptz || y == SqlType::Timestamptz {
                        SqlType::Timestamptz
                    } else if x == SqlType::Float8 || y == SqlType::Float8 {
                        SqlType::Float8
                    } else if x == SqlType::Numeric || y == SqlType::Numeric {
                        SqlType::Numeric
                    } else if x == SqlType::Int8 || y == SqlType::Int8 {
                        SqlType::Int8
                    } else {
                        SqlType::Int4
                    }
                }
                _ => SqlType::Bool,
            },
            Expr::Not(_)
            | Expr::IsNull { .. }
            | Expr::Like { .. }
            | Expr::InList { .. }
            | Expr::Between { .. }
            | Expr::Exists(_) => SqlType::Bool,
            Expr::Neg(a) => self.expr_type(a, source)?,
            Expr::Cast(_, ty) => ty.ty,
            Expr::Keyword(k) => match k.as_str() {
                "current_timestamp" => SqlType::Timestamptz,
                "localtimestamp" => SqlType::Timestamp,
                "current_date" => SqlType::Date,
                _ => SqlType::Name,
            },
            Expr::Subquery(_) => SqlType::Text,
            Expr::Func { name, args, .. } => match name.as_str() {
                "count" | "nextval" | "currval" | "setval" | "lastval" => SqlType::Int8,
                "sum" => match args.first().map(|a| self.expr_type(a, source)) {
                    Some(Ok(SqlType::Int2 | SqlType::Int4)) => SqlType::Int8,
                    Some(Ok(SqlType::Float8)) => SqlType::Float8,
                    _ => SqlType::Numeric,
                },
                "avg" => SqlType::Numeric,
                "max" | "min" | "coalesce" | "nullif" | "abs" | "greatest" | "least" => {
                    match args.first() {
                        Some(a) => self.expr_type(a, source)?,
                        None => SqlType::Text,
                    }
                }
                "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp" => {
                    SqlType::Timestamptz
                }
                "length" | "char_length" | "pg_backend_pid" | "octet_length" => SqlType::Int4,
                "random" => SqlType::Float8,
                "round" => SqlType::Numeric,
                "gen_random_uuid" => SqlType::Uuid,
                "bool_and" | "bool_or" | "pg_has_role" => SqlType::Bool,
                "json_agg" | "row_to_json" | "to_json" | "json_build_object" => SqlType::Json,
                "current_database" | "current_user" | "current_schema" | "session_user" => {
                    SqlType::Name
                }
                _ => SqlType::Text,
            },
        })
    }

    fn eval(&mut self, e: &Expr, row: &Row<'_>) -> Result<Value, DbError> {
        match e {
            Expr::Literal(l) => Ok(match l {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Int(n) => Value::Int(*n),
                Literal::Decimal(d) => Value::Numeric(d.clone()),
                Literal::Str(s) => Value::Text(s.clone()),
            }),
            Expr::Column(c) => {
                if row.group.is_some() {
                    return Err(DbError::new(
                        "42803",
                        format!(
                            "column \"{c}\" must appear in the GROUP BY clause or be used in an aggregate function"
                        ),
                    ));
                }
                match row.names.iter().position(|n| n == c) {
                    Some(i) => Ok(row.values.get(i).cloned().unwrap_or(Value::Null)),
                    None => Err(undefined_column(c)),
                }
            }
            Expr::Keyword(k) => Ok(self.keyword(k)),
            Expr::Not(a) => Ok(match self.eval(a, row)? {
                Value::Bool(b) => Value::Bool(!b),
                Value::Null => Value::Null,
                other => return Err(not_boolean("NOT", &other)),
            }),
            Expr::Neg(a) => Ok(match self.eval(a, row)? {
                Value::Int(n) => Value::Int(-n),
                Value::Float(f) => Value::Float(-f),
                Value::Numeric(s) => Value::Numeric(match s.strip_prefix('-') {
                    Some(rest) => rest.to_string(),
                    None => format!("-{s}"),
                }),
                Value::Null => Value::Null,
                other => return Err(operator_error("-", &other, &other)),
            }),
            Expr::IsNull { expr, negated } => {
                let v = self.eval(expr, row)?;
                Ok(Value::Bool(v.is_null() != *negated))
            }
            Expr::Binary(a, op, b) => self.binary(a, *op, b, row),
            Expr::Like {
                expr,
                pattern,
                insensitive,
                negated,
            } => {
                let v = self.eval(expr, row)?;
                let p = self.eval(pattern, row)?;
                let (Some(v), Some(p)) = (v.to_text(), p.to_text()) else {
                    return Ok(Value::Null);
                };
                let hit = like(&v, &p, *insensitive);
                Ok(Value::Bool(hit != *negated))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => self.in_list(expr, list, *negated, row),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = self.eval(expr, row)?;
                let lo = self.eval(low, row)?;
                let hi = self.eval(high, row)?;
                if v.is_null() || lo.is_null() || hi.is_null() {
                    return Ok(Value::Null);
                }
                let inside = value::compare(&v, &lo)? != std::cmp::Ordering::Less
                    && value::compare(&v, &hi)? != std::cmp::Ordering::Greater;
                Ok(Value::Bool(inside != *negated))
            }
            Expr::Cast(a, ty) => {
                let v = self.eval(a, row)?;
                let v = v.coerce(ty.ty)?;
                if let (Some(n), Value::Text(s)) = (ty.length, &v)
                    && matches!(ty.ty, SqlType::Varchar | SqlType::Bpchar)
                {
                    return Ok(Value::Text(s.chars().take(n as usize).collect()));
                }
                Ok(v)
            }
            Expr::Exists(s) => {
                let (_, rows) = self.select(s)?;
                Ok(Value::Bool(!rows.is_empty()))
            }
            Expr::Subquery(s) => {
                let (_, rows) = self.select(s)?;
                if rows.len() > 1 {
                    return Err(DbError::new(
                        "21000",
                        "more than one row returned by a subquery used as an expression",
                    ));
                }
                Ok(rows
                    .into_iter()
                    .next()
                    .and_then(|r| r.into_iter().next())
                    .unwrap_or(Value::Null))
            }
            Expr::Func {
                name,
                args,
                star,
                distinct,
            } => self.call(name, args, *star, *distinct, row),
        }
    }

    /// SQL's value keywords (`current_user`, `current_timestamp`...).
    fn keyword(&self, k: &str) -> Value {
        match k {
            "current_user" | "user" => Value::Text(self.role()),
            "session_user" => Value::Text(self.session.user.clone()),
            "current_timestamp" => Value::Timestamptz(self.session.now()),
            "localtimestamp" => Value::Timestamp(
                self.session
                    .now()
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .datetime(),
            ),
            "current_date" => {
                Value::Date(self.session.now().to_zoned(jiff::tz::TimeZone::UTC).date())
            }
            "current_schema" => Value::Text("public".into()),
            "current_catalog" => Value::Text(self.session.database.clone()),
            _ => Value::Null,
        }
    }

    /// `x [NOT] IN (a, b)`, with SQL's three-valued logic.
    fn in_list(
        &mut self,
        expr: &Expr,
        list: &[Expr],
        negated: bool,
        row: &Row<'_>,
    ) -> Result<Value, DbError> {
        let v = self.eval(expr, row)?;
        if v.is_null() {
            return Ok(Value::Null);
        }
        let mut saw_null = false;
        for item in list {
            let w = self.eval(item, row)?;
            if w.is_null() {
                saw_null = true;
                continue;
            }
            if value::compare(&v, &w)? == std::cmp::Ordering::Equal {
                return Ok(Value::Bool(!negated));
            }
        }
        Ok(if saw_null {
            Value::Null
        } else {
            Value::Bool(negated)
        })
    }

    fn binary(&mut self, a: &Expr, op: BinOp, b: &Expr, row: &Row<'_>) -> Result<Value, DbError> {
        if op == BinOp::And || op == BinOp::Or {
            let x = self.eval(a, row)?;
            let x = as_bool(x, if op == BinOp::And { "AND" } else { "OR" })?;
            // Short-circuit as PostgreSQL may.
            match (op, x) {
                (BinOp::And, Some(false)) => return Ok(Value::Bool(false)),
                (BinOp::Or, Some(true)) => return Ok(Value::Bool(true)),
                _ => {}
            }
            let y = self.eval(b, row)?;
            let y = as_bool(y, if op == BinOp::And { "AND" } else { "OR" })?;
            return Ok(match (op, x, y) {
                (BinOp::And, Some(true), Some(v)) | (BinOp::Or, Some(false), Some(v)) => {
                    Value::Bool(v)
                }
                (BinOp::And, _, Some(false)) => Value::Bool(false),
                (BinOp::Or, _, Some(true)) => Value::Bool(true),
                _ => Value::Null,
            });
        }
        let x = self.eval(a, row)?;
        let y = self.eval(b, row)?;
        if x.is_null() || y.is_null() {
            return Ok(Value::Null);
        }
        use std::cmp::Ordering as O;
        let cmp = |x: &Value, y: &Value| value::compare(x, y).map_err(DbError::from);
        Ok(match op {
            BinOp::Eq => Value::Bool(cmp(&x, &y)? == O::Equal),
            BinOp::Ne => Value::Bool(cmp(&x, &y)? != O::Equal),
            BinOp::Lt => Value::Bool(cmp(&x, &y)? == O::Less),
            BinOp::Le => Value::Bool(cmp(&x, &y)? != O::Greater),
            BinOp::Gt => Value::Bool(cmp(&x, &y)? == O::Greater),
            BinOp::Ge => Value::Bool(cmp(&x, &y)? != O::Less),
            BinOp::Concat => Value::Text(format!(
                "{}{}",
                x.to_text().unwrap_or_default(),
                y.to_text().unwrap_or_default()
            )),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => arithmetic(op, x, y)?,
            BinOp::And | BinOp::Or => Value::Null,
        })
    }

    fn sequence_key(&self, arg: &str) -> String {
        let name = arg.trim_matches('"');
        if name.contains('.') {
            name.to_string()
        } else {
            format!("public.{name}")
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
        row: &Row<'_>,
    ) -> Result<Value, DbError> {
        if AGGREGATES.contains(&name) {
            let Some(group) = row.group else {
                return Err(DbError::new(
                    "42803",
                    format!("aggregate function calls cannot be nested or used here: {name}"),
                ));
            };
            return self.aggregate(name, args, star, distinct, row.names, group);
        }
        let mut vals = Vec::new();
        for a in args {
            vals.push(self.eval(a, row)?);
        }
        let arity = |n: usize| -> Result<(), DbError> {
            if vals.len() == n {
                Ok(())
            } else {
                Err(no_function(name, &vals))
            }
        };
        Ok(match name {
            "now" | "transaction_timestamp" => {
                arity(0)?;
                Value::Timestamptz(self.session.now())
            }
            "statement_timestamp" | "clock_timestamp" => {
                arity(0)?;
                Value::Timestamptz(jiff::Timestamp::now())
            }
            "version" => {
                arity(0)?;
                Value::Text(VERSION_STRING.to_string())
            }
            "current_database" => {
                arity(0)?;
                Value::Text(self.session.database.clone())
            }
            "current_user" => Value::Text(self.role()),
            "current_schema" => Value::Text("public".into()),
            "pg_backend_pid" => Value::Int(i64::from(self.session.pid)),
            "random" => Value::Float(rand::random::<f64>()),
            "gen_random_uuid" => Value::Text(uuid::Uuid::new_v4().to_string()),
            "lower" | "upper" | "length" | "char_length" | "octet_length" | "md5" | "trim"
            | "btrim" => {
                arity(1)?;
                let Some(s) = vals[0].to_text() else {
                    return Ok(Value::Null);
                };
                match name {
                    "lower" => Value::Text(s.to_lowercase()),
                    "upper" => Value::Text(s.to_uppercase()),
                    "trim" | "btrim" => Value::Text(s.trim().to_string()),
                    "octet_length" => Value::Int(s.len() as i64),
                    "md5" => {
                        return Err(DbError::new(
                            "0A000",
                            "md5() is not supported by the kubetutor sandbox's PostgreSQL emulation",
                        ));
                    }
                    _ => Value::Int(s.chars().count() as i64),
                }
            }
            "concat" => Value::Text(vals.iter().filter_map(Value::to_text).collect()),
            "coalesce" => vals
                .into_iter()
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null),
            "nullif" => {
                arity(2)?;
                if !vals[0].is_null()
                    && !vals[1].is_null()
                    && value::compare(&vals[0], &vals[1])? == std::cmp::Ordering::Equal
                {
                    Value::Null
                } else {
                    vals[0].clone()
                }
            }
            "greatest" | "least" => {
                let mut best: Option<Value> = None;
                for v in vals.into_iter().filter(|v| !v.is_null()) {
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let ord = value::compare(&v, &b)?;
                            let better = if name == "greatest" {
                                ord == std::cmp::Ordering::Greater
                            } else {
                                ord == std::cmp::Ordering::Less
                            };
                            if better { v } else { b }
                        }
                    });
                }
                best.unwrap_or(Value::Null)
            }
            "abs" => {
                arity(1)?;
                match &vals[0] {
                    Value::Int(n) => Value::Int(n.abs()),
                    Value::Float(f) => Value::Float(f.abs()),
                    Value::Null => Value::Null,
                    other => Value::Float(value::as_f64(other).abs()),
                }
            }
            "round" => {
                let f = value::as_f64(&vals.first().cloned().unwrap_or(Value::Null));
                let digits = vals.get(1).map(value::as_f64).unwrap_or(0.0) as i32;
                let scale = 10f64.powi(digits);
                let r = (f * scale).round() / scale;
                Value::Numeric(format!("{r:.prec$}", prec = digits.max(0) as usize))
            }
            "nextval" | "currval" | "setval" => {
                let Some(seq_name) = vals.first().and_then(Value::to_text) else {
                    return Err(no_function(name, &vals));
                };
                self.sequence_call(name, &seq_name, vals.get(1).cloned())?
            }
            "pg_notify" => {
                arity(2)?;
                let channel = vals[0].to_text().unwrap_or_default();
                let payload = vals[1].to_text().unwrap_or_default();
                self.session.queue_notify(channel, payload);
                Value::Text(String::new())
            }
            "pg_sleep" => {
                arity(1)?;
                let secs = value::as_f64(&vals[0]).clamp(0.0, 10.0);
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
                Value::Text(String::new())
            }
            "to_json" | "row_to_json" => {
                arity(1)?;
                Value::Json(vals[0].to_json().to_string())
            }
            "pg_has_role" => {
                let role = vals.first().and_then(Value::to_text).unwrap_or_default();
                Value::Bool(self.engine.is_member(&self.role(), &role))
            }
            _ => return Err(no_function(name, &vals)),
        })
    }

    fn sequence_call(
        &mut self,
        func: &str,
        seq_name: &str,
        arg: Option<Value>,
    ) -> Result<Value, DbError> {
        let key = self.sequence_key(seq_name);
        let short = key.rsplit('.').next().unwrap_or(&key).to_string();
        let superuser = self.superuser();
        let roles = self.engine.applicable_roles(&self.role());
        let role = self.role();
        let pid_key = format!("\u{0}currval\u{0}{key}");
        let last = self.session.settings.get(&pid_key).cloned();
        let Some(seq) = self.db_mut()?.sequences.get_mut(&key) else {
            return Err(DbError::new(
                "42P01",
                format!("relation \"{seq_name}\" does not exist"),
            ));
        };
        let allowed = |privs: &[&str]| {
            superuser
                || seq.owner == role
                || roles.iter().any(|r| {
                    seq.grants
                        .get(r)
                        .is_some_and(|p| privs.iter().any(|x| p.contains(*x)))
                })
        };
        let value = match func {
            "nextval" => {
                if !allowed(&["usage", "update"]) {
                    return Err(DbError::new(
                        "42501",
                        format!("permission denied for sequence {short}"),
                    ));
                }
                if seq.is_called {
                    seq.last_value += 1;
                } else {
                    seq.is_called = true;
                }
                seq.last_value
            }
            "currval" => {
                if !allowed(&["usage", "select"]) {
                    return Err(DbError::new(
                        "42501",
                        format!("permission denied for sequence {short}"),
                    ));
                }
                return match last {
                    Some(v) => Ok(Value::Int(v.parse().unwrap_or(0))),
                    None => Err(DbError::new(
                        "55000",
                        format!(
                            "currval of sequence \"{short}\" is not yet defined in this session"
                        ),
                    )),
                };
            }
            _ => {
                if !allowed(&["update"]) {
                    return Err(DbError::new(
                        "42501",
                        format!("permission denied for sequence {short}"),
                    ));
                }
                let n = match arg.map(|v| v.coerce(SqlType::Int8)) {
                    Some(Ok(Value::Int(n))) => n,
                    _ => return Err(no_function("setval", &[])),
                };
                seq.last_value = n;
                seq.is_called = true;
                n
            }
        };
        self.session.settings.insert(pid_key, value.to_string());
        Ok(Value::Int(value))
    }

    fn aggregate(
        &mut self,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
        names: &[String],
        group: &[Vec<Value>],
    ) -> Result<Value, DbError> {
        if name == "count" && star {
            return Ok(Value::Int(group.len() as i64));
        }
        let Some(arg) = args.first() else {
            return Err(no_function(name, &[]));
        };
        let mut values = Vec::new();
        for r in group {
            let row = Row {
                names,
                values: r,
                group: None,
            };
            let v = self.eval(arg, &row)?;
            if !v.is_null() {
                values.push(v);
            }
        }
        if distinct {
            let mut unique: Vec<Value> = Vec::new();
            for v in values {
                if !unique.contains(&v) {
                    unique.push(v);
                }
            }
            values = unique;
        }
        Ok(match name {
            "count" => Value::Int(values.len() as i64),
            "max" | "min" => {
                let mut best: Option<Value> = None;
                for v in values {
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let ord = value::compare(&v, &b)?;
                            let better = if name == "max" {
                                ord == std::cmp::Ordering::Greater
                            } else {
                                ord == std::cmp::Ordering::Less
                            };
                            if better { v } else { b }
                        }
                    });
                }
                best.unwrap_or(Value::Null)
            }
            "sum" => {
                if values.is_empty() {
                    return Ok(Value::Null);
                }
                if values.iter().all(|v| matches!(v, Value::Int(_))) {
                    Value::Int(values.iter().map(|v| value::as_f64(v) as i64).sum())
                } else {
                    Value::Float(values.iter().map(value::as_f64).sum())
                }
            }
            "avg" => {
                if values.is_empty() {
                    return Ok(Value::Null);
                }
                let total: f64 = values.iter().map(value::as_f64).sum();
                Value::Numeric(
                    format!("{:.16}", total / values.len() as f64)
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string(),
                )
            }
            "bool_and" => Value::Bool(values.iter().all(|v| *v == Value::Bool(true))),
            "bool_or" => Value::Bool(values.contains(&Value::Bool(true))),
            "string_agg" => {
                let sep = match args.get(1) {
                    Some(e) => self.eval(e, &Row::none())?.to_text().unwrap_or_default(),
                    None => return Err(no_function(name, &[])),
                };
                let parts: Vec<String> = values.iter().filter_map(Value::to_text).collect();
                Value::Text(parts.join(&sep))
            }
            "json_agg" => {
                let items: Vec<serde_json::Value> = values.iter().map(Value::to_json).collect();
                Value::Json(serde_json::Value::Array(items).to_string())
            }
            _ => return Err(no_function(name, &[])),
        })
    }
}

const TABLE_PRIVS: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "truncate",
    "references",
    "trigger",
];
const SEQ_PRIVS: &[&str] = &["usage", "select", "update"];

/// What one GRANT or REVOKE gives or takes, and to whom.
struct Grant<'a> {
    revoke: bool,
    privileges: &'a [String],
    roles: &'a [String],
}

impl Grant<'_> {
    /// The privileges are ones the object has (`ALL` always is).
    fn check(&self, allowed: &[&str], what: &str) -> Result<(), DbError> {
        match self
            .privileges
            .iter()
            .find(|p| *p != "all" && !allowed.contains(&p.as_str()))
        {
            Some(p) => Err(DbError::new(
                "0LP01",
                format!("invalid privilege type {} for {what}", p.to_uppercase()),
            )),
            None => Ok(()),
        }
    }

    /// Adds or removes the privileges (`ALL` is `all` of the object) in an
    /// object's grants; a role left with none is dropped from them.
    fn apply(&self, grants: &mut BTreeMap<String, BTreeSet<String>>, all: &[&str]) {
        for r in self.roles {
            let set = grants.entry(r.clone()).or_default();
            for p in self.privileges {
                let expanded: Vec<String> = if p == "all" {
                    all.iter().map(|s| s.to_string()).collect()
                } else {
                    vec![p.clone()]
                };
                for e in expanded {
                    if self.revoke {
                        set.remove(&e);
                    } else {
                        set.insert(e);
                    }
                }
            }
            if set.is_empty() {
                grants.remove(r);
            }
        }
    }
}

fn no_schema(name: &str) -> DbError {
    DbError::new("3F000", format!("schema \"{name}\" does not exist"))
}

fn column_descs(spec: &[(&str, SqlType)]) -> Vec<ColumnDesc> {
    spec.iter()
        .map(|(n, t)| ColumnDesc {
            name: n.to_string(),
            ty: *t,
        })
        .collect()
}

fn text_value(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// `pg_indexes`: the unique indexes of primary keys and constraints.
fn indexes_view(db: &DbData) -> Source {
    let text = text_value;
    let mut rows = Vec::new();
    for t in db.tables.values() {
        for k in &t.keys {
            let cols: Vec<&str> = k
                .columns
                .iter()
                .map(|&i| t.columns[i].name.as_str())
                .collect();
            rows.push(vec![
                text(&t.schema),
                text(&t.name),
                text(&k.name),
                Value::Text(format!(
                    "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
                    k.name,
                    t.schema,
                    t.name,
                    cols.join(", ")
                )),
            ]);
        }
    }
    Source {
        columns: column_descs(&[
            ("schemaname", SqlType::Name),
            ("tablename", SqlType::Name),
            ("indexname", SqlType::Name),
            ("indexdef", SqlType::Text),
        ]),
        rows,
    }
}

/// `information_schema.columns`.
fn columns_view(db: &DbData, database: &str) -> Source {
    Source {
        columns: column_descs(&[
            ("table_catalog", SqlType::Name),
            ("table_schema", SqlType::Name),
            ("table_name", SqlType::Name),
            ("column_name", SqlType::Name),
            ("ordinal_position", SqlType::Int4),
            ("column_default", SqlType::Text),
            ("is_nullable", SqlType::Text),
            ("data_type", SqlType::Text),
        ]),
        rows: db
            .tables
            .values()
            .flat_map(|t| {
                t.columns.iter().enumerate().map(move |(i, c)| {
                    vec![
                        Value::Text(database.to_string()),
                        Value::Text(t.schema.clone()),
                        Value::Text(t.name.clone()),
                        Value::Text(c.name.clone()),
                        Value::Int(i as i64 + 1),
                        c.default.clone().map_or(Value::Null, Value::Text),
                        Value::Text(if c.not_null { "NO" } else { "YES" }.into()),
                        Value::Text(c.ty.display_name().into()),
                    ]
                })
            })
            .collect(),
    }
}

/// `information_schema.table_privileges`.
fn privileges_view(db: &DbData) -> Source {
    let text = text_value;
    let mut rows = Vec::new();
    for t in db.tables.values() {
        for (grantee, privs) in &t.grants {
            for p in privs {
                rows.push(vec![
                    text(grantee),
                    text(&t.schema),
                    text(&t.name),
                    text(&p.to_uppercase()),
                ]);
            }
        }
    }
    Source {
        columns: column_descs(&[
            ("grantee", SqlType::Name),
            ("table_schema", SqlType::Name),
            ("table_name", SqlType::Name),
            ("privilege_type", SqlType::Text),
        ]),
        rows,
    }
}

fn apply_role_options(role: &mut Role, options: &RoleOptions, password: Option<Option<String>>) {
    if let Some(l) = options.login {
        role.login = l;
    }
    if let Some(s) = options.superuser {
        role.superuser = s;
    }
    if let Some(p) = password {
        role.password = p;
    }
}

fn failing_row(row: &[Value]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".to_string()))
        .collect();
    format!("Failing row contains ({}).", cells.join(", "))
}

fn undefined_column(c: &str) -> DbError {
    DbError::new("42703", format!("column \"{c}\" does not exist"))
}

fn not_boolean(what: &str, v: &Value) -> DbError {
    DbError::new(
        "42804",
        format!(
            "argument of {what} must be type boolean, not type {}",
            v.natural_type().display_name()
        ),
    )
}

fn as_bool(v: Value, what: &str) -> Result<Option<bool>, DbError> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        Value::Text(s) => match s.to_ascii_lowercase().as_str() {
            "t" | "true" => Ok(Some(true)),
            "f" | "false" => Ok(Some(false)),
            _ => Err(not_boolean(what, &Value::Text(s))),
        },
        other => Err(not_boolean(what, &other)),
    }
}

fn operator_error(op: &str, x: &Value, y: &Value) -> DbError {
    DbError::new(
        "42883",
        format!(
            "operator does not exist: {} {op} {}",
            x.natural_type().display_name(),
            y.natural_type().display_name()
        ),
    )
    .hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

fn no_function(name: &str, args: &[Value]) -> DbError {
    let types: Vec<&str> = args
        .iter()
        .map(|v| match v {
            Value::Text(_) => "unknown",
            other => other.natural_type().display_name(),
        })
        .collect();
    DbError::new(
        "42883",
        format!("function {name}({}) does not exist", types.join(", ")),
    )
    .hint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

fn arithmetic(op: BinOp, x: Value, y: Value) -> Result<Value, DbError> {
    let sym = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "%",
    };
    // Untyped strings take the other side's numeric type.
    let x = match (&x, &y) {
        (Value::Text(_), Value::Int(_)) => x.coerce(SqlType::Int8)?,
        (Value::Text(_), Value::Float(_) | Value::Numeric(_)) => x.coerce(SqlType::Float8)?,
        _ => x,
    };
    let y = match (&x, &y) {
        (Value::Int(_), Value::Text(_)) => y.coerce(SqlType::Int8)?,
        (Value::Float(_) | Value::Numeric(_), Value::Text(_)) => y.coerce(SqlType::Float8)?,
        _ => y,
    };
    match (&x, &y) {
        (Value::Int(a), Value::Int(b)) => {
            let (a, b) = (*a, *b);
            if matches!(op, BinOp::Div | BinOp::Mod) && b == 0 {
                return Err(DbError::new("22012", "division by zero"));
            }
            let r = match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                BinOp::Div => a.checked_div(b),
                _ => a.checked_rem(b),
            };
            r.map(Value::Int)
                .ok_or_else(|| DbError::new("22003", "bigint out of range"))
        }
        (
            Value::Int(_) | Value::Float(_) | Value::Numeric(_),
            Value::Int(_) | Value::Float(_) | Value::Numeric(_),
        ) => {
            let (a, b) = (value::as_f64(&x), value::as_f64(&y));
            if matches!(op, BinOp::Div | BinOp::Mod) && b == 0.0 {
                return Err(DbError::new("22012", "division by zero"));
            }
            let r = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                _ => a % b,
            };
            let numeric = matches!(x, Value::Numeric(_)) || matches!(y, Value::Numeric(_));
            if numeric && !matches!(x, Value::Float(_)) && !matches!(y, Value::Float(_)) {
                Ok(Value::Numeric(
                    format!("{r:.6}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string(),
                ))
            } else {
                Ok(Value::Float(r))
            }
        }
        _ => Err(operator_error(sym, &x, &y)),
    }
}

/// SQL LIKE: `%` any run, `_` one character.
fn like(value: &str, pattern: &str, insensitive: bool) -> bool {
    let mut re = String::from("^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    regex::RegexBuilder::new(&re)
        .case_insensitive(insensitive)
        .dot_matches_new_line(true)
        .build()
        .is_ok_and(|r| r.is_match(value))
}

fn order_values(a: &Value, b: &Value, o: &OrderItem) -> Result<std::cmp::Ordering, ValueError> {
    use std::cmp::Ordering as O;
    // Nulls sort as larger than everything unless NULLS FIRST/LAST says.
    let nulls_first = o.nulls_first.unwrap_or(o.desc);
    let ord = match (a.is_null(), b.is_null()) {
        (true, true) => return Ok(O::Equal),
        (true, false) => return Ok(if nulls_first { O::Less } else { O::Greater }),
        (false, true) => return Ok(if nulls_first { O::Greater } else { O::Less }),
        _ => value::compare(a, b)?,
    };
    Ok(if o.desc { ord.reverse() } else { ord })
}

/// An expression back as SQL text (for stored column defaults).
fn expr_sql(e: &Expr) -> String {
    match e {
        Expr::Literal(Literal::Null) => "NULL".into(),
        Expr::Literal(Literal::Bool(b)) => if *b { "true" } else { "false" }.into(),
        Expr::Literal(Literal::Int(n)) => n.to_string(),
        Expr::Literal(Literal::Decimal(d)) => d.clone(),
        Expr::Literal(Literal::Str(s)) => format!("'{}'::text", s.replace('\'', "''")),
        Expr::Column(c) => c.clone(),
        Expr::Keyword(k) => k.to_uppercase(),
        Expr::Func {
            name, args, star, ..
        } => {
            if *star {
                return format!("{name}(*)");
            }
            let a: Vec<String> = args.iter().map(expr_sql).collect();
            format!("{name}({})", a.join(", "))
        }
        Expr::Cast(inner, ty) => format!("({})::{}", expr_sql(inner), ty.ty.display_name()),
        Expr::Neg(inner) => format!("-({})", expr_sql(inner)),
        Expr::Binary(a, op, b) => {
            let sym = match op {
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
                BinOp::Mod => "%",
                BinOp::Concat => "||",
                BinOp::Eq => "=",
                BinOp::Ne => "<>",
                BinOp::Lt => "<",
                BinOp::Le => "<=",
                BinOp::Gt => ">",
                BinOp::Ge => ">=",
                BinOp::And => "AND",
                BinOp::Or => "OR",
            };
            format!("({} {sym} {})", expr_sql(a), expr_sql(b))
        }
        _ => "NULL".into(),
    }
}

/// Replaces a data file as a whole or not at all (a crash leaves the old
/// one), as PostgreSQL's durable writes do.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn engine() -> (tempfile::TempDir, Engine) {
        let tmp = tempfile::tempdir().unwrap();
        Engine::init(
            tmp.path(),
            &InitOptions {
                superuser: "postgres",
                password: Some("secret"),
                database: "customer",
                host_auth_method: "scram-sha-256",
            },
        )
        .unwrap();
        let e = Engine::open(tmp.path()).unwrap();
        (tmp, e)
    }

    fn run(e: &mut Engine, s: &mut Session, sql: &str) -> Vec<StatementResult> {
        e.run_query(s, sql).statements
    }

    fn rows(e: &mut Engine, s: &mut Session, sql: &str) -> Vec<Vec<Option<String>>> {
        let r = run(e, s, sql);
        match &r.last().unwrap().result {
            Ok(Outcome::Rows { rows, .. }) => rows
                .iter()
                .map(|r| r.iter().map(Value::to_text).collect())
                .collect(),
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn err(e: &mut Engine, s: &mut Session, sql: &str) -> DbError {
        match run(e, s, sql).pop().unwrap().result {
            Err(err) => err,
            Ok(o) => panic!("{sql}: expected an error, got {o:?}"),
        }
    }

    const INIT: &str = "CREATE TABLE IF NOT EXISTS customer (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);";

    #[test]
    fn init_writes_a_data_directory_that_opens() {
        let (tmp, e) = engine();
        assert!(tmp.path().join("PG_VERSION").exists());
        assert!(tmp.path().join("base").is_dir());
        // The password is kept as a SCRAM verifier, never in clear.
        let catalog = std::fs::read_to_string(tmp.path().join(CATALOG_FILE)).unwrap();
        assert!(!catalog.contains("\"secret\""), "{catalog}");
        match e.role_secret("postgres") {
            Some(Secret::Scram(v)) => assert!(v.matches("secret") && !v.matches("nope")),
            other => panic!("{other:?}"),
        }
        assert!(e.authorize("postgres", "customer").is_ok());
        assert_eq!(
            e.authorize("root", "customer").unwrap_err().message,
            "role \"root\" does not exist"
        );
        assert_eq!(
            e.authorize("postgres", "shop").unwrap_err().message,
            "database \"shop\" does not exist"
        );
        let hba = std::fs::read_to_string(tmp.path().join("pg_hba.conf")).unwrap();
        assert!(hba.ends_with("\nhost all all all scram-sha-256\n"), "{hba}");
    }

    #[test]
    fn passwords_are_hashed_as_password_encryption_says() {
        let (tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        run(
            &mut e,
            &mut s,
            "CREATE ROLE app LOGIN PASSWORD 'pw'; CREATE ROLE grp",
        );
        assert!(matches!(e.role_secret("app"), Some(Secret::Scram(_))));
        let r = run(&mut e, &mut s, "ALTER ROLE app PASSWORD ''");
        assert_eq!(
            r[0].notices[0].message,
            "empty string is not a valid password, clearing password"
        );
        assert_eq!(e.role_secret("app"), None);
        run(
            &mut e,
            &mut s,
            "SET password_encryption = 'md5'; ALTER ROLE app PASSWORD 'pw'",
        );
        assert_eq!(
            e.role_secret("app"),
            Some(Secret::Md5(password::md5_password("app", "pw")))
        );
        let bad = err(&mut e, &mut s, "SET password_encryption = 'sha1'");
        assert_eq!(
            bad.hint.as_deref(),
            Some("Available values: md5, scram-sha-256.")
        );
        let r = rows(
            &mut e,
            &mut s,
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'",
        );
        assert!(r[0][0].as_deref().unwrap().starts_with("md5"));
        run(&mut e, &mut s, "GRANT grp TO app");
        assert!(e.belongs_to("app", "grp"));
        assert!(
            !e.belongs_to("postgres", "grp"),
            "superuser is not a member"
        );
        let mut app = Session::new("app", "customer", 2);
        assert_eq!(
            err(&mut e, &mut app, "SELECT * FROM pg_authid").message,
            "permission denied for table pg_authid"
        );
        // A catalog of an older emulation, with a clear password, is hashed.
        drop(e);
        let path = tmp.path().join(CATALOG_FILE);
        let mut catalog: Catalog = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if let Some(r) = catalog.roles.get_mut("postgres") {
            r.password = Some("secret".into());
        }
        std::fs::write(&path, serde_json::to_vec(&catalog).unwrap()).unwrap();
        let e = Engine::open(tmp.path()).unwrap();
        assert!(
            matches!(e.role_secret("postgres"), Some(Secret::Scram(ref v)) if v.matches("secret"))
        );
        assert!(
            !std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"secret\"")
        );
    }

    #[test]
    fn tables_rows_and_persistence() {
        let (tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        let r = run(&mut e, &mut s, INIT);
        assert_eq!(r[0].result, Ok(Outcome::Command("CREATE TABLE".into())));
        let r = run(&mut e, &mut s, INIT);
        assert_eq!(
            r[0].notices[0].message,
            "relation \"customer\" already exists, skipping"
        );
        let r = run(
            &mut e,
            &mut s,
            "INSERT INTO customer (name, email) VALUES ('Ada', 'ada@example.com'), ('Alan', NULL)",
        );
        assert_eq!(r[0].result, Ok(Outcome::Command("INSERT 0 2".into())));
        let got = rows(
            &mut e,
            &mut s,
            "SELECT id, name, email FROM customer ORDER BY id",
        );
        assert_eq!(
            got,
            vec![
                vec![
                    Some("1".into()),
                    Some("Ada".into()),
                    Some("ada@example.com".into())
                ],
                vec![Some("2".into()), Some("Alan".into()), None],
            ]
        );
        // A new engine on the same directory sees the rows: they are in files.
        let mut again = Engine::open(tmp.path()).unwrap();
        let mut s2 = Session::new("postgres", "customer", 2);
        assert_eq!(
            rows(&mut again, &mut s2, "select count(*) from customer"),
            vec![vec![Some("2".into())]]
        );
        let got = rows(
            &mut again,
            &mut s2,
            "insert into customer (name) values ('Grace') returning id",
        );
        assert_eq!(got, vec![vec![Some("3".into())]]);
    }

    #[test]
    fn constraint_errors_are_worded_as_postgres() {
        let (_tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        run(&mut e, &mut s, INIT);
        let x = err(&mut e, &mut s, "insert into customer (email) values ('x')");
        assert_eq!(x.code, "23502");
        assert_eq!(
            x.message,
            "null value in column \"name\" of relation \"customer\" violates not-null constraint"
        );
        assert!(
            x.detail
                .unwrap()
                .starts_with("Failing row contains (1, null, x, ")
        );
        run(
            &mut e,
            &mut s,
            "insert into customer (id, name) values (5, 'a')",
        );
        let x = err(
            &mut e,
            &mut s,
            "insert into customer (id, name) values (5, 'b')",
        );
        assert_eq!(
            x.message,
            "duplicate key value violates unique constraint \"customer_pkey\""
        );
        assert_eq!(x.detail.as_deref(), Some("Key (id)=(5) already exists."));
        let x = err(&mut e, &mut s, "select * from nope");
        assert_eq!(x.message, "relation \"nope\" does not exist");
        let x = err(&mut e, &mut s, "select nope from customer");
        assert_eq!(x.message, "column \"nope\" does not exist");
        let x = err(&mut e, &mut s, "insert into customer (nope) values (1)");
        assert_eq!(
            x.message,
            "column \"nope\" of relation \"customer\" does not exist"
        );
    }

    #[test]
    fn roles_grants_and_set_role() {
        let (_tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        run(&mut e, &mut s, INIT);
        run(&mut e, &mut s, "CREATE ROLE web_anon NOLOGIN");
        let x = err(&mut e, &mut s, "CREATE ROLE web_anon NOLOGIN");
        assert_eq!(
            (x.code, x.message.as_str()),
            ("42710", "role \"web_anon\" already exists")
        );
        let r = run(
            &mut e,
            &mut s,
            "BEGIN; SET LOCAL ROLE web_anon; SELECT * FROM customer; COMMIT",
        );
        let x = r.iter().find_map(|r| r.result.clone().err()).unwrap();
        assert_eq!(x.message, "permission denied for table customer");
        assert_eq!(s.transaction_status(), b'E');
        run(&mut e, &mut s, "ROLLBACK");
        run(
            &mut e,
            &mut s,
            "GRANT SELECT, INSERT ON customer TO web_anon",
        );
        let r = run(
            &mut e,
            &mut s,
            "BEGIN; SET LOCAL ROLE web_anon; INSERT INTO customer (name) VALUES ('x'); COMMIT",
        );
        let x = r.iter().find_map(|r| r.result.clone().err()).unwrap();
        assert_eq!(x.message, "permission denied for sequence customer_id_seq");
        run(&mut e, &mut s, "ROLLBACK");
        run(
            &mut e,
            &mut s,
            "GRANT USAGE ON SEQUENCE customer_id_seq TO web_anon",
        );
        let r = run(
            &mut e,
            &mut s,
            "BEGIN; SET LOCAL ROLE web_anon; INSERT INTO customer (name) VALUES ('x'); COMMIT",
        );
        assert!(r.iter().all(|r| r.result.is_ok()), "{r:?}");
        assert_eq!(
            s.current_role(),
            "postgres",
            "SET LOCAL ends with the transaction"
        );
        let x = err(&mut e, &mut s, "DROP ROLE web_anon");
        assert_eq!(x.code, "2BP01");
        let x = err(&mut e, &mut s, "SET ROLE nobody");
        assert_eq!(x.message, "role \"nobody\" does not exist");
    }

    #[test]
    fn do_block_tolerates_an_existing_role() {
        let (_tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        let block = "DO $do$ BEGIN CREATE ROLE web_anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN RAISE NOTICE 'role web_anon already exists'; END $do$;";
        let r = run(&mut e, &mut s, block);
        assert_eq!(r[0].result, Ok(Outcome::Command("DO".into())));
        assert!(r[0].notices.is_empty());
        let r = run(&mut e, &mut s, block);
        assert_eq!(r[0].result, Ok(Outcome::Command("DO".into())));
        assert_eq!(r[0].notices[0].message, "role web_anon already exists");
        let r = run(
            &mut e,
            &mut s,
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'other') THEN CREATE ROLE other; END IF; END $$",
        );
        assert!(r[0].result.is_ok(), "{r:?}");
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "select count(*) from pg_roles where rolname = 'other'"
            ),
            vec![vec![Some("1".into())]]
        );
    }

    #[test]
    fn transactions_roll_back_and_notify_at_commit() {
        let (_tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        run(&mut e, &mut s, INIT);
        run(&mut e, &mut s, "BEGIN");
        run(&mut e, &mut s, "INSERT INTO customer (name) VALUES ('a')");
        let q = e.run_query(&mut s, "NOTIFY pgrst, 'reload schema'");
        assert!(q.notifications.is_empty());
        run(&mut e, &mut s, "ROLLBACK");
        assert_eq!(
            rows(&mut e, &mut s, "select count(*) from customer"),
            vec![vec![Some("0".into())]]
        );
        let q = e.run_query(&mut s, "NOTIFY pgrst, 'reload schema'");
        assert_eq!(q.notifications[0].channel, "pgrst");
        assert_eq!(q.notifications[0].payload, "reload schema");
        // A multi-statement query is one transaction: an error undoes it all.
        let q = e.run_query(
            &mut s,
            "INSERT INTO customer (name) VALUES ('b'); SELECT 1/0",
        );
        assert_eq!(q.statements.len(), 2);
        assert_eq!(s.transaction_status(), b'I');
        assert_eq!(
            rows(&mut e, &mut s, "select count(*) from customer"),
            vec![vec![Some("0".into())]]
        );
    }

    #[test]
    fn a_rollback_undoes_only_its_own_changes() {
        let (_tmp, mut e) = engine();
        let mut a = Session::new("postgres", "customer", 1);
        let mut b = Session::new("postgres", "customer", 2);
        run(&mut e, &mut a, INIT);
        run(
            &mut e,
            &mut a,
            "BEGIN; INSERT INTO customer (name) VALUES ('mine')",
        );
        // Another session commits while A's transaction is open...
        run(&mut e, &mut b, "CREATE ROLE web_anon NOLOGIN");
        run(&mut e, &mut b, "CREATE TABLE other (id int)");
        // ...and A fails, then rolls back.
        err(&mut e, &mut a, "SELECT 1/0");
        run(&mut e, &mut a, "ROLLBACK");
        assert_eq!(
            rows(&mut e, &mut b, "select count(*) from customer"),
            vec![vec![Some("0".into())]]
        );
        assert_eq!(
            rows(
                &mut e,
                &mut b,
                "select count(*) from pg_roles where rolname = 'web_anon'"
            ),
            vec![vec![Some("1".into())]]
        );
        assert_eq!(
            rows(&mut e, &mut b, "select count(*) from other"),
            vec![vec![Some("0".into())]]
        );
    }

    #[test]
    fn expressions_and_catalog_views() {
        let (_tmp, mut e) = engine();
        let mut s = Session::new("postgres", "customer", 1);
        run(&mut e, &mut s, INIT);
        run(
            &mut e,
            &mut s,
            "insert into customer (name) values ('Ada'), ('Alan'), ('Grace')",
        );
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "select name from customer where name ilike 'a%' order by name desc"
            ),
            vec![vec![Some("Alan".into())], vec![Some("Ada".into())]]
        );
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "select upper(name) || '!' as shout from customer where id in (2, 3) order by 1 limit 1"
            ),
            vec![vec![Some("ALAN!".into())]]
        );
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "select table_name from information_schema.tables where table_schema = 'public'"
            ),
            vec![vec![Some("customer".into())]]
        );
        assert_eq!(
            rows(&mut e, &mut s, "select 1 + 2 * 3, current_user"),
            vec![vec![Some("7".into()), Some("postgres".into())]]
        );
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "update customer set email = 'g@x' where name = 'Grace' returning id"
            ),
            vec![vec![Some("3".into())]]
        );
        assert_eq!(
            rows(
                &mut e,
                &mut s,
                "delete from customer where id > 1 returning name"
            )
            .len(),
            2
        );
        assert_eq!(
            rows(&mut e, &mut s, "show server_version"),
            vec![vec![Some(SERVER_VERSION.into())]]
        );
    }
}
