//! Command-line interface: parses arguments and dispatches to the course,
//! the TUI, progress and the sandbox. Every failure ends here as a one-line
//! `error: ...` that says what to do, with exit code 1 (2 for bad usage).

use crate::check::spawn_checker;
use crate::cluster::connection::{ConnectOptions, DEFAULT_NAMESPACE};
use crate::cluster::{ClusterUpdate, Session};
use crate::course::{Course, CourseFiles};
use crate::lesson::{Lang, Lesson};
use crate::paths;
use crate::progress::{Progress, ProgressSaver, ProgressStore, StepState};
use crate::tui::{ConnState, ConnectionInfo, TuiConfig};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sandbox::{Sandbox, SandboxConfig};

use crate::term_text::Sanitized;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "An interactive terminal tutorial that teaches Kubernetes storage.";

const LONG_ABOUT: &str = "\
An interactive terminal tutorial that teaches Kubernetes storage.

Read a lesson in one pane, watch your cluster in another, and run real kubectl in
your own terminal: each step ticks itself off once you have reproduced its
result. With no --context, kubetutor starts its own embedded sandbox cluster, so
nothing else is needed but kubectl.";

const AFTER_HELP: &str = "\
Examples:
  kubetutor                      start or resume the course
  kubetutor start ephemeral-filesystem
  kubetutor list                 lessons and your progress
  kubetutor status --json        where you are, for scripts and instructors
  kubetutor lint lessons/        check lesson files (for lesson authors)

Progress is kept in the data directory (see --data-dir).";

#[derive(Debug, Parser)]
#[command(
    name = "kubetutor",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Course language: en or fr [default: from LC_ALL/LC_MESSAGES/LANG]
    #[arg(long, global = true, value_name = "LANG", value_parser = parse_lang, env = "KUBETUTOR_LANG")]
    pub lang: Option<Lang>,

    /// Where progress (and the sandbox) are kept
    #[arg(long, global = true, value_name = "DIR", env = paths::DATA_DIR_ENV)]
    pub data_dir: Option<PathBuf>,

    /// What goes into <data-dir>/kubetutor.log: error, warn, info, debug,
    /// trace, or a filter such as `sandbox=debug` [default: RUST_LOG, else
    /// info]
    #[arg(long, global = true, value_name = "LEVEL", env = "KUBETUTOR_LOG")]
    pub log: Option<String>,

    /// Read lessons and assets from this directory instead of the copy built
    /// into kubetutor (for lesson authors)
    #[arg(long, global = true, value_name = "DIR", env = "KUBETUTOR_COURSE_DIR")]
    pub course_dir: Option<PathBuf>,

    /// Use this kubeconfig context (a kind, minikube, k3d... cluster)
    /// instead of the built-in sandbox
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace the course works in (created only if you agree)
    #[arg(long, short = 'n', global = true, value_name = "NAME", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Kubeconfig file to read (default: $KUBECONFIG, then ~/.kube/config);
    /// implies a real cluster rather than the built-in sandbox
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// A plain, line-by-line interface instead of the full-screen one, for
    /// screen readers and simple terminals (remembered; chosen by itself
    /// when TERM=dumb or without a terminal)
    #[arg(long, global = true, overrides_with = "no_plain")]
    pub plain: bool,

    /// The full-screen interface again (remembered)
    #[arg(long, global = true, overrides_with = "plain")]
    pub no_plain: bool,

    /// Accept a context that does not look like a local learning cluster
    /// (kubetutor creates and deletes objects in it)
    #[arg(long, global = true)]
    pub allow_remote: bool,

    /// Start without the shell pane (remembered; `--shell-pane` brings it
    /// back). `kubetutor shell` still opens the course's shell elsewhere
    #[arg(long, global = true, conflicts_with = "shell_pane")]
    pub no_shell: bool,

    /// Start with the shell pane (the default; undoes a remembered
    /// `--no-shell`)
    #[arg(long, global = true)]
    pub shell_pane: bool,

    /// Join a classroom for this run: CODE@HOST:PORT, as your instructor
    /// says it (`kubetutor join` remembers it)
    #[arg(
        long,
        global = true,
        value_name = "CODE@HOST:PORT",
        env = "KUBETUTOR_JOIN",
        hide_env_values = true
    )]
    pub join: Option<String>,

    /// Your display name in the classroom [default: the remembered one,
    /// else your login name]
    #[arg(long, global = true, value_name = "NAME")]
    pub name: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the course at a lesson (by id or number)
    Start {
        /// Lesson id (see `kubetutor list`) or its number
        lesson: String,
    },
    /// List the lessons with your progress
    List,
    /// Print where you are: lesson, step and each step's state
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Forget progress, for one lesson or for the whole course
    Reset {
        /// Lesson id or number; without it, the whole course
        lesson: Option<String>,
        /// Don't ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Run the embedded sandbox cluster without the tutorial, for kubectl
    /// (prints the `export KUBECONFIG=...` line to use)
    Sandbox {
        /// Wipe the sandbox (every object and volume file) before starting
        #[arg(long)]
        reset: bool,
        /// Port on 127.0.0.1 (0: any free port)
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Write the course's files to the lab directory and print where it is
    /// (run the lessons' commands from there)
    Lab {
        /// Print only the directory (`cd "$(kubetutor lab --path)"`)
        #[arg(long)]
        path: bool,
        /// Put this file you edited back to the course's version
        #[arg(long, value_name = "FILE")]
        restore: Vec<PathBuf>,
        /// Put every file you edited back to the course's version
        #[arg(long)]
        force: bool,
        /// The lab directory [default: <data-dir>/lab]
        #[arg(long, value_name = "DIR", env = crate::lab::LAB_DIR_ENV)]
        lab_dir: Option<PathBuf>,
    },
    /// Open the course's shell here: kubectl aimed at the course's cluster
    /// and namespace, in the lab directory, with a (kubetutor) prompt. Uses
    /// the running kubetutor's cluster, else starts the sandbox for as long
    /// as the shell lives. Reads commands from standard input when it is
    /// not a terminal
    Shell {
        /// Run this command in the shell instead of an interactive session
        #[arg(short = 'c', value_name = "COMMAND")]
        command: Option<String>,
    },
    /// Print the solution of a step (`--script`: a shell script that performs it)
    Solution {
        /// Lesson id or number
        lesson: String,
        /// Step id or number
        step: String,
        /// Print a POSIX shell script that performs the step (uses $KUBECONFIG)
        #[arg(long)]
        script: bool,
        /// The lab directory the script runs in [default: <data-dir>/lab]
        #[arg(long, value_name = "DIR", env = crate::lab::LAB_DIR_ENV)]
        lab_dir: Option<PathBuf>,
    },
    /// Delete everything the course created (labelled app.kubernetes.io/part-of=kubetutor)
    Cleanup {
        /// Don't ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Check that kubectl and the cluster are ready for the course; prints
    /// each finding with its fix (exit status 1 if any failed)
    Doctor,
    /// Classroom workshops, the instructor's side: serve (the live grid of
    /// every learner), status, provision and teardown of a shared cluster
    Classroom {
        #[command(subcommand)]
        command: crate::classroom::commands::ClassroomCommand,
    },
    /// Join a classroom and remember it: kubetutor then joins it at every
    /// start (without CODE@HOST:PORT: say which one is remembered)
    Join {
        /// CODE@HOST:PORT, as your instructor says it
        target: Option<String>,
        /// Forget the remembered classroom
        #[arg(long, conflicts_with = "target")]
        leave: bool,
    },
    /// Check lesson files: front matter, steps, checks, assets, translations
    Lint {
        /// A course directory (holding lessons/ and assets/), or one lesson
        /// file; default: the current directory if it has lessons/, else the
        /// built-in course
        path: Option<PathBuf>,
    },
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::from_code(s).ok_or_else(|| format!("unknown language '{s}': use en or fr"))
}

/// The global options that mean nothing to `kubetutor sandbox` (it always
/// runs the built-in sandbox): hidden from its help, refused if given.
const NOT_FOR_SANDBOX: [(&str, &str); 6] = [
    ("context", "context"),
    ("kubeconfig", "kubeconfig"),
    ("namespace", "namespace"),
    ("allow_remote", "allow-remote"),
    ("course_dir", "course-dir"),
    ("lang", "lang"),
];

/// The command line definition, with `sandbox --help` showing only what
/// applies to it.
pub fn command() -> clap::Command {
    use clap::{Arg, ArgAction, CommandFactory};
    // A subcommand's own argument of the same id stops clap from copying
    // the global one into it: these are hidden, and refused in `main`.
    Cli::command().mut_subcommand("sandbox", |sc| {
        NOT_FOR_SANDBOX.iter().fold(sc, |sc, (id, long)| {
            let arg = Arg::new(*id).long(*long).hide(true);
            let arg = if *id == "namespace" {
                arg.short('n')
            } else {
                arg
            };
            sc.arg(if *id == "allow_remote" {
                arg.action(ArgAction::SetTrue)
            } else {
                arg.num_args(1)
            })
        })
    })
}

/// Whether an error is only "the reader went away" (`kubetutor status |
/// head`): nothing to report then.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    if let Some(("sandbox", sub)) = matches.subcommand() {
        let given: Vec<String> = NOT_FOR_SANDBOX
            .iter()
            .filter(|(id, _)| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .map(|(_, long)| format!("--{long}"))
            .collect();
        if !given.is_empty() {
            eprintln!(
                "error: `kubetutor sandbox` always runs the built-in sandbox: {} does not apply to it (use it with `kubetutor`)",
                given.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = Sanitized::new(std::io::stderr().lock());
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if !matches!(cli.command, Some(Command::Lint { .. }))
        && let Ok(dir) = cli.data_dir.clone().map_or_else(paths::data_dir, Ok)
    {
        crate::logging::init(&dir, cli.log.as_deref());
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            command = ?cli.command.as_ref().map(|c| format!("{c:?}")),
            "kubetutor starts"
        );
    }
    match &cli.command {
        Some(Command::Lint { path }) => return lint(path.as_deref()),
        Some(Command::Doctor) => return doctor(&cli),
        Some(Command::Sandbox { reset, port }) => {
            let data_dir = match &cli.data_dir {
                Some(d) => d.clone(),
                None => paths::data_dir()?,
            };
            return sandbox(&data_dir, *reset, *port);
        }
        _ => {}
    }
    let target = Target::from_cli(&cli);
    let env = Env::load(&cli, &target.vars())?;
    let front = Front::from_cli(&cli, &env);
    match cli.command {
        Some(Command::Classroom { command }) => {
            return crate::classroom::commands::run(
                command,
                &env.data_dir,
                env.course.clone(),
                &env.files,
                env.lang,
                target.cluster.clone(),
            );
        }
        Some(Command::Join { target: t, leave }) => {
            return crate::classroom::commands::join(
                &env.data_dir,
                t.as_deref(),
                cli.name.as_deref(),
                leave,
                &mut std::io::stdout().lock(),
            );
        }
        _ => {}
    }
    let learner = crate::classroom::commands::LearnerPlan::new(
        &env.data_dir,
        cli.join.as_deref(),
        cli.name.as_deref(),
        target.seat.clone(),
    )?;
    match cli.command {
        None => env.start_tui(None, &target, front, learner),
        Some(Command::Start { lesson }) => {
            let id = env.resolve_lesson(&lesson)?.id().to_owned();
            env.start_tui(Some(id), &target, front, learner)
        }
        Some(Command::List) => {
            env.list(&mut Sanitized::new(std::io::stdout().lock()))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { json }) => {
            let mut out = std::io::stdout().lock();
            if json {
                env.status_json(&mut out)?;
            } else {
                env.status_text(&mut Sanitized::new(out))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Reset { lesson, yes }) => env.reset(lesson.as_deref(), yes),
        Some(Command::Shell { command }) => {
            crate::shell::command::run(crate::shell::command::Request {
                data_dir: &env.data_dir,
                cluster: target.cluster.as_ref(),
                namespace: &target.namespace,
                course: &env.course,
                command: command.as_deref(),
            })
        }
        Some(Command::Lab {
            path,
            restore,
            force,
            lab_dir,
        }) => crate::lab::command(
            &env.course,
            &crate::lab::lab_dir(lab_dir.as_deref(), &env.data_dir),
            path,
            &restore,
            force,
            env.lang,
            &mut Sanitized::new(std::io::stdout().lock()),
        ),
        Some(Command::Solution {
            lesson,
            step,
            script,
            lab_dir,
        }) => crate::solution::command(
            &env.course,
            env.lang,
            &lesson,
            &step,
            script,
            &crate::lab::lab_dir(lab_dir.as_deref(), &env.data_dir),
            &mut Sanitized::new(std::io::stdout().lock()),
        ),
        Some(Command::Cleanup { yes }) => crate::cleanup::run(
            target.cluster.clone(),
            &target.namespace,
            &env.data_dir,
            yes,
            env.lang,
            &mut Sanitized::new(std::io::stdout().lock()),
        ),
        Some(
            Command::Lint { .. }
            | Command::Sandbox { .. }
            | Command::Doctor
            | Command::Classroom { .. }
            | Command::Join { .. },
        ) => Ok(ExitCode::SUCCESS),
    }
}

/// `kubetutor lint FILE.md`: the diagnostics of one lesson file, checked
/// within its course when it is inside one (`<course>/lessons/<lang>/`),
/// else on its own.
fn lint_file(file: &std::path::Path) -> Result<ExitCode> {
    let abs = std::fs::canonicalize(file)
        .with_context(|| format!("cannot read the lesson file {}", file.display()))?;
    let root = abs
        .parent()
        .and_then(|d| d.parent())
        .and_then(|d| d.parent());
    let within =
        root.filter(|r| abs.strip_prefix(r.join("lessons")).is_ok() && r.join("lessons").is_dir());
    let mut err = Sanitized::new(std::io::stderr().lock());
    let diagnostics: Vec<String> = match within {
        Some(root) => {
            let rel = abs
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let files = CourseFiles::from_dir(root)
                .with_context(|| format!("cannot read the course at {}", root.display()))?;
            for w in crate::solution::lint_warnings(&files) {
                if w.file == rel {
                    writeln!(err, "{w}")?;
                }
            }
            crate::course::lint::lint(&files)
                .into_iter()
                .filter(|d| d.file == rel)
                .map(|d| d.to_string())
                .collect()
        }
        None => {
            let text = crate::course::read_lesson_file(&abs)
                .with_context(|| format!("cannot read the lesson file {}", file.display()))?;
            let name = file.display().to_string();
            let lang = abs
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| Lang::from_code(&n.to_string_lossy()))
                .unwrap_or_default();
            match crate::lesson::parse::parse_lesson(&name, lang, &text) {
                Ok(_) => Vec::new(),
                Err(d) => d.iter().map(|d| d.to_string()).collect(),
            }
        }
    };
    for d in &diagnostics {
        writeln!(err, "{d}")?;
    }
    if diagnostics.is_empty() {
        writeln!(
            std::io::stdout().lock(),
            "{}: no problems found",
            file.display()
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(err, "{} problem(s) found", diagnostics.len())?;
        Ok(ExitCode::FAILURE)
    }
}

fn lint(path: Option<&std::path::Path>) -> Result<ExitCode> {
    if let Some(p) = path
        && p.is_file()
    {
        return lint_file(p);
    }
    let files = match path {
        Some(p) => CourseFiles::from_dir(p)
            .with_context(|| format!("cannot read the course at {}", p.display()))?,
        None if std::path::Path::new("lessons").is_dir() => CourseFiles::from_dir(".".as_ref())
            .context("cannot read the course in the current directory")?,
        None => CourseFiles::embedded(),
    };
    let diagnostics = crate::course::lint::lint(&files);
    let mut err = Sanitized::new(std::io::stderr().lock());
    for w in crate::solution::lint_warnings(&files) {
        writeln!(err, "{w}")?;
    }
    for d in &diagnostics {
        writeln!(err, "{d}")?;
    }
    if diagnostics.is_empty() {
        let lessons = files
            .iter()
            .filter(|(p, _)| p.starts_with("lessons/") && p.ends_with(".md"))
            .count();
        writeln!(
            std::io::stdout().lock(),
            "{lessons} lesson files checked: no problems found"
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(err, "{} problem(s) found", diagnostics.len())?;
        Ok(ExitCode::FAILURE)
    }
}

/// `kubetutor sandbox`: serve the embedded cluster until Ctrl-C or SIGTERM.
fn sandbox(data_dir: &std::path::Path, reset: bool, port: u16) -> Result<ExitCode> {
    paths::private_dir(data_dir)?;
    let dir = &paths::sandbox_dir(data_dir);
    use sandbox::{Sandbox, SandboxConfig};
    if reset {
        sandbox::reset(dir)
            .with_context(|| format!("cannot wipe the sandbox in {}", dir.display()))?;
        eprintln!("The sandbox in {} was wiped.", dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut cfg = SandboxConfig::new(dir);
        cfg.port = port;
        let sandbox = Sandbox::start(cfg).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "kubetutor sandbox: Kubernetes API on https://{} is ready (data in {}).",
            sandbox.addr(),
            dir.display()
        )?;
        writeln!(out, "Use it from another terminal with:")?;
        writeln!(out)?;
        writeln!(
            out,
            "export KUBECONFIG={}",
            sandbox.kubeconfig_path().display()
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "Press Ctrl-C to stop it; its objects and files are kept."
        )?;
        out.flush()?;
        drop(out);
        // `kubetutor status` in another terminal prints the export line.
        let marker = sandbox_marker(data_dir);
        let doc = serde_json::json!({
            "pid": std::process::id(),
            "kubeconfig": sandbox.kubeconfig_path(),
            "addr": sandbox.addr().to_string(),
        });
        if let Err(e) = paths::write_atomic(&marker, doc.to_string().as_bytes()) {
            tracing::warn!("cannot write {}: {e}", marker.display());
        }
        wait_for_shutdown_signal().await;
        let _ = std::fs::remove_file(&marker);
        eprintln!("Stopping the sandbox...");
        sandbox.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP.
async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        match (term, hup) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The fixed words of `status`, `list` and `reset`, in the course language.
struct CliText {
    course: &'static str,
    lessons_count: &'static str,
    list_row: &'static str,
    connection: &'static str,
    not_running: &'static str,
    sandbox_alone: &'static str,
    same_cluster: &'static str,
    shell_here: &'static str,
    lesson: &'static str,
    step: &'static str,
    all_done: &'static str,
    no_lessons: &'static str,
    lab_here: &'static str,
    lab_missing: &'static str,
    hint: &'static str,
    states: [&'static str; 4],
    conn_words: [(&'static str, &'static str); 5],
    reset_question: &'static str,
    reset_no_terminal: &'static str,
    namespace_question: &'static str,
    namespace_no_terminal: &'static str,
    namespace_refused: &'static str,
    reset_none: &'static str,
    reset_done: &'static str,
    reset_running: &'static str,
    whole_course: &'static str,
    lesson_named: &'static str,
}

static CLI_EN: CliText = CliText {
    course: "Kubernetes storage course",
    lessons_count: "{0} lesson(s), language: {1}",
    list_row: "{0} steps  {1} min",
    connection: "Connection: {0} ({1}), namespace {2}",
    not_running: "Connection: kubetutor is not running (start it with `kubetutor`)",
    sandbox_alone: "Connection: the sandbox runs alone (`{1}`, pid {0}); kubetutor is not running",
    same_cluster: "Use the same cluster from another terminal with:",
    shell_here: "The course's shell (kubectl aimed at the course's cluster, in the lab directory):",
    lesson: "Lesson {0}/{1}: {2} ({3})",
    step: "Step {0}/{1}: {2} ({3})",
    all_done: "All {0} steps done.",
    no_lessons: "The course has no lessons in language {0}.",
    lab_here: "Run the lessons' commands from the lab directory:",
    lab_missing: "The lab directory (the course's manifests) is written by `kubetutor` or `kubetutor lab`:",
    hint: "hint:",
    states: ["pending", "active", "done", "failing"],
    conn_words: [
        ("connected", "connected"),
        ("connecting", "connecting"),
        ("reconnecting", "reconnecting"),
        ("not connected", "not connected"),
        ("failed", "failed"),
    ],
    reset_question: "Forget your progress in {0}?",
    reset_no_terminal: "refusing to reset without confirmation: run it in a terminal or add --yes",
    namespace_question: "Namespace `{0}` does not exist in context `{1}`. Create it for the course?",
    namespace_no_terminal: "namespace `{0}` does not exist; create it with `kubectl create namespace {0}` or run kubetutor in a terminal to be asked",
    namespace_refused: "the course needs namespace `{0}`: create it with `kubectl create namespace {0}`, or pick an existing one with `--namespace`",
    reset_none: "Nothing was reset.",
    reset_done: "Progress in {0} was reset.",
    reset_running: "kubetutor is running (pid {0}) and would write its progress back: quit it first (q), then reset",
    whole_course: "the whole course",
    lesson_named: "lesson '{0}'",
};

static CLI_FR: CliText = CliText {
    course: "Cours sur le stockage dans Kubernetes",
    lessons_count: "{0} leçon(s), langue : {1}",
    list_row: "{0} étapes  {1} min",
    connection: "Connexion : {0} ({1}), namespace {2}",
    not_running: "Connexion : kubetutor ne tourne pas (lancez-le avec `kubetutor`)",
    sandbox_alone: "Connexion : le bac à sable tourne seul (`{1}`, pid {0}) ; kubetutor ne tourne pas",
    same_cluster: "Pour utiliser le même cluster depuis un autre terminal :",
    shell_here: "Le shell du cours (kubectl dirigé vers le cluster du cours, dans le répertoire de travail) :",
    lesson: "Leçon {0}/{1} : {2} ({3})",
    step: "Étape {0}/{1} : {2} ({3})",
    all_done: "Les {0} étapes sont faites.",
    no_lessons: "Le cours n'a pas de leçon en langue {0}.",
    lab_here: "Lancez les commandes des leçons depuis le répertoire de travail :",
    lab_missing: "Le répertoire de travail (les manifestes du cours) est écrit par `kubetutor` ou `kubetutor lab` :",
    hint: "indice :",
    states: ["à faire", "en cours", "fait", "en échec"],
    conn_words: [
        ("connected", "connecté"),
        ("connecting", "connexion"),
        ("reconnecting", "reconnexion"),
        ("not connected", "non connecté"),
        ("failed", "échec"),
    ],
    reset_question: "Oublier votre progression dans {0} ?",
    reset_no_terminal: "pas d'effacement sans confirmation : lancez la commande dans un terminal ou ajoutez --yes",
    namespace_question: "Le namespace `{0}` n'existe pas dans le contexte `{1}`. Le créer pour le cours ?",
    namespace_no_terminal: "le namespace `{0}` n'existe pas : créez-le avec `kubectl create namespace {0}`, ou lancez kubetutor dans un terminal pour qu'il vous le propose",
    namespace_refused: "le cours a besoin du namespace `{0}` : créez-le avec `kubectl create namespace {0}`, ou choisissez-en un qui existe avec `--namespace`",
    reset_none: "Rien n'a été effacé.",
    reset_done: "La progression dans {0} a été effacée.",
    reset_running: "kubetutor tourne (pid {0}) et réécrirait sa progression : quittez-le d'abord (q), puis recommencez",
    whole_course: "tout le cours",
    lesson_named: "la leçon « {0} »",
};

fn cli_text(lang: Lang) -> &'static CliText {
    match lang {
        Lang::En => &CLI_EN,
        Lang::Fr => &CLI_FR,
    }
}

use crate::text::fill;

impl CliText {
    /// A step state (`pending|active|done|failing`) in words.
    fn state(&self, machine: &str) -> &'static str {
        match machine {
            "pending" => self.states[0],
            "active" => self.states[1],
            "done" => self.states[2],
            "failing" => self.states[3],
            _ => "?",
        }
    }

    /// A connection state label (`reconnecting: why`...) in words.
    fn connection_state(&self, label: &str) -> String {
        for (en, word) in self.conn_words {
            if let Some(rest) = label.strip_prefix(en)
                && (rest.is_empty() || rest.starts_with(':'))
            {
                return format!("{word}{rest}");
            }
        }
        label.to_owned()
    }
}

/// Where a headless `kubetutor sandbox` says it runs (removed when it stops).
fn sandbox_marker(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("sandbox.json")
}

/// The headless sandbox running now, if any: (pid, kubeconfig).
fn running_sandbox(data_dir: &std::path::Path) -> Option<(u64, String)> {
    let doc = crate::live_status::read_live(&sandbox_marker(data_dir))?;
    Some((
        doc.get("pid")?.as_u64()?,
        doc.get("kubeconfig")?.as_str()?.to_owned(),
    ))
}

/// What every command but `lint` needs: the course, the language and progress.
struct Env {
    course: Course,
    /// The course's files as read (variables not set).
    files: CourseFiles,
    lang: Lang,
    data_dir: PathBuf,
    store: ProgressStore,
    progress: Progress,
    warning: Option<String>,
    /// `--no-shell` (false) or `--shell-pane` (true), remembered.
    shell_pref: Option<bool>,
}

impl Env {
    fn load(cli: &Cli, vars: &crate::lesson::vars::Vars) -> Result<Env> {
        let files = match &cli.course_dir {
            Some(dir) => CourseFiles::from_dir(dir)
                .with_context(|| format!("cannot read the course at {}", dir.display()))?,
            None => CourseFiles::embedded(),
        };
        let course = Course::load_with(&files, vars).map_err(|diags| {
            let list: Vec<String> = diags.iter().take(10).map(|d| d.to_string()).collect();
            anyhow::anyhow!(
                "the course has errors (run `kubetutor lint` for all of them):\n{}",
                list.join("\n")
            )
        })?;
        let data_dir = match &cli.data_dir {
            Some(d) => d.clone(),
            None => paths::data_dir()?,
        };
        let store = ProgressStore::new(paths::progress_file(&data_dir));
        let loaded = store.load();
        let lang = cli
            .lang
            .or(loaded.progress.lang)
            .unwrap_or_else(lang_from_env);
        Ok(Env {
            course,
            files,
            lang,
            data_dir,
            store,
            progress: loaded.progress,
            warning: loaded.warning,
            shell_pref: match (cli.no_shell, cli.shell_pane) {
                (true, _) => Some(false),
                (_, true) => Some(true),
                _ => None,
            },
        })
    }

    fn lessons(&self) -> &[Lesson] {
        self.course.lessons(self.lang)
    }

    /// A lesson by id, or by its 1-based number in the course.
    fn resolve_lesson(&self, key: &str) -> Result<&Lesson> {
        let lessons = self.lessons();
        if let Some(l) = lessons.iter().find(|l| l.id() == key) {
            return Ok(l);
        }
        if let Some(l) = key
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| lessons.get(i))
        {
            return Ok(l);
        }
        let ids: Vec<&str> = lessons.iter().map(|l| l.id()).collect();
        bail!(
            "no lesson '{key}'; the lessons are: {} (see `kubetutor list`)",
            ids.join(", ")
        )
    }

    fn warn(&self) {
        if let Some(w) = &self.warning {
            eprintln!("warning: {}", crate::term_text::strip(&w.to_string()));
        }
    }

    /// The lesson the learner is on: the saved one, else the first.
    fn current_lesson(&self) -> Option<(usize, &Lesson)> {
        let lessons = self.lessons();
        self.progress
            .current
            .as_ref()
            .and_then(|c| lessons.iter().position(|l| l.id() == c.lesson))
            .or(if lessons.is_empty() { None } else { Some(0) })
            .and_then(|i| lessons.get(i).map(|l| (i, l)))
    }

    fn list(&self, out: &mut impl Write) -> Result<()> {
        self.warn();
        let lessons = self.lessons();
        let current = self.current_lesson().map(|(i, _)| i);
        let t = cli_text(self.lang);
        writeln!(
            out,
            "{} ({})",
            t.course,
            fill(t.lessons_count, &[&lessons.len(), &self.lang])
        )?;
        let width = lessons.iter().map(|l| l.id().len()).max().unwrap_or(0);
        for (i, lesson) in lessons.iter().enumerate() {
            let done = self.progress.done_count(lesson.id());
            let total = lesson.steps.len();
            let mark = if done >= total && total > 0 {
                "✔"
            } else if Some(i) == current {
                "▶"
            } else {
                " "
            };
            writeln!(
                out,
                "{mark} {:>2}. {:<width$}  {}  {}",
                i + 1,
                lesson.id(),
                fill(
                    t.list_row,
                    &[
                        &format!("{:>5}", format!("{done}/{total}")),
                        &format!("{:>3}", lesson.meta.minutes)
                    ]
                ),
                lesson.meta.title,
            )?;
        }
        Ok(())
    }

    fn status_model(&self) -> StatusModel<'_> {
        let current = self.current_lesson();
        let lessons = self
            .lessons()
            .iter()
            .map(|lesson| {
                let states = step_states(lesson, &self.progress);
                (lesson, states)
            })
            .collect();
        StatusModel { current, lessons }
    }

    /// What `status` reports: the running UI's live status file, else
    /// progress alone with connection state `not running`.
    fn status_doc(&self) -> serde_json::Value {
        if let Some(doc) =
            crate::live_status::read_live(&crate::live_status::session_file(&self.data_dir))
        {
            return doc;
        }
        let model = self.status_model();
        let current = model.current.map(|(i, lesson)| {
            let step = model.lessons[i]
                .1
                .iter()
                .position(|s| *s == StepState::Active)
                .map(|s| lesson.steps[s].id.clone());
            serde_json::json!({ "lesson": lesson.id(), "step": step })
        });
        let current_id = model.current.map(|(_, l)| l.id());
        let lessons: Vec<serde_json::Value> = model
            .lessons
            .iter()
            .map(|(lesson, states)| {
                let here = Some(lesson.id()) == current_id;
                let steps: Vec<serde_json::Value> = lesson
                    .steps
                    .iter()
                    .zip(states)
                    .map(|(s, st)| {
                        // Only the lesson the learner is on has an active step.
                        let st = match st {
                            StepState::Active if !here => StepState::Pending,
                            other => *other,
                        };
                        serde_json::json!({
                            "id": s.id,
                            "title": s.title,
                            "state": st.as_str(),
                            "hints": self.progress.hints_revealed(lesson.id(), &s.id),
                            "solution": self.progress.solution_revealed(lesson.id(), &s.id),
                        })
                    })
                    .collect();
                serde_json::json!({"id": lesson.id(), "title": lesson.meta.title, "steps": steps})
            })
            .collect();
        // A headless `kubetutor sandbox` is a cluster to point kubectl at.
        let connection = match running_sandbox(&self.data_dir) {
            Some((pid, kubeconfig)) => serde_json::json!({
                "context": sandbox::CONTEXT,
                "kubeconfig": kubeconfig,
                "namespace": sandbox::NAMESPACE,
                "state": "not running",
                "sandbox_pid": pid,
                "sandbox_by": crate::live_status::read_live(&sandbox_marker(&self.data_dir))
                    .and_then(|d| d["by"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "kubetutor sandbox".to_owned()),
            }),
            None => {
                serde_json::json!({"context": null, "kubeconfig": null, "state": "not running"})
            }
        };
        serde_json::json!({
            "connection": connection,
            "lab": self.lab_dir(),
            "lang": self.lang.code(),
            "current": current,
            "lessons": lessons,
        })
    }

    fn status_text(&self, out: &mut impl Write) -> Result<()> {
        self.warn();
        let t = cli_text(self.lang);
        let doc = self.status_doc();
        let conn = &doc["connection"];
        let state = conn["state"].as_str().unwrap_or("not running");
        let export = |out: &mut dyn Write, ctx: &str| -> std::io::Result<()> {
            if let Some(k) = conn["kubeconfig"].as_str() {
                writeln!(out, "{}", t.same_cluster)?;
                writeln!(out, "  export KUBECONFIG={k}")?;
                if ctx != sandbox::CONTEXT {
                    writeln!(out, "  kubectl config use-context {ctx}")?;
                }
            }
            Ok(())
        };
        match conn["context"].as_str() {
            Some(ctx) if state != "not running" => {
                let ns = conn["namespace"].as_str().unwrap_or(DEFAULT_NAMESPACE);
                writeln!(
                    out,
                    "{}",
                    fill(t.connection, &[&ctx, &t.connection_state(state), &ns])
                )?;
                export(out, ctx)?;
            }
            Some(ctx) => {
                let pid = conn["sandbox_pid"].as_u64().unwrap_or(0);
                let by = conn["sandbox_by"].as_str().unwrap_or("kubetutor sandbox");
                writeln!(out, "{}", fill(t.sandbox_alone, &[&pid, &by]))?;
                export(out, ctx)?;
            }
            None => writeln!(out, "{}", t.not_running)?,
        }
        let shell = doc["shell"]["command"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(crate::shell::command::invocation);
        writeln!(out, "{}", t.shell_here)?;
        writeln!(out, "  {shell}")?;
        if let Some(lab) = doc["lab"].as_str() {
            let lab = std::path::Path::new(lab);
            if lab.is_dir() {
                writeln!(out, "{}", t.lab_here)?;
            } else {
                writeln!(out, "{}", t.lab_missing)?;
            }
            writeln!(out, "  cd {}", lab.display())?;
        }
        let lessons = doc["lessons"].as_array().cloned().unwrap_or_default();
        let cur = &doc["current"];
        let Some((index, lesson)) = lessons
            .iter()
            .enumerate()
            .find(|(_, l)| l["id"] == cur["lesson"])
        else {
            writeln!(out, "{}", fill(t.no_lessons, &[&self.lang]))?;
            return Ok(());
        };
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        writeln!(
            out,
            "{}",
            fill(
                t.lesson,
                &[
                    &(index + 1),
                    &lessons.len(),
                    &text(&lesson["title"]),
                    &text(&lesson["id"])
                ]
            )
        )?;
        let steps = lesson["steps"].as_array().cloned().unwrap_or_default();
        match steps
            .iter()
            .enumerate()
            .find(|(_, s)| s["id"] == cur["step"])
        {
            Some((i, step)) => writeln!(
                out,
                "{}",
                fill(
                    t.step,
                    &[
                        &(i + 1),
                        &steps.len(),
                        &text(&step["title"]),
                        &text(&step["id"])
                    ]
                )
            )?,
            None => writeln!(out, "{}", fill(t.all_done, &[&steps.len()]))?,
        }
        writeln!(out)?;
        let width = t
            .states
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(7)
            + 2;
        for step in &steps {
            let mark = format!("[{}]", t.state(&text(&step["state"])));
            writeln!(
                out,
                "  {mark:<width$} {} ({})",
                text(&step["title"]),
                text(&step["id"])
            )?;
            let pad = " ".repeat(width + 3);
            if let Some(r) = step["reason"].as_str() {
                writeln!(out, "{pad}{r}")?;
            }
            if let Some(h) = step["hint"].as_str() {
                writeln!(out, "{pad}{} {h}", t.hint)?;
            }
        }
        Ok(())
    }

    /// The lab directory the lessons' commands run from.
    fn lab_dir(&self) -> PathBuf {
        crate::lab::lab_dir(None, &self.data_dir)
    }

    fn status_json(&self, out: &mut impl Write) -> Result<()> {
        let doc = self.status_doc();
        writeln!(out, "{}", crate::term_text::json(&doc)?)?;
        Ok(())
    }

    fn reset(mut self, lesson: Option<&str>, yes: bool) -> Result<ExitCode> {
        self.warn();
        let t = cli_text(self.lang);
        // A running UI holds the progress in memory and writes it back at
        // its next save: resetting under it would be silently undone.
        if let Some(doc) =
            crate::live_status::read_live(&crate::live_status::session_file(&self.data_dir))
        {
            let pid = doc["pid"].as_u64().unwrap_or(0);
            bail!("{}", fill(t.reset_running, &[&pid]));
        }
        let (what, id) = match lesson {
            Some(key) => {
                let l = self.resolve_lesson(key)?;
                (fill(t.lesson_named, &[&l.id()]), Some(l.id().to_owned()))
            }
            None => (t.whole_course.to_owned(), None),
        };
        let mut out = Sanitized::new(std::io::stdout().lock());
        if !yes {
            let asked = crate::prompt::confirm(
                self.lang,
                &fill(t.reset_question, &[&what]),
                &mut std::io::stdout(),
            )?;
            let Some(answer) = asked else {
                bail!("{}", t.reset_no_terminal);
            };
            if !answer {
                writeln!(out, "{}", t.reset_none)?;
                return Ok(ExitCode::SUCCESS);
            }
        }
        self.progress.reset(id.as_deref());
        self.store
            .save(&self.progress)
            .with_context(|| format!("cannot write progress to {}", self.store.path().display()))?;
        writeln!(out, "{}", fill(t.reset_done, &[&what]))?;
        Ok(ExitCode::SUCCESS)
    }

    fn start_tui(
        self,
        lesson: Option<String>,
        target: &Target,
        front: Front,
        learner: crate::classroom::commands::LearnerPlan,
    ) -> Result<ExitCode> {
        self.warn();
        // A bad kubeconfig, unknown or remote context is reported first;
        // then, before touching the cluster, the lack of a terminal.
        if let Some(opts) = &target.cluster {
            crate::cluster::connection::resolve(opts)?;
        }
        if !front.plain && (!std::io::stdout().is_terminal() || !std::io::stdin().is_terminal()) {
            bail!(
                "the full-screen interface needs an interactive terminal; run kubetutor directly in a terminal, not through a pipe, or use --plain"
            );
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let data_dir = self.data_dir.clone();
        let connected = runtime.block_on(connect(target, &data_dir, self.lang))?;
        let (saver, writer) = ProgressSaver::spawn(self.store.clone()).with_context(|| {
            format!(
                "cannot start the progress writer for {}",
                self.store.path().display()
            )
        })?;
        // The lessons' `assets/...` paths: written (learner edits kept) into
        // the lab directory, which the UI names.
        let strings = crate::tui::strings::strings(self.lang);
        let mut notices = Vec::new();
        if let Some(w) = &self.warning {
            notices.push(fill(strings.notice_progress, &[w]));
        }
        let lab = self.lab_dir();
        let lab_dir = match crate::lab::sync(&self.course, &lab, crate::lab::Restore::Nothing) {
            Ok(report) => Some(report.dir),
            Err(e) => {
                notices.push(fill(
                    strings.notice_lab,
                    &[&lab.display(), &format!("{e:#}")],
                ));
                None
            }
        };
        let mut progress = self.progress;
        progress.lang = Some(self.lang);
        if let Some(p) = self.shell_pref {
            progress.shell_pane = Some(p);
        }
        let shell_pane = progress.shell_pane.unwrap_or(true);
        let mut cfg = TuiConfig::new(self.course, self.lang, progress, saver);
        cfg.start = lesson;
        cfg.lab_dir = lab_dir;
        cfg.notices = notices;
        if front.remember.is_some() {
            cfg.progress.plain = front.remember;
        }
        let Connected {
            mut session,
            sandbox,
            updates,
        } = connected;
        let info = &session.info;
        // The course's shell: aimed at the cluster just connected to.
        let shell_target = crate::shell::Target {
            files: match &target.cluster {
                Some(o) => crate::cluster::connection::kubeconfig_files(o.kubeconfig.as_deref()),
                None => info.kubeconfig_path.iter().cloned().collect(),
            },
            context: info.context.clone(),
            namespace: info.namespace.clone(),
        };
        let (spec, unavailable) =
            match crate::shell::prepare(&data_dir, &shell_target, cfg.lab_dir.as_deref()) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
        cfg.shell_setup = crate::tui::ShellSetup {
            target: spec.as_ref().map(|s| s.target.clone()),
            pane: shell_pane,
            command: crate::shell::command::invocation(),
            unavailable,
        };
        cfg.shell = spec;
        cfg.connection = ConnectionInfo {
            context: info.context.clone(),
            kubeconfig: info.kubeconfig_path.clone(),
            namespace: info.namespace.clone(),
            state: ConnState::from(&info.state),
        };
        cfg.status_file = Some(crate::live_status::session_file(&data_dir));
        let result = runtime.block_on(async {
            let (check_tx, checks) = tokio::sync::mpsc::unbounded_channel();
            let checker = spawn_checker(
                &session.info.namespace,
                crate::check::engine::KubeIo::of(&session),
                check_tx,
            );
            crate::tui::live::spawn_bridge(updates, checks, checker.clone(), cfg.events.sender());
            cfg.checker = Some(checker);
            // The classroom joined, if any: another producer and consumer.
            cfg.reporter =
                learner.start(&data_dir, cfg.events.sender(), Some(session.client.clone()));
            let result = if front.plain {
                let opts = crate::plain::PlainOptions {
                    shell: front.shell_args(sandbox.as_ref().map(|s| s.kubeconfig_path())),
                };
                crate::plain::run(cfg, opts).await
            } else {
                crate::tui::run(cfg).await
            };
            session.stop();
            if let Some(s) = sandbox {
                s.shutdown().await;
            }
            result
        });
        // The UI dropped its saver; wait until every queued save is on disk.
        drop(runtime);
        writer.finish();
        result?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Which interface the interactive start uses, and what the plain one
/// needs to open the course shell.
struct Front {
    plain: bool,
    /// `--plain` (true) or `--no-plain` (false), remembered in progress.
    remember: Option<bool>,
    /// The global options `kubetutor shell` is run with, `None` when this
    /// build has no `shell` command.
    shell: Option<Vec<std::ffi::OsString>>,
}

impl Front {
    fn from_cli(cli: &Cli, env: &Env) -> Front {
        let remember = match (cli.plain, cli.no_plain) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let plain = remember.unwrap_or_else(|| {
            env.progress.plain == Some(true) || crate::plain::wanted_by_environment()
        });
        let shell = command().find_subcommand("shell").map(|_| {
            let mut args: Vec<std::ffi::OsString> = vec![
                "--data-dir".into(),
                env.data_dir.clone().into(),
                "--lang".into(),
                env.lang.code().into(),
                "--namespace".into(),
                cli.namespace.clone().into(),
            ];
            if let Some(c) = &cli.context {
                args.extend(["--context".into(), c.into()]);
            }
            if let Some(k) = &cli.kubeconfig {
                args.extend(["--kubeconfig".into(), k.clone().into()]);
            }
            if cli.allow_remote {
                args.push("--allow-remote".into());
            }
            if let Some(d) = &cli.course_dir {
                args.extend(["--course-dir".into(), d.clone().into()]);
            }
            args
        });
        Front {
            plain,
            remember,
            shell,
        }
    }

    /// `kubetutor shell`'s arguments; on our own sandbox, its kubeconfig
    /// (this process holds the sandbox: the shell uses it, not a second one).
    fn shell_args(&self, sandbox: Option<&std::path::Path>) -> Option<Vec<std::ffi::OsString>> {
        let mut args = self.shell.clone()?;
        if let Some(k) = sandbox {
            args.extend([
                "--kubeconfig".into(),
                k.into(),
                "--context".into(),
                sandbox::CONTEXT.into(),
            ]);
        }
        args.push("shell".into());
        Some(args)
    }
}

struct StatusModel<'a> {
    current: Option<(usize, &'a Lesson)>,
    lessons: Vec<(&'a Lesson, Vec<StepState>)>,
}

/// Step states as progress alone knows them: done steps, the first open step
/// active, the rest pending. (The live checker refines this with `failing`.)
pub fn step_states(lesson: &Lesson, progress: &Progress) -> Vec<StepState> {
    let mut active_given = false;
    lesson
        .steps
        .iter()
        .map(|s| {
            if progress.is_done(lesson.id(), &s.id) {
                StepState::Done
            } else if !active_given {
                active_given = true;
                StepState::Active
            } else {
                StepState::Pending
            }
        })
        .collect()
}

/// Language from the locale environment, as gettext reads it.
fn lang_from_env() -> Lang {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .map(|v| Lang::from_locale(&v))
        .unwrap_or_default()
}

/// Which cluster to use, from the global options.
#[derive(Debug, Clone)]
pub struct Target {
    /// `None`: the embedded sandbox (neither `--context` nor `--kubeconfig`).
    pub cluster: Option<ConnectOptions>,
    pub namespace: String,
    /// The learner's place when the context is a classroom kubeconfig
    /// (`kubetutor classroom provision`): its namespace is the course's,
    /// and the instructor vouched for the cluster (no `--allow-remote`).
    pub seat: Option<crate::classroom::shared::SharedSeat>,
}

impl Target {
    pub fn from_cli(cli: &Cli) -> Target {
        let real = cli.context.is_some() || cli.kubeconfig.is_some();
        let mut opts = ConnectOptions {
            kubeconfig: cli.kubeconfig.clone(),
            context: cli.context.clone(),
            namespace: Some(cli.namespace.clone()),
            allow_remote: true,
        };
        // Only the extension is read here: every error is the connection's
        // to report, later.
        let seat = real
            .then(|| crate::cluster::connection::resolve(&opts).ok())
            .flatten()
            .and_then(|r| crate::classroom::shared::SharedSeat::of(&r));
        let namespace = match &seat {
            Some(s) if cli.namespace == DEFAULT_NAMESPACE => s.namespace.clone(),
            _ => cli.namespace.clone(),
        };
        opts.namespace = Some(namespace.clone());
        opts.allow_remote = cli.allow_remote || seat.is_some();
        Target {
            cluster: real.then_some(opts),
            namespace,
            seat,
        }
    }

    /// The course variables for this target.
    pub fn vars(&self) -> crate::lesson::vars::Vars {
        crate::lesson::vars::Vars {
            namespace: self.namespace.clone(),
            learner_suffix: self
                .seat
                .as_ref()
                .map(|s| crate::classroom::names::suffix(&s.learner))
                .unwrap_or_default(),
        }
    }
}

/// A connected cluster: the session (watchers running), the sandbox when it
/// is ours, and the watchers' updates not yet consumed.
struct Connected {
    session: Session,
    sandbox: Option<Sandbox>,
    updates: tokio::sync::mpsc::UnboundedReceiver<ClusterUpdate>,
}

fn sandbox_in_use_error(dir: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "the sandbox in {} is already running in another kubetutor (a `kubetutor sandbox` in another terminal?). Use that one with `kubetutor --context kubetutor-sandbox --kubeconfig {}`, or stop it (Ctrl-C in its terminal) and try again",
        dir.display(),
        dir.join(sandbox::KUBECONFIG_FILE).display()
    )
}

/// Start the embedded sandbox in `dir`, with a clear message when another
/// process already runs it.
async fn start_sandbox(dir: &std::path::Path) -> Result<Sandbox> {
    match Sandbox::start(SandboxConfig::new(dir)).await {
        Ok(s) => Ok(s),
        Err(sandbox::StartError::InUse { .. }) => Err(sandbox_in_use_error(dir)),
        // The message says what was kept and how to recover.
        Err(e @ sandbox::StartError::Damaged { .. }) => Err(e.into()),
        Err(e) => Err(anyhow::Error::from(e).context(format!(
            "cannot start the built-in sandbox in {}",
            dir.display()
        ))),
    }
}

/// Connect to the target and start watching the course namespace. A
/// missing namespace is created in our own sandbox, and on a real cluster
/// only after the learner agrees.
async fn connect(target: &Target, data_dir: &std::path::Path, lang: Lang) -> Result<Connected> {
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let (opts, sandbox) = match &target.cluster {
        Some(opts) => (opts.clone(), None),
        None => {
            paths::private_dir(data_dir)?;
            let sandbox = start_sandbox(&paths::sandbox_dir(data_dir)).await?;
            let opts = ConnectOptions {
                kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
                context: None,
                namespace: Some(target.namespace.clone()),
                allow_remote: false,
            };
            (opts, Some(sandbox))
        }
    };
    let mut session = match Session::start(&opts, tx).await {
        Ok(s) => s,
        Err(e) => {
            if let Some(s) = sandbox {
                s.shutdown().await;
            }
            return Err(e.into());
        }
    };
    if !session.namespace_exists {
        let ours = sandbox.is_some();
        let ns = session.info.namespace.clone();
        if !ours {
            let t = cli_text(lang);
            let question = fill(t.namespace_question, &[&ns, &session.info.context]);
            match crate::prompt::confirm(lang, &question, &mut std::io::stdout())? {
                None => bail!("{}", fill(t.namespace_no_terminal, &[&ns])),
                Some(false) => bail!("{}", fill(t.namespace_refused, &[&ns])),
                Some(true) => {}
            }
        }
        session.create_namespace().await?;
    }
    Ok(Connected {
        session,
        sandbox,
        updates,
    })
}

/// `kubetutor doctor`: every finding with its fix; exit 1 if one failed.
fn doctor(cli: &Cli) -> Result<ExitCode> {
    use crate::cluster::doctor::{Status, run_doctor};
    let target = Target::from_cli(cli);
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => paths::data_dir()?,
    };
    let kubectl = std::env::var_os("KUBETUTOR_KUBECTL")
        .filter(|k| !k.is_empty())
        .map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let findings = runtime.block_on(async {
        match &target.cluster {
            Some(opts) => anyhow::Ok(run_doctor(opts, kubectl.as_deref()).await),
            None => {
                // The sandbox: ours for the check, or the one already running.
                let dir = paths::sandbox_dir(&data_dir);
                let (sandbox, kubeconfig) = match Sandbox::start(SandboxConfig::new(&dir)).await {
                    Ok(s) => {
                        let k = s.kubeconfig_path().to_path_buf();
                        (Some(s), k)
                    }
                    Err(sandbox::StartError::InUse { .. }) => {
                        (None, dir.join(sandbox::KUBECONFIG_FILE))
                    }
                    Err(e) => {
                        return Err(anyhow::Error::from(e).context(format!(
                            "cannot start the built-in sandbox in {}",
                            dir.display()
                        )));
                    }
                };
                let opts = ConnectOptions {
                    kubeconfig: Some(kubeconfig),
                    namespace: Some(target.namespace.clone()),
                    ..ConnectOptions::default()
                };
                let f = run_doctor(&opts, kubectl.as_deref()).await;
                if let Some(s) = sandbox {
                    s.shutdown().await;
                }
                Ok(f)
            }
        }
    })?;
    let mut out = Sanitized::new(std::io::stdout().lock());
    let mut failed = false;
    for f in &findings {
        let tag = match f.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => {
                failed = true;
                "FAIL"
            }
        };
        writeln!(out, "[{tag}] {}: {}", f.check, f.detail)?;
        if let Some(fix) = &f.fix {
            writeln!(out, "       fix: {fix}")?;
        }
    }
    if failed {
        writeln!(out, "Some checks failed: see the fixes above.")?;
        Ok(ExitCode::FAILURE)
    } else {
        writeln!(out, "Everything the course needs is in place.")?;
        Ok(ExitCode::SUCCESS)
    }
}
