//! The postgres image's own programs, registered in its userland:
//! `psql` (batch, and interactive with a terminal), `pg_isready`, and the
//! server binaries' `--version`. They run as processes of the container
//! and reach the server through the pod's network.

use pgemu::clients::{self, ProgramEnv, PsqlSession};

use crate::shell::applets::{Abort, Ctx, LineReader, ProgramFn, Ret};

/// Name → program, for [`crate::images::userland`].
pub fn programs() -> Vec<(&'static str, ProgramFn)> {
    vec![
        ("psql", psql),
        ("pg_isready", batch),
        ("postgres", batch),
        ("postmaster", batch),
        ("initdb", batch),
        ("pg_ctl", batch),
        ("createdb", batch),
        ("pg_dump", batch),
    ]
}

/// Runs a client with what the image's program would see: exported
/// variables, the container's files, the pod's network.
fn with_env<R>(ctx: &Ctx, f: impl FnOnce(&ProgramEnv<'_>) -> R) -> R {
    let var = |k: &str| ctx.getenv(k).map(str::to_string);
    let read = |path: &str| {
        ctx.vfs()
            .read_all(path, ctx.sys.procs.memory())
            .map(|(data, _)| data)
    };
    let env = ProgramEnv {
        var: &var,
        read_file: &read,
        network: ctx.sys.network.as_ref().map(|n| n as &dyn pgemu::Network),
    };
    f(&env)
}

fn batch(ctx: &mut Ctx, args: &[String]) -> Ret {
    let name = ctx.name.clone();
    // What psql reads from stdin is bounded by the memory budget.
    let (stdin, _charge) = if name == "psql" {
        ctx.read_all(&ctx.stdin())?
    } else {
        (
            Vec::new(),
            crate::process::Charge::new(ctx.sys.procs.memory()),
        )
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = with_env(ctx, |env| {
        clients::run(&name, args, &stdin, env, &mut out, &mut err)
    })
    .unwrap_or(127);
    ctx.out(&out)?;
    ctx.errs(&String::from_utf8_lossy(&err));
    Ok(code)
}

/// Options after which psql runs commands and exits (no prompt).
fn scripted(args: &[String]) -> bool {
    args.iter().any(|a| {
        matches!(
            a.as_str(),
            "-c" | "-f" | "-l" | "--list" | "-V" | "--version" | "--help" | "-?"
        ) || a.starts_with("--command")
            || a.starts_with("--file")
    })
}

fn psql(ctx: &mut Ctx, args: &[String]) -> Ret {
    if ctx.tty.is_none() || scripted(args) {
        return batch(ctx, args);
    }
    // With a terminal: psql's prompt and loop.
    let started = with_env(ctx, |env| PsqlSession::start(args, env));
    let mut session = match started {
        Ok(s) => s,
        Err((out, err, code)) => {
            ctx.out(&out)?;
            ctx.errs(&String::from_utf8_lossy(&err));
            return Ok(code);
        }
    };
    ctx.outs(&session.greeting())?;
    let mut lines = LineReader::new(ctx.stdin());
    loop {
        let line = match lines.next_line(ctx) {
            Ok(Some(l)) => l,
            Ok(None) => {
                // ctrl-D: psql prints `\q` and leaves.
                ctx.outs("\\q\n")?;
                return Ok(0);
            }
            Err(Abort::Signal(crate::process::Signal::Int)) => {
                ctx.outs(&format!("\n{}", session.prompt()))?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned();
        let r = session.line(&text);
        ctx.out(&r.stdout)?;
        ctx.errs(&String::from_utf8_lossy(&r.stderr));
        if r.quit {
            return Ok(0);
        }
        ctx.outs(&r.prompt)?;
    }
}
