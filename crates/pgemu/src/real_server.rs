//! The emulation's client side and password hashing against a real
//! PostgreSQL server, when the machine has one (`initdb`, `pg_ctl`): SCRAM,
//! md5 and cleartext logins over TCP, the Unix socket, and the secrets the
//! real server stores. Skipped with a notice otherwise.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::password::{self, Secret};
use crate::wire::{Client, ConnectError, ConnectOptions, Endpoint, Reply};

fn has(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A throw-away server: Unix socket in a temporary directory, TCP on a
/// free loopback port, and a `pg_hba.conf` with one method per role.
struct RealServer {
    dir: tempfile::TempDir,
    port: u16,
    run_as: Option<&'static str>,
}

impl RealServer {
    fn cmd(&self, program: &str) -> Command {
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn start() -> Option<RealServer> {
        if !has("initdb") || !has("pg_ctl") {
            // CI installs the server (.ci/run): there, a missing one fails.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: initdb/pg_ctl (PostgreSQL's server) are needed on PATH"
            );
            eprintln!("notice: no initdb/pg_ctl, skipping the test against a real PostgreSQL");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        // PostgreSQL refuses to run as root: its own account then.
        let run_as = if root {
            let chown = Command::new("chown")
                .args(["postgres", dir.path().to_str()?])
                .status()
                .is_ok_and(|s| s.success());
            if !chown {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI: the postgres account (from the postgresql package) is needed"
                );
                eprintln!("notice: root without a postgres user, skipping the real server test");
                return None;
            }
            Some("postgres")
        } else {
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let server = RealServer { dir, port, run_as };
        let data = server.dir.path().join("data");
        let out = server
            .cmd("initdb")
            .args(["-U", "postgres", "--auth-local=trust", "-D"])
            .arg(&data)
            .output()
            .ok()?;
        assert!(out.status.success(), "initdb: {out:?}");
        let hba = "local all all trust\n\
                   host all md5user 127.0.0.1/32 md5\n\
                   host all clearuser 127.0.0.1/32 password\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let opts = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1",
            server.dir.path().display()
        );
        let out = server
            .cmd("pg_ctl")
            .args(["-w", "-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(server.dir.path().join("log"))
            .arg("start")
            .output()
            .ok()?;
        assert!(out.status.success(), "pg_ctl start: {out:?}");
        Some(server)
    }

    fn socket(&self) -> Endpoint {
        Endpoint::Socket(self.dir.path().join(format!(".s.PGSQL.{}", self.port)))
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

fn opts(user: &str, password: Option<&str>) -> ConnectOptions {
    ConnectOptions {
        user: user.into(),
        database: "postgres".into(),
        password: password.map(str::to_string),
        application_name: "pgemu-test".into(),
        timeout: Duration::from_secs(10),
    }
}

fn one_value(c: &mut Client, sql: &str) -> String {
    match c.simple_query(sql).unwrap().pop() {
        Some(Reply::Rows { rows, .. }) => rows[0][0].clone().unwrap_or_default(),
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn the_emulated_client_logs_in_to_a_real_server() {
    let Some(server) = RealServer::start() else {
        return;
    };
    // Over the Unix socket (trust), as the superuser.
    let mut admin = Client::connect(&server.socket(), &opts("postgres", None)).unwrap();
    for sql in [
        "CREATE ROLE scramuser LOGIN PASSWORD 'pencil'",
        "SET password_encryption = 'md5'",
        "CREATE ROLE md5user LOGIN PASSWORD 'pencil'",
        "RESET password_encryption",
        "CREATE ROLE clearuser LOGIN PASSWORD 'pencil'",
    ] {
        let r = admin.simple_query(sql).unwrap();
        assert!(matches!(r[..], [Reply::Command(_)]), "{sql}: {r:?}");
    }
    // The real server's secrets are the ones the emulation computes.
    let scram = one_value(
        &mut admin,
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'",
    );
    match Secret::parse(&scram) {
        Secret::Scram(v) => assert!(v.matches("pencil") && !v.matches("pencil2"), "{scram}"),
        other => panic!("{other:?}"),
    }
    let md5 = one_value(
        &mut admin,
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user'",
    );
    assert_eq!(md5, password::md5_password("md5user", "pencil"));
    admin.close();

    // Over TCP: SCRAM-SHA-256, md5 and cleartext, right and wrong.
    let tcp = Endpoint::Tcp(([127, 0, 0, 1], server.port).into());
    for user in ["scramuser", "md5user", "clearuser"] {
        let mut c = Client::connect(&tcp, &opts(user, Some("pencil")))
            .unwrap_or_else(|e| panic!("{user}: {e:?}"));
        assert_eq!(one_value(&mut c, "SELECT current_user"), user);
        c.close();
        match Client::connect(&tcp, &opts(user, Some("wrong"))) {
            Err(ConnectError::Server(m)) => assert_eq!(
                m.message,
                format!("password authentication failed for user \"{user}\"")
            ),
            other => panic!("{user}: {:?}", other.err()),
        }
        assert!(matches!(
            Client::connect(&tcp, &opts(user, None)),
            Err(ConnectError::NoPassword)
        ));
    }
}
