//! The fuzz target (`fuzz/fuzz_targets/sql_and_wire.rs`, and a stable run
//! in the tests): arbitrary bytes as wire messages, SCRAM messages,
//! `pg_hba.conf` and SQL.

use crate::engine::{Engine, InitOptions, Session};
use crate::{hba, plpgsql, scram, sql, wire};

/// SQL words the fuzz input generator draws from, so random queries get
/// past the lexer into the parser and the engine.
const FUZZ_WORDS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "customer",
    "WHERE",
    "id",
    "=",
    "1",
    "'a'",
    "INSERT",
    "INTO",
    "VALUES",
    "(",
    ")",
    ",",
    ";",
    "CREATE",
    "TABLE",
    "IF",
    "NOT",
    "EXISTS",
    "serial",
    "PRIMARY",
    "KEY",
    "text",
    "DROP",
    "ROLE",
    "GRANT",
    "ON",
    "TO",
    "web_anon",
    "DO",
    "$$",
    "BEGIN",
    "END",
    "EXCEPTION",
    "WHEN",
    "THEN",
    "RAISE",
    "NOTICE",
    "COMMIT",
    "ROLLBACK",
    "SET",
    "LOCAL",
    "UPDATE",
    "DELETE",
    "ORDER",
    "BY",
    "LIMIT",
    "count",
    "now()",
    "::",
    "int",
    "NULL",
    "AND",
    "OR",
    "LIKE",
    "IN",
    "RETURNING",
    "NOTIFY",
    "LISTEN",
    "name",
    "||",
    "-",
    "+",
    "/",
    "0",
    "9999999999999999999",
    "\"q\"",
    "E'\\n'",
    "--",
    "/*",
    "*/",
    "$1",
    "IS",
    "BETWEEN",
    "DEFAULT",
    "SHOW",
    "ALL",
];

/// The fuzz target (`fuzz/fuzz_targets/sql_and_wire.rs`, and a stable run
/// in the tests): arbitrary bytes as wire messages and as SQL, through the
/// lexer, the parsers and an engine. Errors are fine; panics are not.
pub fn sql_and_wire(data: &[u8]) {
    let _ = wire::read_message(&mut &data[..]);
    let _ = wire::startup_params(data);
    let _ = wire::ServerMessage::parse(data);
    let raw = String::from_utf8_lossy(data);
    let _ = hba::parse(&raw);
    let _ = scram::Verifier::parse(&raw);
    // Both SCRAM messages a server reads, with and without a role.
    let mut exchange = scram::ServerExchange::new(None, b"fuzz");
    let _ = exchange.client_first(data);
    let _ = exchange.client_final(data);
    let mut exchange = scram::ServerExchange::new(None, b"fuzz");
    if exchange.client_first(b"n,,n=,r=fuzz").is_ok() {
        let _ = exchange.client_final(data);
    }
    let mut client = scram::ClientExchange::new("pw");
    let _ = client.server_first(data);
    let _ = client.server_final(data);
    let mut words = String::new();
    for b in data {
        words.push_str(FUZZ_WORDS[usize::from(*b) % FUZZ_WORDS.len()]);
        words.push(' ');
    }
    for text in [raw.as_ref(), words.as_str()] {
        let _ = sql::lex(text);
        let _ = plpgsql::parse(text);
        for (stmt, _) in sql::split_statements(text) {
            let _ = sql::parse_statement(&stmt);
        }
    }
    // Execute the word soup on a throwaway cluster.
    thread_local! {
        static ENGINE: std::cell::RefCell<Option<(tempfile_dir::Dir, Engine)>> = const { std::cell::RefCell::new(None) };
    }
    ENGINE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none()
            && let Some(dir) = tempfile_dir::Dir::new()
            && Engine::init(
                dir.path(),
                &InitOptions {
                    superuser: "postgres",
                    password: Some("pw"),
                    database: "customer",
                    host_auth_method: "scram-sha-256",
                },
            )
            .is_ok()
            && let Ok(engine) = Engine::open(dir.path())
        {
            *cell = Some((dir, engine));
        }
        if let Some((_, engine)) = cell.as_mut() {
            let mut session = Session::new("postgres", "customer", 1);
            let _ = engine.run_query(&mut session, &words);
            let _ = engine.run_query(&mut session, "ROLLBACK");
        }
    });
}

/// A temporary directory for the fuzz target, removed on drop (the crate
/// has `tempfile` for tests only).
mod tempfile_dir {
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Option<Dir> {
            let path = std::env::temp_dir().join(format!(
                "kubetutor-fuzz-pg-{}-{}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&path).ok()?;
            Some(Dir(path))
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Stable stand-in for cargo-fuzz over the SQL and wire parsers and the
    /// engine: pseudo-random inputs from a fixed seed.
    #[test]
    fn fuzz_target_survives_pseudo_random_inputs() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..1500 {
            let len = (next() % 120) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            super::sql_and_wire(&data);
        }
    }
}
