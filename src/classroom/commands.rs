//! The classroom's command line: `kubetutor classroom serve|status|
//! provision|teardown` (the instructor), `kubetutor join` and the global
//! `--join`/`--name` (learners), and what the learner's start needs to
//! join ([`LearnerPlan`]).

use super::code::{JoinCode, JoinTarget};
use super::instructor::{self, Mode, ServeOptions};
use super::membership::{self, Joined, Membership};
use super::names;
use super::shared::SharedSeat;
use crate::cluster::connection::ConnectOptions;
use crate::course::{Course, CourseFiles};
use crate::lesson::Lang;
use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ClassroomCommand {
    /// Run the classroom: learners join with the code it prints, the grid
    /// shows every learner live (no grid without a terminal, or with
    /// --headless)
    Serve {
        /// Where learners connect: ADDR:PORT (e.g. 192.168.1.10:7443, or
        /// 0.0.0.0:7443 for every interface) [default: 0.0.0.0:7443]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// The join code (default: the one of the last `serve` in this
        /// data directory, else a new random one)
        #[arg(
            long,
            value_name = "CODE",
            env = "KUBETUTOR_CLASSROOM_CODE",
            hide_env_values = true
        )]
        code: Option<String>,
        /// A new random join code (learners who joined need the new one)
        #[arg(long, conflicts_with = "code")]
        new_code: bool,
        /// No grid: print the join line and run until Ctrl-C
        #[arg(long)]
        headless: bool,
        /// Follow the learners of a shared cluster (see `provision`)
        /// through their ConfigMaps instead of serving
        #[arg(long, conflicts_with_all = ["listen", "code", "new_code"])]
        cluster: bool,
        /// The shared-cluster classroom to follow (with --cluster)
        #[arg(long, default_value = names::DEFAULT_CLASSROOM)]
        classroom: String,
        /// Most learners the classroom takes
        #[arg(long, default_value_t = super::roster::DEFAULT_MAX_LEARNERS)]
        max_learners: usize,
    },
    /// Print every learner: connected, lesson, each step's state and
    /// reason (from the running `serve`, else the last known progress)
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Prepare a shared cluster (--context/--kubeconfig): per learner a
    /// namespace, ServiceAccount, RBAC, quota and a kubeconfig file
    Provision {
        /// This many learners, named learner-01, learner-02...
        #[arg(long, value_name = "N")]
        learners: Option<usize>,
        /// Learners by name (comma-separated, or repeated)
        #[arg(long, value_name = "NAMES")]
        names: Vec<String>,
        /// The classroom's name: namespaces are CLASSROOM-LEARNER
        #[arg(long, default_value = names::DEFAULT_CLASSROOM)]
        classroom: String,
        /// Where the kubeconfig files go [default: <data-dir>/classroom/kubeconfigs/CLASSROOM]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// How long the learners' tokens last
        #[arg(long, value_name = "HOURS", default_value_t = 24)]
        token_hours: u32,
        /// The API server URL written in the kubeconfigs [default: the context's]
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Pods per learner
        #[arg(long, default_value_t = 20)]
        pods: u32,
        /// PersistentVolumeClaims per learner
        #[arg(long, default_value_t = 6)]
        claims: u32,
        /// Storage all of a learner's claims may request
        #[arg(long, default_value = "20Gi")]
        storage: String,
        /// Largest single claim
        #[arg(long, default_value = "5Gi")]
        claim_max: String,
        /// CPU per learner (requests and limits)
        #[arg(long, default_value = "4")]
        cpu: String,
        /// Memory per learner (requests and limits)
        #[arg(long, default_value = "8Gi")]
        memory: String,
    },
    /// Delete everything `provision` made for a classroom (by its label)
    Teardown {
        #[arg(long, default_value = names::DEFAULT_CLASSROOM)]
        classroom: String,
        /// Don't ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `kubetutor classroom ...`.
pub fn run(
    cmd: ClassroomCommand,
    data_dir: &Path,
    course: Course,
    files: &CourseFiles,
    lang: Lang,
    cluster: Option<ConnectOptions>,
) -> Result<ExitCode> {
    match cmd {
        ClassroomCommand::Serve {
            listen,
            code,
            new_code,
            headless,
            cluster: follow,
            classroom,
            max_learners,
        } => {
            let mode = if follow {
                let Some(connect) = cluster else {
                    bail!(
                        "--cluster follows a shared cluster: name it with --context or --kubeconfig"
                    );
                };
                Mode::Cluster {
                    connect,
                    classroom: names::check_classroom(&classroom).map_err(anyhow::Error::msg)?,
                }
            } else {
                Mode::Server {
                    listen: listen.unwrap_or_else(|| instructor::DEFAULT_LISTEN.to_owned()),
                    code: code
                        .map(|c| JoinCode::parse(&c))
                        .transpose()
                        .map_err(anyhow::Error::msg)?,
                    new_code,
                }
            };
            instructor::serve(
                data_dir,
                course,
                lang,
                ServeOptions {
                    mode,
                    headless,
                    max_learners,
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ClassroomCommand::Status { json } => {
            super::status::command(
                data_dir,
                course.lessons(lang),
                lang,
                json,
                &mut std::io::stdout().lock(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ClassroomCommand::Provision {
            learners,
            names: listed,
            classroom,
            out,
            token_hours,
            server,
            pods,
            claims,
            storage,
            claim_max,
            cpu,
            memory,
        } => {
            let Some(connect) = cluster else {
                bail!(
                    "provision prepares a shared cluster: name it with --context or --kubeconfig"
                );
            };
            let classroom = names::check_classroom(&classroom).map_err(anyhow::Error::msg)?;
            let plan = super::provision::Plan {
                learners: names::learners(learners, &listed).map_err(anyhow::Error::msg)?,
                out_dir: out.unwrap_or_else(|| {
                    super::files::dir(data_dir)
                        .join("kubeconfigs")
                        .join(&classroom)
                }),
                classroom,
                token_hours: token_hours.clamp(1, 24 * 30),
                budget: super::provision::Budget {
                    pods,
                    claims,
                    storage,
                    claim_max,
                    cpu,
                    memory,
                },
                server,
            };
            provision(&connect, files, &plan)
        }
        ClassroomCommand::Teardown { classroom, yes } => {
            let Some(connect) = cluster else {
                bail!("teardown cleans a shared cluster: name it with --context or --kubeconfig");
            };
            teardown(
                &connect,
                &names::check_classroom(&classroom).map_err(anyhow::Error::msg)?,
                yes,
                lang,
            )
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn provision(
    connect: &ConnectOptions,
    files: &CourseFiles,
    plan: &super::provision::Plan,
) -> Result<ExitCode> {
    let resolved = crate::cluster::connection::resolve(connect)?;
    let access = super::provision::ClusterAccess::of(&resolved)?;
    runtime()?.block_on(async {
        let (client, info) = crate::cluster::connection::connect(connect).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Provisioning classroom {} on {} ({}): {} learner(s)",
            plan.classroom,
            info.context,
            info.server,
            plan.learners.len()
        )?;
        let done = super::provision::provision(&client, &access, files, plan, &mut out).await?;
        writeln!(
            out,
            "Done: hand each learner their kubeconfig; they run `kubetutor --kubeconfig FILE`. Follow them with `kubetutor classroom serve --cluster --classroom {} --context {}`.",
            plan.classroom, info.context
        )?;
        let _ = done;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn teardown(connect: &ConnectOptions, classroom: &str, yes: bool, lang: Lang) -> Result<ExitCode> {
    let resolved = crate::cluster::connection::resolve(connect)?;
    if !yes {
        let q = format!(
            "Delete every namespace, volume and role of classroom {classroom} on {} (label {})?",
            resolved.info.context,
            names::selector(classroom)
        );
        match crate::prompt::confirm(lang, &q, &mut std::io::stdout())? {
            None => bail!(
                "refusing to tear down without confirmation: run it in a terminal or add --yes"
            ),
            Some(false) => {
                println!("Nothing was deleted.");
                return Ok(ExitCode::SUCCESS);
            }
            Some(true) => {}
        }
    }
    runtime()?.block_on(async {
        let (client, _) = crate::cluster::connection::connect(connect).await?;
        let removed = super::provision::teardown(&client, classroom).await?;
        let mut out = std::io::stdout().lock();
        for ns in &removed.namespaces {
            writeln!(out, "namespace/{ns} deleted")?;
        }
        for o in &removed.cluster_objects {
            writeln!(out, "{o} deleted")?;
        }
        if removed.namespaces.is_empty() && removed.cluster_objects.is_empty() {
            writeln!(out, "Nothing of classroom {classroom} was found.")?;
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// `kubetutor join [CODE@HOST:PORT] [--leave]`: remember (or forget) a
/// classroom, or say which one is remembered.
pub fn join(
    data_dir: &Path,
    target: Option<&str>,
    name: Option<&str>,
    leave: bool,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    if leave {
        membership::update(data_dir, |m| m.joined = None);
        writeln!(out, "kubetutor no longer joins a classroom at start.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(target) = target else {
        match Membership::load(data_dir).remembered() {
            Some((t, n)) => writeln!(
                out,
                "kubetutor joins {} as {n} at every start (`kubetutor join --leave` stops it).",
                t.addr()
            )?,
            None => writeln!(
                out,
                "No classroom is remembered: `kubetutor join CODE@HOST:PORT --name NAME`."
            )?,
        }
        return Ok(ExitCode::SUCCESS);
    };
    let target = JoinTarget::parse(target).map_err(anyhow::Error::msg)?;
    let name = learner_name(name, &Membership::load(data_dir))?;
    membership::update(data_dir, |m| {
        m.joined = Some(Joined {
            target: target.to_string(),
            name: name.clone(),
        })
    });
    writeln!(
        out,
        "Remembered: kubetutor joins the classroom at {} as {name} at every start (saved in {}, readable by you only).",
        target.addr(),
        membership::file(data_dir).display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The display name: given, else the remembered one, else the login name.
fn learner_name(given: Option<&str>, m: &Membership) -> Result<String> {
    let name = given
        .map(str::to_owned)
        .or_else(|| m.joined.as_ref().map(|j| j.name.clone()))
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .context("give your display name with --name NAME")?;
    super::roster::check_name(&name).map_err(anyhow::Error::msg)
}

/// What a learner's start joins: a classroom server, a shared cluster's
/// ConfigMaps, or both.
#[derive(Debug, Clone, Default)]
pub struct LearnerPlan {
    pub server: Option<(JoinTarget, String)>,
    pub shared: Option<SharedSeat>,
}

impl LearnerPlan {
    /// From `--join`/`--name`, the remembered classroom, and the seat a
    /// classroom kubeconfig names.
    pub fn new(
        data_dir: &Path,
        join: Option<&str>,
        name: Option<&str>,
        shared: Option<SharedSeat>,
    ) -> Result<LearnerPlan> {
        let m = Membership::load(data_dir);
        let server = match join {
            Some(t) => {
                let t = JoinTarget::parse(t).map_err(anyhow::Error::msg)?;
                Some((t, learner_name(name, &m)?))
            }
            None => m.remembered().map(|(t, remembered)| {
                let n = name.map(str::to_owned).unwrap_or(remembered);
                (t, n)
            }),
        };
        Ok(LearnerPlan { server, shared })
    }

    pub fn is_empty(&self) -> bool {
        self.server.is_none() && self.shared.is_none()
    }

    /// Starts the tasks (in the current runtime); the reporter goes to the
    /// front end.
    pub fn start<E: From<super::ClassroomEvent> + Send + 'static>(
        self,
        data_dir: &Path,
        events: tokio::sync::mpsc::Sender<E>,
        client: Option<kube::Client>,
    ) -> Option<super::Reporter> {
        if self.is_empty() {
            return None;
        }
        let events = super::learner::Sink::new(events);
        let reporter = super::Reporter::new();
        if let Some((target, name)) = self.server {
            let link = super::learner::Link {
                target,
                name,
                data_dir: data_dir.to_path_buf(),
                events: events.clone(),
            };
            tokio::spawn(super::learner::run(link, reporter.subscribe()));
        }
        if let (Some(seat), Some(client)) = (self.shared, client) {
            tokio::spawn(super::shared::run_learner(
                client,
                seat,
                reporter.subscribe(),
                events,
            ));
        }
        Some(reporter)
    }
}
