//! Every lesson of the course played as a learner would, against the
//! embedded sandbox: for each step, the checker must NOT pass it before the
//! learner acts, and must pass it after the step's solution script (real
//! kubectl, real curl through `kubectl proxy`) has run; quizzes are answered
//! with their right choices. Plus the traps: skipping the pod deletion never
//! passes a data-loss step, and a claim that is not mounted never passes a
//! persistence step.
//!
//! What the sandbox of this build cannot run yet (no controllers, or an image
//! it does not emulate) is found out first and printed: such a lesson is
//! played as far as it goes, and every step it could not reach is reported
//! by name, with the reason. A lesson the sandbox can run must pass whole.
//! (French lessons have the same ids and checks, so English is played.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kubetutor::check::engine::{CheckUpdate, CheckerHandle, spawn_checker};
use kubetutor::check::spec::Goal;
use kubetutor::cluster::state::ClusterState;
use kubetutor::cluster::{ConnectOptions, Session};
use kubetutor::course::Course;
use kubetutor::lesson::{Lang, Lesson, Step};
use kubetutor::progress::StepState;
use sandbox::{Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a step may take once acted on: generous, it is a bound, not a
/// timing expectation (a Job pulling, a rollout, a crawler's first books).
const STEP_BOUND: Duration = Duration::from_secs(240);
/// The same bound for a lesson already known to be beyond this sandbox.
const LIMITED_BOUND: Duration = Duration::from_secs(30);
/// How long the traps watch a step that must not pass.
const TRAP_WINDOW: Duration = Duration::from_secs(15);

fn course() -> Course {
    Course::embedded().unwrap_or_else(|d| panic!("{d:?}"))
}

/// The tools the scripts need; `None` (with a notice) skips outside CI.
fn tools() -> Option<PathBuf> {
    let kubectl = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL"))?;
    support::require_tool("curl", None)?;
    // The scripts call `kubectl`: put the chosen one first on PATH.
    let bin =
        std::env::temp_dir().join(format!("kubetutor-playthrough-bin-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("kubectl");
    // Tests run in parallel: another one may have made the link already.
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink(&kubectl, &link)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        panic!("cannot link kubectl into {}: {e}", bin.display());
    }
    Some(bin)
}

/// The sandbox, a session watching it, the checker fed by the session, the
/// lab directory, and what this sandbox cannot do.
struct Player {
    sandbox: Option<Sandbox>,
    session: Session,
    checker: CheckerHandle,
    checks: mpsc::UnboundedReceiver<CheckUpdate>,
    lab: PathBuf,
    path_env: std::ffi::OsString,
    lesson: Lesson,
    /// What the last solution script printed (shown when its check fails).
    last_output: String,
    /// Why this sandbox cannot play the whole lesson, if it cannot.
    limited: Option<String>,
    report: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Player {
    async fn start(lesson_id: &str, bin: &Path) -> Player {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
            .await
            .unwrap();
        let opts = ConnectOptions {
            kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
            ..ConnectOptions::default()
        };
        let (tx, mut updates) = mpsc::unbounded_channel();
        let mut session = Session::start(&opts, tx).await.unwrap();
        if !session.namespace_exists {
            session.create_namespace().await.unwrap();
        }
        let (check_tx, checks) = mpsc::unbounded_channel();
        let checker = spawn_checker(
            "kubetutor",
            kubetutor::check::engine::KubeIo::of(&session),
            check_tx,
        );
        // What the app does: every cluster update goes to the checker.
        let forward = checker.clone();
        tokio::spawn(async move {
            let mut state = ClusterState::new("kubetutor");
            while let Some(u) = updates.recv().await {
                forward.cluster(u.clone());
                state.apply(u);
            }
        });
        let course = course();
        let lab = kubetutor::lab::sync(
            &course,
            &dir.path().join("lab"),
            kubetutor::lab::Restore::Nothing,
        )
        .unwrap()
        .dir;
        let lesson = course
            .lesson(Lang::En, lesson_id)
            .unwrap_or_else(|| panic!("no lesson {lesson_id}"))
            .clone();
        let mut path_env = bin.as_os_str().to_owned();
        if let Some(p) = std::env::var_os("PATH") {
            path_env.push(":");
            path_env.push(p);
        }
        let limited = match NO_PODS
            .get_or_init(|| runs_no_pods(&session.client))
            .await
            .clone()
        {
            Some(why) => Some(why),
            None => {
                // Lessons that start from earlier ones need those apps too.
                let mut needed = vec![lesson.clone()];
                for earlier in prerequisites(lesson_id) {
                    needed.extend(course.lesson(Lang::En, earlier).cloned());
                }
                needed
                    .iter()
                    .find_map(|l| unemulated_containers(&course, l))
            }
        };
        // Every lesson must be playable on the sandbox: an image it cannot
        // run is a failure of the course or of the sandbox, not a skip.
        if let Some(why) = &limited {
            panic!("lesson {lesson_id} cannot be played whole on this sandbox: {why}");
        }
        Player {
            sandbox: Some(sandbox),
            session,
            checker,
            checks,
            lab,
            path_env,
            lesson,
            limited,
            last_output: String::new(),
            report: Vec::new(),
            _dir: dir,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.sandbox
            .as_ref()
            .map(|s| s.kubeconfig_path().to_path_buf())
            .unwrap()
    }

    fn bound(&self) -> Duration {
        if self.limited.is_some() {
            LIMITED_BOUND
        } else {
            STEP_BOUND
        }
    }

    /// Make `step` the active one and return the verdicts seen while the
    /// checker settles (at least one).
    async fn activate(&mut self, step: &Step) -> Vec<CheckUpdate> {
        while self.checks.try_recv().is_ok() {}
        let spec = step.check.as_ref().unwrap().spec().unwrap();
        self.checker.activate(self.lesson.id(), &step.id, spec);
        let mut seen = Vec::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let timeout = if seen.is_empty() {
                Duration::from_secs(30)
            } else {
                end.saturating_duration_since(tokio::time::Instant::now())
            };
            match tokio::time::timeout(timeout, self.checks.recv()).await {
                Ok(Some(u)) if u.step == step.id => seen.push(u),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the checker stopped"),
                Err(_) => break,
            }
        }
        assert!(!seen.is_empty(), "no verdict on activating {}", step.id);
        seen
    }

    /// Wait until a verdict on `step` satisfies `pred`, within `bound`.
    async fn wait_for(
        &mut self,
        step: &str,
        bound: Duration,
        pred: impl Fn(&CheckUpdate) -> bool,
    ) -> Result<CheckUpdate, Option<CheckUpdate>> {
        let mut last = None;
        let r = tokio::time::timeout(bound, async {
            loop {
                match self.checks.recv().await {
                    Some(u) if u.step == step => {
                        if pred(&u) {
                            return Some(u);
                        }
                        last = Some(u);
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await;
        match r {
            Ok(Some(u)) => Ok(u),
            _ => Err(last),
        }
    }

    /// Run a script as the learner's shell would: the sandbox's kubeconfig,
    /// kubectl and curl on PATH, killed (with its proxy) past the bound.
    async fn run_script(&self, script: &str, bound: Duration) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .env("KUBECONFIG", self.kubeconfig())
            .env("PATH", &self.path_env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let child = cmd.spawn().map_err(|e| format!("cannot run sh: {e}"))?;
        let pid = child.id();
        match tokio::time::timeout(bound, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if out.status.success() {
                    Ok(text)
                } else {
                    Err(format!("the script failed ({}):\n{text}", out.status))
                }
            }
            Ok(Err(e)) => Err(format!("the script could not run: {e}")),
            Err(_) => {
                // The whole group: the script and its `kubectl proxy`.
                if let Some(pid) = pid {
                    let _ = std::process::Command::new("kill")
                        .args(["-s", "KILL", "--", &format!("-{pid}")])
                        .status();
                }
                Err(format!("the script did not finish within {bound:?}"))
            }
        }
    }

    /// Something went wrong on `step`: a failure for a lesson this sandbox
    /// can run, else the step and every later one are reported as not
    /// played. Returns whether to go on.
    fn stuck(&mut self, index: usize, what: String) -> bool {
        let Some(why) = self.limited.clone() else {
            panic!(
                "lesson {} step {}: {what}\n(played so far: {:#?})",
                self.lesson.id(),
                self.lesson.steps[index].id,
                self.report
            );
        };
        let at = self.lesson.steps[index].id.clone();
        for (i, s) in self.lesson.steps[index..].iter().enumerate() {
            let reason = if i == 0 {
                why.clone()
            } else {
                format!("not reached (the lesson stopped at step {at})")
            };
            self.report.push(format!(
                "NOT PLAYED {}/{}: {reason}",
                self.lesson.id(),
                s.id
            ));
        }
        tell(&format!(
            "notice: lesson {} stopped at step {}: {what}",
            self.lesson.id(),
            self.lesson.steps[index].id
        ));
        false
    }

    /// Play one step; false when the lesson cannot go on.
    async fn play_step(&mut self, index: usize) -> bool {
        let step = self.lesson.steps[index].clone();
        let spec = step.check.as_ref().unwrap().spec().unwrap();
        let before = self.activate(&step).await;
        // Not done before the learner acts.
        if let Some(done) = before.iter().find(|u| u.state == StepState::Done) {
            panic!(
                "lesson {} step {} passes before the learner acts: {done:?}",
                self.lesson.id(),
                step.id
            );
        }
        if let Goal::Quiz(q) = &spec.goal {
            self.checker.answer(&step.id, q.answers.clone());
        } else {
            let first_stage_seen = before.iter().any(|u| {
                u.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("step 2 of"))
            });
            if matches!(spec.goal, Goal::Sequence(_)) && !first_stage_seen {
                // A learner reads first: the first stage (a probe of the
                // data before the pod goes) is observed before they act.
                let r = self
                    .wait_for(&step.id, self.bound(), |u| {
                        u.reason
                            .as_deref()
                            .is_some_and(|r| r.starts_with("step 2 of"))
                    })
                    .await;
                if let Err(last) = r {
                    return self.stuck(
                        index,
                        format!(
                            "the sequence's first stage was never observed (last verdict: {last:?})"
                        ),
                    );
                }
            }
            let script = match kubetutor::solution::solution_script(&self.lesson, &step, &self.lab)
            {
                Ok(s) => s,
                Err(e) => panic!("lesson {} step {}: {e}", self.lesson.id(), step.id),
            };
            match self.run_script(&script, self.bound()).await {
                Ok(out) => self.last_output = out,
                Err(e) => return self.stuck(index, e),
            }
        }
        match self
            .wait_for(&step.id, self.bound(), |u| u.state == StepState::Done)
            .await
        {
            Ok(_) => {
                self.report
                    .push(format!("passed {}/{}", self.lesson.id(), step.id));
                true
            }
            Err(last) => self.stuck(
                index,
                format!(
                    "the check did not pass after the solution (last verdict: {last:?})\nthe solution printed:\n{}",
                    self.last_output
                ),
            ),
        }
    }

    /// Bring the cluster to where an earlier lesson leaves it: its
    /// solution scripts, in order, unchecked. False (reported) when this
    /// sandbox cannot.
    async fn set_up_from(&mut self, earlier: &str) -> bool {
        let course = course();
        let Some(prev) = course.lesson(Lang::En, earlier).cloned() else {
            panic!("no lesson {earlier}");
        };
        for step in &prev.steps {
            let Ok(script) = kubetutor::solution::solution_script(&prev, step, &self.lab) else {
                continue;
            };
            if let Err(e) = self.run_script(&script, self.bound()).await {
                return self.stuck(
                    0,
                    format!("setting up from lesson {earlier}, step {}: {e}", step.id),
                );
            }
        }
        true
    }

    async fn play(mut self) {
        for earlier in prerequisites(self.lesson.id()) {
            if !self.set_up_from(earlier).await {
                self.finish().await;
                return;
            }
        }
        for i in 0..self.lesson.steps.len() {
            if !self.play_step(i).await {
                break;
            }
        }
        self.finish().await;
    }

    async fn finish(mut self) {
        for line in &self.report {
            tell(line);
        }
        self.checker.deactivate();
        self.session.stop();
        if let Some(s) = self.sandbox.take() {
            s.shutdown().await;
        }
    }
}

/// What [`runs_no_pods`] found, once for every test of this binary.
static NO_PODS: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();

/// A line for the person running the tests, shown even when the test
/// passes (the test harness captures `eprintln!`).
fn tell(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether this sandbox runs the pods of a Deployment (its controllers and
/// kubelet); the reason when it does not. Checked in a namespace of its own.
async fn runs_no_pods(client: &kube::Client) -> Option<String> {
    let ns = "kubetutor-probe";
    let nss: Api<Namespace> = Api::all(client.clone());
    let n: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    let _ = nss.create(&PostParams::default(), &n).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}
            }
        }
    }))
    .unwrap();
    if let Err(e) = deps.create(&PostParams::default(), &d).await {
        return Some(format!("the sandbox refused a Deployment: {e}"));
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await
                && list.items.iter().any(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .is_ok();
    let _ = deps.delete("probe", &DeleteParams::default()).await;
    (!ready).then(|| {
        "it runs no controllers yet (a Deployment got no ready pod): the steps that need running pods wait for the sandbox runtime".to_owned()
    })
}

/// The containers of the lesson's workloads (its asset directories and the
/// files its solutions write) that the sandbox does not emulate.
fn unemulated_containers(course: &Course, lesson: &Lesson) -> Option<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut all_md = lesson.intro.source.clone();
    for s in &lesson.steps {
        all_md.push_str(&s.body.source);
        if let Some(sol) = &s.solution {
            all_md.push_str(&sol.source);
            texts.extend(kubetutor::solution::runnable_blocks(&sol.source));
        }
    }
    let mut dirs: Vec<String> = Vec::new();
    for (i, _) in all_md.match_indices("assets/") {
        let rest = &all_md[i..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '`' || c == ')' || c == '\'')
            .unwrap_or(rest.len());
        // `assets/` alone names no lesson's files.
        if rest[..end].trim_end_matches('/').contains('/') {
            dirs.push(rest[..end].to_owned());
        }
    }
    for (path, bytes) in course.assets() {
        if (path.ends_with(".yaml") || path.ends_with(".yml"))
            && dirs.iter().any(|d| path.starts_with(d.as_str()))
        {
            texts.push(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    let mut missing = Vec::new();
    for text in texts {
        for doc in text.split("\n---") {
            let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(doc) else {
                continue;
            };
            for pointer in [
                "/spec/containers",
                "/spec/template/spec/containers",
                "/spec/jobTemplate/spec/template/spec/containers",
            ] {
                for c in v
                    .pointer(pointer)
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                {
                    let strings = |k: &str| -> Vec<String> {
                        c.get(k)
                            .and_then(|a| a.as_array())
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let image = c.get("image").and_then(|i| i.as_str()).unwrap_or("");
                    if !sandbox::emulates(image, &strings("command"), &strings("args")) {
                        let what = format!("{image} {:?}", strings("command"));
                        if !missing.contains(&what) {
                            missing.push(what);
                        }
                    }
                }
            }
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "the sandbox does not emulate these containers yet: {}",
            missing.join(", ")
        )
    })
}

/// Lessons that start where earlier ones leave the cluster.
fn prerequisites(lesson: &str) -> &'static [&'static str] {
    match lesson {
        // The backend and the Secret of lesson 6 stay for lesson 7...
        "database-on-persistent-volume" => &["database-without-volume"],
        // ...and lesson 8 cleans up what lesson 7 left running.
        "cleanup" => &["database-without-volume", "database-on-persistent-volume"],
        _ => &[],
    }
}

/// Plays the steps of `lesson` before `trap_step` (skipping `skip`), then
/// activates `trap_step`, runs `action` instead of the solution, and checks
/// the step does not pass while the trap window lasts.
async fn trap(
    lesson_id: &str,
    skip: &[&str],
    trap_step: &str,
    prepare: Option<&str>,
    action: &str,
) {
    trap_at(lesson_id, skip, trap_step, prepare, 2, action).await;
}

/// [`trap`], running `action` only once the checker waits on stage
/// `stage` of the step's sequence (the earlier stages observed), so that
/// the trap holds for its own reason, not for a missed first stage.
async fn trap_at(
    lesson_id: &str,
    skip: &[&str],
    trap_step: &str,
    prepare: Option<&str>,
    stage: u32,
    action: &str,
) {
    let Some(bin) = tools() else { return };
    let mut p = Player::start(lesson_id, &bin).await;
    for earlier in prerequisites(lesson_id) {
        if !p.set_up_from(earlier).await {
            p.finish().await;
            return;
        }
    }
    let index = p.lesson.step_index(trap_step).unwrap();
    for i in 0..index {
        let id = p.lesson.steps[i].id.clone();
        if skip.contains(&id.as_str()) {
            continue;
        }
        if !p.play_step(i).await {
            p.finish().await;
            return;
        }
    }
    let step = p.lesson.steps[index].clone();
    let before = p.activate(&step).await;
    assert!(
        before.iter().all(|u| u.state != StepState::Done),
        "{before:?}"
    );
    let lab = p.lab.display().to_string();
    let script = |cmds: &str| format!("set -eu\ncd '{lab}'\n{cmds}\n");
    if prepare.is_some() || stage > 2 {
        // As a learner would: the data is there, the checker has seen it.
        if let Some(prepare) = prepare
            && let Err(e) = p.run_script(&script(prepare), p.bound()).await
        {
            p.stuck(index, e);
            p.finish().await;
            return;
        }
        let bound = p.bound();
        let waiting = format!("step {stage} of");
        let at_stage =
            |u: &CheckUpdate| u.reason.as_deref().is_some_and(|r| r.starts_with(&waiting));
        // Earlier stages may have been observed while the step was activated.
        let seen = if prepare.is_none() && before.iter().any(at_stage) {
            Ok(())
        } else {
            p.wait_for(&step.id, bound, at_stage).await.map(|_| ())
        };
        if let Err(last) = seen {
            p.stuck(
                index,
                format!("the first stage was never observed: {last:?}"),
            );
            p.finish().await;
            return;
        }
    }
    if let Err(e) = p.run_script(&script(action), p.bound()).await {
        p.stuck(index, e);
        p.finish().await;
        return;
    }
    let passed = p
        .wait_for(&step.id, TRAP_WINDOW, |u| u.state == StepState::Done)
        .await;
    assert!(
        passed.is_err(),
        "lesson {lesson_id}: step {trap_step} passed although the learner did: {action}"
    );
    p.report.push(format!("trap held {lesson_id}/{trap_step}"));
    p.finish().await;
}

/// Shell lines that start `kubectl proxy` on a free port, set `$port` and
/// stop the proxy when the script exits.
macro_rules! start_proxy {
    () => {
        r#"out=$(mktemp)
kubectl proxy --port 0 >"$out" 2>&1 &
proxy=$!
trap 'kill "$proxy" 2>/dev/null || :' EXIT
port=
while [ -z "$port" ]; do
  sleep 0.2
  port=$(sed -n 's/^Starting to serve on .*:\([0-9][0-9]*\)$/\1/p' "$out")
done
"#
    };
}

/// The database path set, the messages posted, but no volume mounted.
const POST_WITHOUT_MOUNT: &str = concat!(
    r#"kubectl patch configmap msg-api-config --type merge -p '{"data":{"API_DB_FILEPATH":"/persist/db.json"}}'
kubectl rollout restart deployment/msg-api
kubectl rollout status deployment/msg-api
"#,
    start_proxy!(),
    r#"URL=http://localhost:$port/api/v1/namespaces/kubetutor/services/msg-api:80/proxy/messages
curl -sf -X POST -d '{"author": "ana", "text": "not on a volume"}' "$URL"
curl -sf -X POST -d '{"author": "bo", "text": "me neither"}' "$URL"
"#
);

/// Skipping the pod deletion: the data was never lost, so the data-loss
/// step must not pass (a rollout status and a read are not a deletion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_skipping_the_pod_deletion_never_passes_data_loss() {
    trap(
        "ephemeral-filesystem",
        &[],
        "delete-pod",
        None,
        "kubectl rollout status deployment/msg-api\nkubectl get pods -l app=msg-api",
    )
    .await;
}

/// The claim exists but is never mounted (the mount step skipped, the
/// database path set anyway): replacing the pod loses the messages, so the
/// persistence step must not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_a_claim_not_mounted_never_passes_persistence() {
    trap(
        "attach-persistent-volume",
        &["mount", "post-messages"],
        "delete-pod",
        Some(POST_WITHOUT_MOUNT),
        "kubectl delete pod -l app=msg-api\nkubectl rollout status deployment/msg-api",
    )
    .await;
}

async fn play(lesson_id: &str) {
    let Some(bin) = tools() else { return };
    Player::start(lesson_id, &bin).await.play().await;
}

/// The lessons played below: every lesson of the course.
const LESSONS: &[&str] = &[
    "ephemeral-filesystem",
    "emptydir-shared",
    "persistent-volume-claims",
    "attach-persistent-volume",
    "scaled-backend-own-data",
    "database-without-volume",
    "database-on-persistent-volume",
    "cleanup",
    "databases-on-kubernetes",
    "statefulset-database",
];

#[test]
fn every_lesson_is_played() {
    let c = course();
    for lang in Lang::ALL {
        let ids: Vec<&str> = c.lessons(lang).iter().map(|l| l.id()).collect();
        assert_eq!(
            ids, LESSONS,
            "add a playthrough for each new lesson ({lang})"
        );
    }
}

macro_rules! playthrough {
    ($name:ident, $id:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            play($id).await;
        }
    };
}

playthrough!(lesson_01_ephemeral_filesystem, "ephemeral-filesystem");
playthrough!(lesson_02_emptydir_shared, "emptydir-shared");
playthrough!(
    lesson_03_persistent_volume_claims,
    "persistent-volume-claims"
);
playthrough!(
    lesson_04_attach_persistent_volume,
    "attach-persistent-volume"
);
playthrough!(lesson_05_scaled_backend_own_data, "scaled-backend-own-data");
playthrough!(lesson_06_database_without_volume, "database-without-volume");
playthrough!(
    lesson_07_database_on_persistent_volume,
    "database-on-persistent-volume"
);
playthrough!(lesson_08_cleanup, "cleanup");
playthrough!(lesson_09_databases_on_kubernetes, "databases-on-kubernetes");
playthrough!(lesson_10_statefulset_database, "statefulset-database");

/// Lesson 7's database without its volume (lesson 6's manifest), with two
/// customers in it.
const DB_WITHOUT_VOLUME: &str = concat!(
    r#"kubectl apply -f assets/06-database/customer-db.yaml
kubectl rollout status deployment/customer-db
kubectl rollout restart deployment/customer-backend
kubectl rollout status deployment/customer-backend
kubectl delete job customer-db-init --ignore-not-found
kubectl apply -f assets/06-database/init-job.yaml
kubectl wait --for=condition=complete job/customer-db-init --timeout=120s
"#,
    start_proxy!(),
    r#"URL=http://localhost:$port/api/v1/namespaces/kubetutor/services/customer-backend:80/proxy/customer
curl -s -i -X POST -H 'Content-Type: application/json' -d '{"name": "not on a volume"}' "$URL" | tee /dev/stderr | grep -q "201 Created" || { kubectl get pods -o wide; kubectl logs deploy/customer-backend; kubectl logs job/customer-db-init; kubectl logs deploy/customer-db | tail -20; exit 1; }
curl -sf -X POST -H 'Content-Type: application/json' -d '{"name": "me neither"}' "$URL"
"#
);

/// A database whose data directory is not on the claim loses its rows with
/// its pod: lesson 7's persistence step must not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_a_database_without_its_volume_never_passes_persistence() {
    trap(
        "database-on-persistent-volume",
        &["deploy-db", "insert"],
        "delete-db-pod",
        Some(DB_WITHOUT_VOLUME),
        "kubectl delete pod -l app=customer,tier=db\nkubectl rollout status deployment/customer-db\nsleep 5",
    )
    .await;
}

/// Reading the second replica before anything was written through the
/// first proves nothing: lesson 10's own-data step must not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_reading_db_1_before_writing_through_db_0_never_passes() {
    trap(
        "statefulset-database",
        &[],
        "own-data",
        None,
        "kubectl exec customer-db-1 -- psql -U postgres -d customer -c 'SELECT id, name FROM customer'\n\
         kubectl exec customer-db-0 -- psql -U postgres -d customer -c 'SELECT id, name FROM customer'",
    )
    .await;
}

/// Deleting the claim with the pod loses the data: the replacement
/// customer-db-0 gets a new, empty volume, so lesson 10's "data survived"
/// step must not pass. Run once the checker has seen the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_deleting_the_claim_never_passes_data_survived() {
    trap_at(
        "statefulset-database",
        &[],
        "delete-pod",
        None,
        3,
        // The claim goes as soon as its pod is gone, and a new one of the
        // same name comes at once: wait for the new pod, not for the claim.
        "kubectl delete pvc data-customer-db-0 --wait=false\n\
         kubectl delete pod customer-db-0\n\
         until kubectl wait --for=condition=ready pod/customer-db-0 --timeout=180s; do sleep 1; done",
    )
    .await;
}
