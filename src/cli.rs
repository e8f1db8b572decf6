//! Command-line interface: parses arguments and dispatches to the course,
//! the TUI, progress and the sandbox. Every failure ends here as a one-line
//! `error: ...` that says what to do, with exit code 1 (2 for bad usage).

use crate::course::{Course, CourseFiles};
use crate::lesson::{Lang, Lesson};
use crate::paths;
use crate::progress::{Progress, ProgressSaver, ProgressStore, StepState};
use crate::tui::{ConnectionInfo, TuiConfig};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal, Write};
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

    /// Read lessons and assets from this directory instead of the copy built
    /// into kubetutor (for lesson authors)
    #[arg(long, global = true, value_name = "DIR", env = "KUBETUTOR_COURSE_DIR")]
    pub course_dir: Option<PathBuf>,

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
        /// The cluster's kubeconfig [default: the sandbox's, else kubectl's]
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
    },
    /// Check lesson files: front matter, steps, checks, assets, translations
    Lint {
        /// A course directory (holding lessons/ and assets/); default: the
        /// current directory if it has lessons/, else the built-in course
        path: Option<PathBuf>,
    },
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::from_code(s).ok_or_else(|| format!("unknown language '{s}': use en or fr"))
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Some(Command::Lint { path }) => return lint(path.as_deref()),
        Some(Command::Sandbox { reset, port }) => {
            let data_dir = match &cli.data_dir {
                Some(d) => d.clone(),
                None => paths::data_dir()?,
            };
            return sandbox(&paths::sandbox_dir(&data_dir), *reset, *port);
        }
        _ => {}
    }
    let env = Env::load(&cli)?;
    match cli.command {
        None => env.start_tui(None),
        Some(Command::Start { lesson }) => {
            let id = env.resolve_lesson(&lesson)?.id().to_owned();
            env.start_tui(Some(id))
        }
        Some(Command::List) => {
            env.list(&mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { json }) => {
            let mut out = std::io::stdout().lock();
            if json {
                env.status_json(&mut out)?;
            } else {
                env.status_text(&mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Reset { lesson, yes }) => env.reset(lesson.as_deref(), yes),
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
            &mut std::io::stdout().lock(),
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
            &mut std::io::stdout().lock(),
        ),
        Some(Command::Cleanup { yes, kubeconfig }) => crate::cleanup::run(
            &crate::cleanup::connect_options(kubeconfig.as_deref(), &env.data_dir),
            yes,
            &mut std::io::stdout().lock(),
        ),
        Some(Command::Lint { .. } | Command::Sandbox { .. }) => Ok(ExitCode::SUCCESS),
    }
}

fn lint(path: Option<&std::path::Path>) -> Result<ExitCode> {
    let files = match path {
        Some(p) => CourseFiles::from_dir(p)
            .with_context(|| format!("cannot read the course at {}", p.display()))?,
        None if std::path::Path::new("lessons").is_dir() => CourseFiles::from_dir(".".as_ref())
            .context("cannot read the course in the current directory")?,
        None => CourseFiles::embedded(),
    };
    let diagnostics = crate::lesson::lint::lint(&files);
    let mut err = std::io::stderr().lock();
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
fn sandbox(dir: &std::path::Path, reset: bool, port: u16) -> Result<ExitCode> {
    use crate::sandbox::{Sandbox, SandboxConfig};
    if reset {
        crate::sandbox::reset(dir)
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
        wait_for_shutdown_signal().await;
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

/// What every command but `lint` needs: the course, the language and progress.
struct Env {
    course: Course,
    lang: Lang,
    data_dir: PathBuf,
    store: ProgressStore,
    progress: Progress,
    warning: Option<String>,
}

impl Env {
    fn load(cli: &Cli) -> Result<Env> {
        let files = match &cli.course_dir {
            Some(dir) => CourseFiles::from_dir(dir)
                .with_context(|| format!("cannot read the course at {}", dir.display()))?,
            None => CourseFiles::embedded(),
        };
        let course = Course::load(&files).map_err(|diags| {
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
            lang,
            data_dir,
            store,
            progress: loaded.progress,
            warning: loaded.warning,
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
            eprintln!("warning: {w}");
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
        writeln!(
            out,
            "{} ({} lesson{}, language: {})",
            match self.lang {
                Lang::En => "Kubernetes storage course",
                Lang::Fr => "Cours sur le stockage dans Kubernetes",
            },
            lessons.len(),
            if lessons.len() == 1 { "" } else { "s" },
            self.lang
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
                "{mark} {:>2}. {:<width$}  {:>5} steps  {:>3} min  {}",
                i + 1,
                lesson.id(),
                format!("{done}/{total}"),
                lesson.meta.minutes,
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

    fn status_text(&self, out: &mut impl Write) -> Result<()> {
        self.warn();
        let model = self.status_model();
        let total = self.lessons().len();
        writeln!(out, "Connection: not connected (no cluster is watched yet)")?;
        let Some((index, lesson)) = model.current else {
            writeln!(out, "The course has no lessons in language {}.", self.lang)?;
            return Ok(());
        };
        writeln!(
            out,
            "Lesson {}/{}: {} ({})",
            index + 1,
            total,
            lesson.meta.title,
            lesson.id()
        )?;
        let states = &model.lessons[index].1;
        if let Some(active) = states.iter().position(|s| *s == StepState::Active) {
            let step = &lesson.steps[active];
            writeln!(
                out,
                "Step {}/{}: {} ({})",
                active + 1,
                lesson.steps.len(),
                step.title,
                step.id
            )?;
        } else {
            writeln!(out, "All {} steps done.", lesson.steps.len())?;
        }
        writeln!(out)?;
        for (step, state) in lesson.steps.iter().zip(states) {
            let mark = match state {
                StepState::Done => "[done]   ",
                StepState::Active => "[active] ",
                StepState::Failing => "[failing]",
                StepState::Pending => "[pending]",
            };
            writeln!(out, "  {mark} {} ({})", step.title, step.id)?;
        }
        Ok(())
    }

    fn status_json(&self, out: &mut impl Write) -> Result<()> {
        let model = self.status_model();
        let current = model.current.map(|(i, lesson)| {
            let step = model.lessons[i]
                .1
                .iter()
                .position(|s| *s == StepState::Active)
                .map(|s| lesson.steps[s].id.clone());
            serde_json::json!({ "lesson": lesson.id(), "step": step })
        });
        let lessons: Vec<serde_json::Value> = model
            .lessons
            .iter()
            .map(|(lesson, states)| {
                let steps: Vec<serde_json::Value> = lesson
                    .steps
                    .iter()
                    .zip(states)
                    .map(|(s, st)| {
                        serde_json::json!({"id": s.id, "title": s.title, "state": st.as_str()})
                    })
                    .collect();
                serde_json::json!({"id": lesson.id(), "title": lesson.meta.title, "steps": steps})
            })
            .collect();
        let doc = serde_json::json!({
            "connection": {"context": null, "kubeconfig": null, "state": "not connected"},
            "lang": self.lang.code(),
            "current": current,
            "lessons": lessons,
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        Ok(())
    }

    fn reset(mut self, lesson: Option<&str>, yes: bool) -> Result<ExitCode> {
        self.warn();
        let (what, id) = match lesson {
            Some(key) => {
                let l = self.resolve_lesson(key)?;
                (format!("lesson '{}'", l.id()), Some(l.id().to_owned()))
            }
            None => ("the whole course".to_owned(), None),
        };
        if !yes && !confirm(&format!("Forget your progress in {what}? [y/N] "))? {
            println!("Nothing was reset.");
            return Ok(ExitCode::SUCCESS);
        }
        self.progress.reset(id.as_deref());
        self.store
            .save(&self.progress)
            .with_context(|| format!("cannot write progress to {}", self.store.path().display()))?;
        println!("Progress in {what} was reset.");
        Ok(ExitCode::SUCCESS)
    }

    fn start_tui(self, lesson: Option<String>) -> Result<ExitCode> {
        self.warn();
        let (saver, writer) = ProgressSaver::spawn(self.store.clone()).with_context(|| {
            format!(
                "cannot start the progress writer for {}",
                self.store.path().display()
            )
        })?;
        let mut progress = self.progress;
        progress.lang = Some(self.lang);
        let mut cfg = TuiConfig::new(self.course, self.lang, progress, saver);
        cfg.start = lesson;
        cfg.connection = ConnectionInfo {
            context: String::new(),
            namespace: "kubetutor".into(),
            ..ConnectionInfo::default()
        };
        let _ = &self.data_dir;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let result = runtime.block_on(crate::tui::run(cfg));
        // The UI dropped its saver; wait until every queued save is on disk.
        drop(runtime);
        writer.finish();
        result?;
        Ok(ExitCode::SUCCESS)
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

/// Asks a yes/no question on the terminal; without a terminal, refuses and
/// says how to confirm non-interactively.
fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to reset without confirmation: run it in a terminal or add --yes");
    }
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "o" | "oui"))
}
