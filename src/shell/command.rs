//! `kubetutor shell`: the course's shell in the learner's own terminal (or
//! tmux pane), the one-command replacement for the `export KUBECONFIG=…`
//! and `cd …` lines.
//!
//! The cluster is, in order: the one `--context`/`--kubeconfig` name; the
//! running kubetutor's (its `session.json`); a `kubetutor sandbox` running
//! alone; else the built-in sandbox, started here without a UI for as long
//! as the shell lives. Interactive in a terminal; otherwise (or with `-c`)
//! the shell reads its commands as `sh` does, so scripts and tests can use
//! it. Its exit status is the shell's.

use super::env::{Target, prepare};
use crate::cluster::connection::{self, ConnectOptions};
use crate::course::Course;
use crate::paths;
use anyhow::{Context as _, Result};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `kubetutor shell` was asked.
pub struct Request<'a> {
    pub data_dir: &'a Path,
    /// `--context`/`--kubeconfig` given: that cluster.
    pub cluster: Option<&'a ConnectOptions>,
    pub namespace: &'a str,
    pub course: &'a Course,
    /// `-c COMMAND`.
    pub command: Option<&'a str>,
}

/// Where the shell's cluster comes from.
enum Source {
    Flags,
    Tui,
    Sandbox,
    /// Started here; stopped when the shell ends.
    Own(Box<sandbox::Sandbox>),
}

/// The headless sandbox marker `kubetutor sandbox` writes (see `cli`).
fn sandbox_marker(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox.json")
}

pub fn run(req: Request<'_>) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(req))
}

async fn run_async(req: Request<'_>) -> Result<ExitCode> {
    let live = crate::live_status::read_live(&crate::live_status::session_file(req.data_dir));
    let (source, target, lab) = choose(&req, live.as_ref()).await?;
    let result = run_shell(&req, &source, &target, &lab).await;
    if let Source::Own(sandbox) = source {
        let _ = std::fs::remove_file(sandbox_marker(req.data_dir));
        sandbox.shutdown().await;
    }
    result
}

/// The cluster, the namespace and the lab directory of the shell.
async fn choose(
    req: &Request<'_>,
    live: Option<&serde_json::Value>,
) -> Result<(Source, Target, PathBuf)> {
    let own_lab = || -> PathBuf {
        let dir = crate::lab::lab_dir(None, req.data_dir);
        // The lessons' `assets/...`: written (edits kept) as kubetutor does.
        match crate::lab::sync(req.course, &dir, crate::lab::Restore::Nothing) {
            Ok(r) => r.dir,
            Err(e) => {
                eprintln!(
                    "warning: the lab directory {} could not be written: {e:#}",
                    dir.display()
                );
                dir
            }
        }
    };
    if let Some(opts) = req.cluster {
        let resolved = connection::resolve(opts)?;
        let target = Target {
            files: connection::kubeconfig_files(opts.kubeconfig.as_deref()),
            context: resolved.info.context,
            namespace: req.namespace.to_owned(),
        };
        return Ok((Source::Flags, target, own_lab()));
    }
    if let Some(doc) = live
        && let Some(target) = target_of_status(doc)
    {
        let lab = doc["lab"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::lab::lab_dir(None, req.data_dir));
        return Ok((Source::Tui, target, lab));
    }
    if let Some(doc) = crate::live_status::read_live(&sandbox_marker(req.data_dir))
        && let Some(kc) = doc["kubeconfig"].as_str()
    {
        let target = Target {
            files: vec![PathBuf::from(kc)],
            context: sandbox::CONTEXT.to_owned(),
            namespace: req.namespace.to_owned(),
        };
        ensure_namespace(&target).await?;
        return Ok((Source::Sandbox, target, own_lab()));
    }
    let dir = paths::sandbox_dir(req.data_dir);
    let sb = match sandbox::Sandbox::start(sandbox::SandboxConfig::new(&dir)).await {
        Ok(s) => s,
        Err(sandbox::StartError::InUse { .. }) => anyhow::bail!(
            "the sandbox in {} is held by another process that did not say where it runs; try again in a moment, or use it with `kubetutor shell --context kubetutor-sandbox --kubeconfig {}`",
            dir.display(),
            dir.join(sandbox::KUBECONFIG_FILE).display()
        ),
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!(
                "cannot start the built-in sandbox in {}",
                dir.display()
            )));
        }
    };
    // `kubetutor status` in the shell says the sandbox runs, and where.
    let marker = serde_json::json!({
        "pid": std::process::id(),
        "kubeconfig": sb.kubeconfig_path(),
        "addr": sb.addr().to_string(),
        "by": "kubetutor shell",
    });
    if let Err(e) =
        paths::write_atomic(&sandbox_marker(req.data_dir), marker.to_string().as_bytes())
    {
        tracing::warn!("cannot write the sandbox marker: {e}");
    }
    let target = Target {
        files: vec![sb.kubeconfig_path().to_path_buf()],
        context: sandbox::CONTEXT.to_owned(),
        namespace: req.namespace.to_owned(),
    };
    let source = Source::Own(Box::new(sb));
    if let Err(e) = ensure_namespace(&target).await {
        if let Source::Own(sb) = source {
            let _ = std::fs::remove_file(sandbox_marker(req.data_dir));
            sb.shutdown().await;
        }
        return Err(e);
    }
    Ok((source, target, own_lab()))
}

/// The shell's cluster as a running kubetutor published it.
pub fn target_of_status(doc: &serde_json::Value) -> Option<Target> {
    let shell = doc.get("shell")?;
    let files: Vec<PathBuf> = shell
        .get("kubeconfig_files")?
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .collect();
    if files.is_empty() {
        return None;
    }
    Some(Target {
        files,
        context: shell.get("context")?.as_str()?.to_owned(),
        namespace: shell.get("namespace")?.as_str()?.to_owned(),
    })
}

/// The sandbox is ours to write to: the course namespace is created when
/// missing, as `kubetutor` does.
async fn ensure_namespace(target: &Target) -> Result<()> {
    let opts = ConnectOptions {
        kubeconfig: target.files.first().cloned(),
        context: Some(target.context.clone()),
        namespace: Some(target.namespace.clone()),
        allow_remote: false,
    };
    let (client, _) = connection::connect(&opts).await?;
    if !connection::namespace_exists(&client, &target.namespace).await? {
        connection::create_namespace(&client, &target.namespace).await?;
    }
    Ok(())
}

async fn run_shell(
    req: &Request<'_>,
    source: &Source,
    target: &Target,
    lab: &Path,
) -> Result<ExitCode> {
    let spec = prepare(req.data_dir, target, Some(lab))?;
    let interactive = std::io::stdin().is_terminal() && req.command.is_none();
    let titled = interactive && std::io::stdout().is_terminal();
    if interactive {
        let whose = match source {
            Source::Flags => "",
            Source::Tui => " (the running kubetutor's)",
            Source::Sandbox => " (the running `kubetutor sandbox`)",
            Source::Own(_) => " (the built-in sandbox, running until this shell ends)",
        };
        eprintln!(
            "kubetutor shell: kubectl uses context {}{whose}, namespace {}, in {}. `exit` comes back.",
            target.context,
            target.namespace,
            crate::paths::display_path(&spec.cwd)
        );
    }
    if titled {
        // Push the terminal's title, set ours; popped when the shell ends.
        let mut out = std::io::stdout();
        let _ = write!(out, "\x1b[22;0t\x1b]2;kubetutor: {}\x07", spec.label());
        let _ = out.flush();
    }
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(spec.args(interactive, req.command))
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start the shell {}", spec.program.display()))?;
    let status = wait_forwarding_signals(child).await;
    if titled {
        let mut out = std::io::stdout();
        let _ = write!(out, "\x1b[23;0t");
        let _ = out.flush();
    }
    let status = status.with_context(|| format!("lost the shell {}", spec.program.display()))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(c) = status.code() {
        return ExitCode::from(u8::try_from(c).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    ExitCode::FAILURE
}

/// Waits for the shell. Ctrl-C belongs to the shell (kubetutor ignores
/// it); a hang-up or SIGTERM for kubetutor is passed on to the shell as a
/// hang-up, as when its terminal closes.
#[cfg(unix)]
async fn wait_forwarding_signals(
    mut child: tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return child.wait().await;
    };
    let hang_up = |child: &tokio::process::Child| {
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::HUP);
        }
    };
    loop {
        tokio::select! {
            s = child.wait() => return s,
            _ = int.recv() => {}
            _ = term.recv() => hang_up(&child),
            _ = hup.recv() => hang_up(&child),
        }
    }
}

#[cfg(not(unix))]
async fn wait_forwarding_signals(
    mut child: tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    loop {
        tokio::select! {
            s = child.wait() => return s,
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}

/// How the learner types `kubetutor shell` in another terminal: by name
/// when `kubetutor` on `PATH` is this program, else by its full path (a
/// `cargo run` build).
pub fn invocation() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "kubetutor shell".to_owned();
    };
    if exe.file_stem() != Some(std::ffi::OsStr::new("kubetutor")) {
        return "kubetutor shell".to_owned();
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubetutor"))
            .find(|p| p.is_file())
    });
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match on_path {
        Some(p) if same(&p, &exe) => "kubetutor shell".to_owned(),
        _ => format!("{} shell", shell_word(&exe.to_string_lossy())),
    }
}

/// `s` as one word for a POSIX shell.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/usr/bin/kubetutor"), "/usr/bin/kubetutor");
        assert_eq!(shell_word("/home/a b/it's"), r"'/home/a b/it'\''s'");
    }

    #[test]
    fn the_running_kubetutor_publishes_its_shell_target() {
        let doc = serde_json::json!({"shell": {
            "context": "kind-kind", "namespace": "ns1",
            "kubeconfig_files": ["/a", "/b"], "command": "kubetutor shell"}});
        let t = target_of_status(&doc).unwrap();
        assert_eq!(t.context, "kind-kind");
        assert_eq!(t.files, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(target_of_status(&serde_json::json!({"shell": null})).is_none());
    }
}
