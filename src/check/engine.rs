//! The checker engine: follows the active step, re-evaluates it on every
//! cluster change, asks for the logs and probes its conditions need, and
//! reports a [`CheckUpdate`] whenever the verdict, reason or hint changes.
//!
//! [`Engine`] is synchronous and does no I/O (tests drive it with their own
//! clock and canned answers). [`spawn_checker`] runs it in a task with an
//! [`Io`] implementation ([`KubeIo`] for a real API server).

use crate::check::eval::{
    self, Ctx, Fetched, IoCache, IoKey, LogKey, Matched, Response, Verdict, eval_condition,
    eval_probe,
};
use crate::check::spec::{
    CheckSpec, Condition, Goal, HttpProbe, Kind, ResourceCheck, Stage, StageKind,
};
use crate::check::words::{self, Words, fill};
use crate::cluster::printers;
use crate::cluster::session::{Session, SharedClient, current_client};
use crate::cluster::state::{Change, ClusterState, ClusterUpdate, ObjKey, Object};
use crate::progress::StepState;
use crate::text::Lang;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Logs and probes are fetched again at most this often.
pub const REFRESH: Duration = Duration::from_secs(1);
/// After a relevant watch event a fetch is repeated at once, but never
/// sooner than this after the previous one (a rollout is a burst of events).
pub const MIN_GAP: Duration = Duration::from_millis(250);

/// A checker verdict for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    pub lesson: String,
    pub step: String,
    pub state: StepState,
    /// Active: what is still missing; Failing: what is wrong (one line).
    pub reason: Option<String>,
    /// A live hint whose condition holds now.
    pub hint: Option<String>,
}

/// What the engine wants after an event: maybe a new verdict, and fetches
/// to start (answer each with [`Engine::on_io`]).
#[derive(Debug, Default)]
pub struct Output {
    pub update: Option<CheckUpdate>,
    pub requests: Vec<IoKey>,
}

#[derive(Debug, Clone)]
struct Sequence {
    stage: usize,
    bindings: BTreeMap<String, Matched>,
    stage_started: Instant,
    /// Pod uids that existed when the current stage started: a replacement
    /// must be none of them...
    uids_at_stage_start: BTreeSet<String>,
    /// ...or created after the bound pod began to be deleted.
    deletion_began: Option<jiff::Timestamp>,
    /// The current stage's condition has been seen false since the stage
    /// started (a `holds` stage after the first must *happen*, not merely
    /// be already true).
    seen_false: bool,
}

#[derive(Debug, Clone)]
struct Active {
    lesson: String,
    step: String,
    spec: CheckSpec,
    activated_at: Instant,
    done: bool,
    seq: Option<Sequence>,
    /// Quiz: the verdict on the last answer.
    quiz: Option<(bool, String)>,
    last_sent: Option<(StepState, Option<String>, Option<String>)>,
    /// What the last evaluation needed fetched.
    needs: BTreeSet<IoKey>,
    /// The kinds the check reads: it is not evaluated before the watchers
    /// of every one of them delivered their first full list (an empty
    /// snapshot would make `absent` and `count` hold by accident).
    kinds: Vec<Kind>,
    /// Whether those lists had all arrived at the last evaluation.
    synced: bool,
}

/// The checker of the active step.
#[derive(Debug, Default)]
pub struct Engine {
    active: Option<Active>,
    io: IoCache,
    /// Fetches under way and when each was asked for.
    inflight: HashMap<IoKey, Instant>,
    /// A watch event that may change a probe's or log's answer arrived
    /// since the last fetch: fetch again without waiting for `REFRESH`.
    dirty: bool,
    /// What the engine says, in the course language.
    words: Option<&'static Words>,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Say things in `lang` from now on (English by default).
    pub fn set_lang(&mut self, lang: Lang) {
        self.words = Some(words::words(lang));
    }

    fn words(&self) -> &'static Words {
        self.words.unwrap_or(&words::EN)
    }

    /// The step being checked, as (lesson, step).
    pub fn active_step(&self) -> Option<(&str, &str)> {
        self.active
            .as_ref()
            .map(|a| (a.lesson.as_str(), a.step.as_str()))
    }

    /// Start checking a step. Everything observed before now is forgotten:
    /// sequences start from their first stage and old probe answers do not
    /// count. Activating the step that is already active changes nothing
    /// (its progress is kept) and repeats its last verdict. Do not activate
    /// a step that is already done.
    pub fn activate(
        &mut self,
        lesson: &str,
        step: &str,
        spec: CheckSpec,
        state: &ClusterState,
        now: Instant,
    ) -> Output {
        if let Some(a) = self.active.as_mut()
            && a.lesson == lesson
            && a.step == step
            && a.spec == spec
        {
            let update = a
                .last_sent
                .clone()
                .map(|(state, reason, hint)| CheckUpdate {
                    lesson: a.lesson.clone(),
                    step: a.step.clone(),
                    state,
                    reason,
                    hint,
                });
            return Output {
                update,
                requests: Vec::new(),
            };
        }
        let seq = matches!(spec.goal, Goal::Sequence(_)).then(|| Sequence {
            stage: 0,
            bindings: BTreeMap::new(),
            stage_started: now,
            uids_at_stage_start: pod_uids(state),
            deletion_began: None,
            seen_false: false,
        });
        let kinds = kinds_read(&spec);
        self.active = Some(Active {
            lesson: lesson.to_string(),
            step: step.to_string(),
            spec,
            activated_at: now,
            done: false,
            seq,
            quiz: None,
            last_sent: None,
            needs: BTreeSet::new(),
            kinds,
            synced: false,
        });
        self.io.clear();
        self.dirty = false;
        self.evaluate(state, now)
    }

    /// Stop checking (no step is active).
    pub fn deactivate(&mut self) {
        self.active = None;
        self.io.clear();
    }

    /// After the state applied an update (pass what `apply` returned).
    pub fn on_cluster(&mut self, state: &ClusterState, change: &Change, now: Instant) -> Output {
        match change {
            Change::Nothing => return Output::default(),
            Change::Object { kind, .. } | Change::Resync(kind)
                if matches!(kind, Kind::Pod | Kind::Service) =>
            {
                self.dirty = true;
            }
            Change::Connection => self.dirty = true,
            _ => {}
        }
        self.evaluate(state, now)
    }

    /// A fetch finished.
    pub fn on_io(
        &mut self,
        key: IoKey,
        result: Result<Response, String>,
        state: &ClusterState,
        now: Instant,
    ) -> Output {
        let Some(issued_at) = self.inflight.remove(&key) else {
            return Output::default();
        };
        self.io.insert(key, Fetched { issued_at, result });
        self.evaluate(state, now)
    }

    /// The clock: call at [`Engine::next_wakeup`].
    pub fn on_tick(&mut self, state: &ClusterState, now: Instant) -> Output {
        self.evaluate(state, now)
    }

    /// The objects the active step is about (what its conditions name, what
    /// its sequence bound), for the pane to highlight.
    pub fn highlighted(&self, state: &ClusterState) -> HashSet<(Kind, ObjKey)> {
        let mut out = HashSet::new();
        let Some(a) = self.active.as_ref() else {
            return out;
        };
        let mut conds: Vec<&Condition> = Vec::new();
        let mut probes: Vec<&HttpProbe> = Vec::new();
        match &a.spec.goal {
            Goal::Condition(c) => conds.push(c),
            Goal::Sequence(stages) => {
                for s in stages {
                    match &s.kind {
                        StageKind::ProbeSees(p) => probes.push(p),
                        StageKind::Holds(c) => conds.push(c),
                        _ => {}
                    }
                }
            }
            Goal::Quiz(_) => {}
        }
        while let Some(c) = conds.pop() {
            match c {
                Condition::Resource(r) => {
                    for o in eval::candidates(r, state) {
                        out.insert((o.kind(), ObjKey::of(o.meta())));
                    }
                }
                Condition::Http(p) => probes.push(p),
                Condition::All(cs) | Condition::Any(cs) => conds.extend(cs.iter()),
                Condition::Not(c) => conds.push(c),
            }
        }
        for p in probes {
            let ns = p
                .namespace
                .clone()
                .unwrap_or_else(|| state.namespace.clone());
            // The pods that may answer: behind the service, or by selector.
            let mut selector = None;
            if let Some(s) = &p.service {
                out.insert((
                    Kind::Service,
                    ObjKey {
                        namespace: ns.clone(),
                        name: s.clone(),
                    },
                ));
                if let Some(Object::Service(svc)) = state.get(Kind::Service, &ns, s) {
                    selector = svc.spec.as_ref().and_then(|s| s.selector.clone());
                }
            }
            if let Some(r) = &p.pod {
                if let Some(name) = &r.name {
                    out.insert((
                        Kind::Pod,
                        ObjKey {
                            namespace: ns.clone(),
                            name: name.clone(),
                        },
                    ));
                }
                selector = selector.or_else(|| r.selector.clone());
            }
            if let Some(sel) = selector.filter(|s| !s.is_empty()) {
                for pod in eval::ready_pods(state, &ns, &sel) {
                    out.insert((Kind::Pod, ObjKey::of(&pod.metadata)));
                }
            }
        }
        if let Some(seq) = &a.seq {
            for m in seq.bindings.values() {
                out.insert((m.kind, m.key.clone()));
            }
        }
        out
    }

    /// When the engine next wants [`Engine::on_tick`]: a fetch the active
    /// step needs is due. `None` when nothing is polled (no probe or log
    /// step active, or the step is done).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let a = self.active.as_ref()?;
        if a.done {
            return None;
        }
        let gap = if self.dirty { MIN_GAP } else { REFRESH };
        a.needs
            .iter()
            .filter(|k| !self.inflight.contains_key(*k))
            .filter_map(|k| self.io.get(k).map(|f| f.issued_at + gap))
            .min()
    }

    /// The learner's answer to the active step's quiz (0-based choices).
    pub fn answer(
        &mut self,
        step: &str,
        choices: &[usize],
        state: &ClusterState,
        now: Instant,
    ) -> Output {
        let Some(a) = self.active.as_mut() else {
            return Output::default();
        };
        if a.step != step || a.done {
            return Output::default();
        }
        let Goal::Quiz(q) = &a.spec.goal else {
            return Output::default();
        };
        let mut picked: Vec<usize> = choices.to_vec();
        picked.sort_unstable();
        picked.dedup();
        let right = picked == q.answers;
        let w = self.words.unwrap_or(&words::EN);
        let why = if right {
            q.explain.clone().unwrap_or_default()
        } else if q.answers.len() > 1 {
            fill(w.quiz_wrong_many, &[&q.answers.len()])
        } else {
            w.quiz_wrong.to_string()
        };
        a.quiz = Some((right, why));
        self.evaluate(state, now)
    }

    fn evaluate(&mut self, state: &ClusterState, now: Instant) -> Output {
        let w = self.words();
        let Some(a) = self.active.as_mut() else {
            return Output::default();
        };
        if a.done {
            return Output::default();
        }
        // Nothing is judged on a partial snapshot: wait for the first list
        // of every kind the check reads.
        let unsynced: Vec<&'static str> = a
            .kinds
            .iter()
            .filter(|k| !state.is_synced(**k))
            .map(|k| k.plural())
            .collect();
        if !unsynced.is_empty() {
            a.synced = false;
            let verdict = (
                StepState::Active,
                Some(fill(w.reading, &[&unsynced.join(", ")])),
                None,
            );
            let update = (a.last_sent.as_ref() != Some(&verdict)).then(|| {
                a.last_sent = Some(verdict.clone());
                CheckUpdate {
                    lesson: a.lesson.clone(),
                    step: a.step.clone(),
                    state: verdict.0,
                    reason: verdict.1,
                    hint: verdict.2,
                }
            });
            return Output {
                update,
                requests: Vec::new(),
            };
        }
        if !a.synced {
            // The story starts now that the state is known: pods that
            // existed all along are not "new", old answers do not count.
            a.synced = true;
            a.activated_at = now;
            if let Some(seq) = a.seq.as_mut()
                && seq.stage == 0
            {
                seq.stage_started = now;
                seq.uids_at_stage_start = pod_uids(state);
            }
        }
        let mut needs = BTreeSet::new();
        let (done, failing, reason) = match &a.spec.goal {
            Goal::Condition(c) => {
                let empty = BTreeMap::new();
                let mut ctx = Ctx::new(state, &self.io, &empty, a.activated_at).with_words(w);
                let v = eval_condition(c, &mut ctx);
                let out = if v.holds {
                    (true, false, None)
                } else {
                    let trouble = trouble_in_condition(c, &mut ctx);
                    match trouble {
                        Some(t) => (false, true, Some(t)),
                        None => (false, false, Some(v.detail)),
                    }
                };
                needs.extend(ctx.needs);
                out
            }
            Goal::Sequence(stages) => {
                let seq = a.seq.get_or_insert_with(|| Sequence {
                    stage: 0,
                    bindings: BTreeMap::new(),
                    stage_started: a.activated_at,
                    uids_at_stage_start: BTreeSet::new(),
                    deletion_began: None,
                    seen_false: false,
                });
                let out = run_sequence(stages, seq, state, &self.io, now, &mut needs, w);
                (out.0, out.1, out.2)
            }
            Goal::Quiz(_) => match &a.quiz {
                Some((true, _)) => (true, false, None),
                Some((false, why)) => (false, true, Some(why.clone())),
                None => (false, false, None),
            },
        };
        let hint = if done {
            None
        } else {
            let bindings = a
                .seq
                .as_ref()
                .map(|s| s.bindings.clone())
                .unwrap_or_default();
            let mut ctx = Ctx::new(state, &self.io, &bindings, a.activated_at).with_words(w);
            let mut hint = None;
            for h in &a.spec.hints {
                if eval_condition(&h.when, &mut ctx).holds {
                    hint = Some(h.say.trim().to_string());
                    break;
                }
            }
            needs.extend(ctx.needs);
            hint
        };
        let step_state = if done {
            a.done = true;
            StepState::Done
        } else if failing {
            StepState::Failing
        } else {
            StepState::Active
        };
        let fresh_after = a.seq.as_ref().map_or(a.activated_at, |s| s.stage_started);
        let requests = if done {
            self.dirty = false;
            Vec::new()
        } else {
            due_fetches(
                &needs,
                &self.io,
                &mut self.inflight,
                &mut self.dirty,
                fresh_after,
                now,
            )
        };
        a.needs = if done { BTreeSet::new() } else { needs };
        let reason = reason.map(|r| one_line(&r));
        let verdict = (step_state, reason, hint);
        let update = if a.last_sent.as_ref() != Some(&verdict) {
            a.last_sent = Some(verdict.clone());
            Some(CheckUpdate {
                lesson: a.lesson.clone(),
                step: a.step.clone(),
                state: verdict.0,
                reason: verdict.1,
                hint: verdict.2,
            })
        } else {
            None
        };
        Output { update, requests }
    }
}

/// Which of the fetches a check needs to start now: new ones, answers older
/// than `fresh_after` (the current stage), stale ones (REFRESH), and after a
/// relevant event (`dirty`) all of them, but not twice within MIN_GAP. A
/// fetch under way when the event came is asked again once it is back
/// (`dirty` stays set for it).
fn due_fetches(
    needs: &BTreeSet<IoKey>,
    io: &IoCache,
    inflight: &mut HashMap<IoKey, Instant>,
    dirty: &mut bool,
    fresh_after: Instant,
    now: Instant,
) -> Vec<IoKey> {
    let mut requests = Vec::new();
    let mut deferred = false;
    for k in needs {
        if inflight.contains_key(k) {
            deferred |= *dirty;
            continue;
        }
        let due = match io.get(k) {
            None => true,
            Some(f) => {
                let since = now.saturating_duration_since(f.issued_at);
                let by_event = *dirty && since >= MIN_GAP;
                deferred |= *dirty && !by_event;
                f.issued_at < fresh_after || by_event || since >= REFRESH
            }
        };
        if due {
            inflight.insert(k.clone(), now);
            requests.push(k.clone());
        }
    }
    *dirty = deferred;
    requests
}

/// Every kind of object a check (its goal and its live hints) reads, so
/// that it is evaluated only once all of them have been listed.
fn kinds_read(spec: &CheckSpec) -> Vec<Kind> {
    fn add(out: &mut Vec<Kind>, k: Kind) {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    fn probe(p: &HttpProbe, out: &mut Vec<Kind>) {
        add(out, Kind::Pod);
        if p.service.is_some() {
            add(out, Kind::Service);
        }
    }
    fn cond(c: &Condition, out: &mut Vec<Kind>) {
        match c {
            Condition::Resource(r) => {
                let k = r.kind.value;
                add(out, k);
                if matches!(
                    k,
                    Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::StatefulSet
                ) {
                    // Why a workload is not ready is read from its pods.
                    add(out, Kind::Pod);
                }
                if r.bound.is_some() {
                    add(out, Kind::PersistentVolume);
                    add(out, Kind::StorageClass);
                }
                if let Some(e) = &r.env {
                    if e.config_map.is_some() {
                        add(out, Kind::ConfigMap);
                    }
                    if e.secret.is_some() {
                        add(out, Kind::Secret);
                    }
                }
                if r.event.is_some() {
                    add(out, Kind::Event);
                }
            }
            Condition::Http(p) => probe(p, out),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| cond(c, out)),
            Condition::Not(c) => cond(c, out),
        }
    }
    let mut out = Vec::new();
    match &spec.goal {
        Goal::Condition(c) => cond(c, &mut out),
        Goal::Sequence(stages) => {
            for s in stages {
                match &s.kind {
                    StageKind::ProbeSees(p) => probe(p, &mut out),
                    StageKind::Holds(c) => cond(c, &mut out),
                    StageKind::ResourceDeleted(_) => add(&mut out, Kind::Pod),
                    StageKind::ReplacementReady { .. } => {
                        add(&mut out, Kind::Pod);
                        add(&mut out, Kind::ReplicaSet);
                    }
                }
            }
        }
        Goal::Quiz(_) => {}
    }
    for h in &spec.hints {
        cond(&h.when, &mut out);
    }
    out
}

/// Trim a reason to one short line.
fn one_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > 160 {
        let mut t: String = line.chars().take(159).collect();
        t.push('…');
        t
    } else {
        line.to_string()
    }
}

fn pod_uids(state: &ClusterState) -> BTreeSet<String> {
    state
        .pods()
        .filter_map(|p| p.metadata.uid.clone())
        .collect()
}

/// Controller uids above a pod: its ReplicaSet (or Job, StatefulSet...)
/// and, when the state knows the ReplicaSet, its Deployment.
fn owner_chain(state: &ClusterState, pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    let Some(owner) = pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
    else {
        return out;
    };
    out.push(owner.uid.clone());
    if owner.kind == "ReplicaSet"
        && let Some(Object::ReplicaSet(rs)) = state.get(
            Kind::ReplicaSet,
            pod.metadata.namespace.as_deref().unwrap_or(""),
            &owner.name,
        )
        && let Some(dep) = rs
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
    {
        out.push(dep.uid.clone());
    }
    out
}

/// When deletion of an object began: `deletionTimestamp` minus its grace
/// period (the API server sets the timestamp to the end of the grace).
fn deletion_began(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<jiff::Timestamp> {
    let ts = meta.deletion_timestamp.as_ref()?.0;
    let grace = meta.deletion_grace_period_seconds.unwrap_or(0);
    ts.checked_sub(jiff::SignedDuration::from_secs(grace)).ok()
}

/// Advance a sequence as far as the state allows. Returns (done, failing,
/// reason).
fn run_sequence(
    stages: &[Stage],
    seq: &mut Sequence,
    state: &ClusterState,
    io: &IoCache,
    now: Instant,
    needs: &mut BTreeSet<IoKey>,
    w: &'static Words,
) -> (bool, bool, Option<String>) {
    let n = stages.len();
    while seq.stage < n {
        let stage = &stages[seq.stage];
        let mut ctx = Ctx::new(state, io, &seq.bindings, seq.stage_started).with_words(w);
        let mut result = eval_stage(stage, seq, &mut ctx);
        if seq.stage > 0 && matches!(stage.kind, StageKind::Holds(_)) {
            if !result.holds {
                seq.seen_false = true;
            } else if !seq.seen_false {
                // Already true when the previous stage completed: that is
                // not the story happening. Wait until it turns true again.
                result = no(fill(w.must_happen, &[&seq.stage, &result.detail]));
            }
        }
        let trouble = if result.holds {
            None
        } else {
            trouble_in_stage(stage, seq, &mut ctx)
        };
        needs.extend(std::mem::take(&mut ctx.needs));
        if !result.holds {
            let prefix = fill(w.stage_prefix, &[&(seq.stage + 1), &n]);
            return match trouble {
                Some(t) => (false, true, Some(t)),
                None => (false, false, Some(prefix + &result.detail)),
            };
        }
        // The stage is observed: remember what it saw, start the next one.
        if let StageKind::ResourceDeleted(name) = &stage.kind {
            seq.deletion_began = seq
                .bindings
                .get(name)
                .and_then(|m| deleted_meta(state, m).and_then(|meta| deletion_began(&meta)))
                .or_else(|| Some(jiff::Timestamp::now()));
        }
        if let Some(b) = &stage.bind
            && let Some(mut m) = result.matched.into_iter().next()
        {
            if m.kind == Kind::Pod
                && let Some(p) = state.pod(&m.key.namespace, &m.key.name)
            {
                m.owners = owner_chain(state, p);
            }
            seq.bindings.insert(b.clone(), m);
        }
        seq.stage += 1;
        seq.seen_false = false;
        seq.stage_started = now;
        seq.uids_at_stage_start = pod_uids(state);
    }
    (true, false, None)
}

/// The last known metadata of a bound object being (or already) deleted.
fn deleted_meta(
    state: &ClusterState,
    m: &Matched,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> {
    if let Some(o) = state.get(m.kind, &m.key.namespace, &m.key.name)
        && o.meta().uid == m.uid
    {
        return Some(o.meta().clone());
    }
    state
        .tombstone_of(m.kind, &m.key)
        .filter(|t| t.uid == m.uid)
        .map(|t| t.last.meta().clone())
}

fn kind_word(kind: Kind) -> String {
    kind.to_string().to_lowercase()
}

fn eval_stage(stage: &Stage, seq: &Sequence, ctx: &mut Ctx) -> Verdict {
    let w = ctx.words;
    match &stage.kind {
        StageKind::ProbeSees(p) => eval_probe(p, ctx),
        StageKind::Holds(c) => eval_condition(c, ctx),
        StageKind::ResourceDeleted(name) => {
            let Some(m) = seq.bindings.get(name) else {
                return no(fill(w.not_bound, &[name]));
            };
            if let Some(reason) = service_binding(name, m, w) {
                return no(reason);
            }
            match ctx.state.get(m.kind, &m.key.namespace, &m.key.name) {
                Some(o) if o.meta().uid == m.uid && o.meta().deletion_timestamp.is_none() => no(
                    fill(w.waiting_delete, &[&kind_word(m.kind), &m.key.name, name]),
                ),
                _ => Verdict {
                    holds: true,
                    detail: w.say("{0} {1} was deleted", &[&kind_word(m.kind), &m.key.name]),
                    matched: Vec::new(),
                },
            }
        }
        StageKind::ReplacementReady { same_owner_as } => {
            let Some(m) = seq.bindings.get(same_owner_as) else {
                return no(fill(w.not_bound, &[same_owner_as]));
            };
            if let Some(reason) = service_binding(same_owner_as, m, w) {
                return no(reason);
            }
            if m.owners.is_empty() {
                return no(fill(w.no_owner, &[&m.key.name, same_owner_as]));
            }
            let replacements = replacements(ctx.state, m, seq);
            if let Some(p) = replacements.iter().find(|p| printers::pod_is_ready(p)) {
                let mut found = eval::Matched {
                    kind: Kind::Pod,
                    key: ObjKey::of(&p.metadata),
                    uid: p.metadata.uid.clone(),
                    probe_json: None,
                    owners: Vec::new(),
                };
                found.owners = owner_chain(ctx.state, p);
                return Verdict {
                    holds: true,
                    detail: w.say("pod {0} replaced {1}", &[&found.key.name, &m.key.name]),
                    matched: vec![found],
                };
            }
            match replacements.first() {
                Some(p) => {
                    let (status, ready, total, _, _) = printers::pod_status(p);
                    no(fill(
                        w.replacement_is,
                        &[
                            &p.metadata.name.as_deref().unwrap_or("?"),
                            &status,
                            &ready,
                            &total,
                        ],
                    ))
                }
                None => no(fill(w.waiting_replacement, &[&m.key.name, same_owner_as])),
            }
        }
    }
}

fn no(detail: String) -> Verdict {
    Verdict {
        holds: false,
        detail,
        matched: Vec::new(),
    }
}

/// A binding made by a probe through a service with several pods cannot be
/// followed pod by pod.
fn service_binding(name: &str, m: &Matched, w: &Words) -> Option<String> {
    (m.kind == Kind::Service).then(|| fill(w.service_binding, &[&name, &m.key.name]))
}

/// Pods that could be replacements of the bound pod: same controller (or
/// same Deployment), another uid, not being deleted, and new (absent when
/// the stage started, or created after the bound pod's deletion began).
fn replacements<'s>(state: &'s ClusterState, m: &Matched, seq: &Sequence) -> Vec<&'s Pod> {
    state
        .pods()
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(m.key.namespace.as_str())
                && p.metadata.uid != m.uid
                && p.metadata.deletion_timestamp.is_none()
        })
        .filter(|p| {
            let chain = owner_chain(state, p);
            chain.iter().any(|u| m.owners.contains(u))
        })
        .filter(|p| {
            let uid = p.metadata.uid.clone().unwrap_or_default();
            let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            !seq.uids_at_stage_start.contains(&uid)
                || matches!((created, seq.deletion_began), (Some(c), Some(d)) if c >= d)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Trouble: why a step is failing rather than merely not done yet
// ---------------------------------------------------------------------------

fn trouble_in_stage(stage: &Stage, seq: &Sequence, ctx: &mut Ctx) -> Option<String> {
    match &stage.kind {
        StageKind::ProbeSees(p) => trouble_in_probe(p, ctx),
        StageKind::Holds(c) => trouble_in_condition(c, ctx),
        StageKind::ResourceDeleted(_) => None,
        StageKind::ReplacementReady { same_owner_as } => {
            let m = seq.bindings.get(same_owner_as)?;
            let pods = replacements(ctx.state, m, seq);
            pods.into_iter().find_map(|p| pod_trouble(p, ctx))
        }
    }
}

/// A pod, PVC or workload the condition is about is in a state a learner
/// must fix (crash loop, missing ConfigMap, unschedulable, failing
/// provisioning): say what and why, in one line.
fn trouble_in_condition(c: &Condition, ctx: &mut Ctx) -> Option<String> {
    match c {
        Condition::Resource(r) => trouble_in_resource(r, ctx),
        Condition::Http(p) => trouble_in_probe(p, ctx),
        Condition::All(cs) | Condition::Any(cs) => {
            cs.iter().find_map(|c| trouble_in_condition(c, ctx))
        }
        // What `not` is about is expected to be absent or wrong.
        Condition::Not(_) => None,
    }
}

fn trouble_in_resource(r: &ResourceCheck, ctx: &mut Ctx) -> Option<String> {
    // A check that asks for a container state, an unready pod or an
    // absence expects what would otherwise look like trouble.
    if r.absent || r.container.is_some() || r.ready == Some(false) {
        return None;
    }
    // The snapshot outlives the borrow of `ctx`: no need to copy objects.
    let state = ctx.state;
    for o in eval::candidates(r, state) {
        let found = match o {
            Object::Pod(p) => pod_trouble(p, ctx),
            Object::Deployment(_)
            | Object::ReplicaSet(_)
            | Object::Job(_)
            | Object::StatefulSet(_) => {
                let sel = workload_selector(o);
                let pods: Vec<&Pod> = state
                    .pods()
                    .filter(|p| {
                        p.metadata.namespace == o.meta().namespace
                            && sel.as_ref().is_some_and(|s| {
                                !s.is_empty()
                                    && s.iter().all(|(k, v)| {
                                        p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v)
                                    })
                            })
                    })
                    .collect();
                pods.into_iter().find_map(|p| pod_trouble(p, ctx))
            }
            Object::PersistentVolumeClaim(pvc) => {
                let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
                if phase == Some("Bound") {
                    None
                } else {
                    state
                        .events_for(Kind::PersistentVolumeClaim, &pvc.metadata)
                        .into_iter()
                        .rev()
                        .find(|e| e.type_.as_deref() == Some("Warning"))
                        .map(|e| {
                            fill(
                                ctx.words.pvc_is,
                                &[
                                    &pvc.metadata.name.as_deref().unwrap_or("?"),
                                    &phase.unwrap_or("Pending"),
                                    &e.message.as_deref().unwrap_or(""),
                                ],
                            )
                        })
                }
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn workload_selector(o: &Object) -> Option<BTreeMap<String, String>> {
    match o {
        Object::Deployment(d) => d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone()),
        Object::ReplicaSet(r) => r
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone()),
        Object::Job(j) => j
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.match_labels.clone()),
        Object::StatefulSet(s) => s
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone()),
        _ => None,
    }
}

fn trouble_in_probe(p: &HttpProbe, ctx: &mut Ctx) -> Option<String> {
    let state = ctx.state;
    let ns = p
        .namespace
        .clone()
        .unwrap_or_else(|| ctx.state.namespace.clone());
    let selector: Option<BTreeMap<String, String>> = if let Some(s) = &p.service {
        match ctx.state.get(Kind::Service, &ns, s) {
            Some(Object::Service(svc)) => svc.spec.as_ref().and_then(|s| s.selector.clone()),
            _ => None,
        }
    } else if let Some(pr) = &p.pod {
        if let Some(name) = &pr.name {
            return state.pod(&ns, name).and_then(|p| pod_trouble(p, ctx));
        }
        if let Some(r) = &pr.reference {
            let m = ctx.bindings.get(&r.value)?;
            return state
                .pod(&m.key.namespace, &m.key.name)
                .filter(|p| p.metadata.uid == m.uid)
                .and_then(|p| pod_trouble(p, ctx));
        }
        pr.selector.clone()
    } else {
        None
    };
    let sel = selector.filter(|s| !s.is_empty())?;
    let pods: Vec<&Pod> = state
        .pods()
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns.as_str())
                && sel
                    .iter()
                    .all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
        })
        .collect();
    pods.into_iter().find_map(|p| pod_trouble(p, ctx))
}

/// "pod msg-api-7d9 is CrashLoopBackOff: <last log line>", or None when the
/// pod is fine (or merely starting).
fn pod_trouble(p: &Pod, ctx: &mut Ctx) -> Option<String> {
    if p.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let w = ctx.words;
    let name = p.metadata.name.clone().unwrap_or_default();
    let (status, _, _, _, _) = printers::pod_status(p);
    let st = p.status.as_ref();
    if !printers::is_unhealthy_status(&status) {
        // Unschedulable is not a container problem but blocks the step.
        let unsched = st
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter().find(|c| {
                    c.type_ == "PodScheduled"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                })
            })
            .map(|c| c.message.clone().unwrap_or_default());
        return unsched.map(|m| fill(w.unschedulable, &[&name, &m]));
    }
    // The container that is in trouble, and why.
    let statuses = st
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let bad = statuses.iter().find(|cs| {
        let s = cs.state.as_ref();
        s.and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .is_some_and(|r| r != "ContainerCreating" && r != "PodInitializing")
            || s.and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0)
    });
    let Some(cs) = bad else {
        return Some(fill(w.pod_is, &[&name, &status]));
    };
    let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
    let message = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
    let crashed = matches!(
        waiting.and_then(|w| w.reason.as_deref()),
        Some("CrashLoopBackOff")
    ) || cs.state.as_ref().is_some_and(|s| s.terminated.is_some());
    if !crashed {
        // Image pulls, missing ConfigMaps...: the kubelet's message says it.
        return Some(if message.is_empty() {
            fill(w.pod_is, &[&name, &status])
        } else {
            fill(w.pod_is_why, &[&name, &status, &message])
        });
    }
    // A crash: the last line the program printed says why.
    let previous = cs.state.as_ref().is_some_and(|s| s.waiting.is_some()) && cs.restart_count > 0;
    let key = IoKey::Logs(LogKey {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        pod: name.clone(),
        uid: p.metadata.uid.clone().unwrap_or_default(),
        container: cs.name.clone(),
        previous,
    });
    let last_line = match ctx.fetch(key) {
        Some(Fetched { result: Ok(r), .. }) => r
            .body
            .lines()
            .map(str::trim)
            .rev()
            .find(|l| !l.is_empty())
            .map(str::to_string),
        _ => None,
    };
    Some(match last_line {
        Some(l) => fill(w.pod_is_why, &[&name, &status, &l]),
        None => fill(w.pod_is, &[&name, &status]),
    })
}

// ---------------------------------------------------------------------------
// The engine task
// ---------------------------------------------------------------------------

/// Fetches logs and probes for the engine. [`KubeIo`] asks the API server;
/// tests answer from a table.
pub trait Io: Send + Sync + 'static {
    fn fetch(&self, key: IoKey) -> BoxFuture<'static, Result<Response, String>>;
}

/// Fetches through a kube client: pod logs (up to 4 MiB) and requests
/// through the API server's service/pod proxy.
#[derive(Clone)]
pub struct KubeIo {
    client: SharedClient,
}

impl KubeIo {
    /// The checker's I/O over a session's cluster (it follows the session
    /// when the session moves to a changed kubeconfig).
    pub fn of(session: &Session) -> Arc<dyn Io> {
        Arc::new(KubeIo::shared(session.shared_client()))
    }

    pub fn new(client: kube::Client) -> KubeIo {
        KubeIo {
            client: Arc::new(std::sync::RwLock::new(client)),
        }
    }

    /// Fetch with whatever client `cell` holds at the time.
    pub fn shared(cell: SharedClient) -> KubeIo {
        KubeIo { client: cell }
    }
}

/// How long one log read or probe may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(eval::FETCH_TIMEOUT_SECS);
/// The most of a response body kept.
const MAX_BODY: usize = 1 << 20;
/// The most of a log read.
const MAX_LOG: i64 = 4 << 20;

impl Io for KubeIo {
    fn fetch(&self, key: IoKey) -> BoxFuture<'static, Result<Response, String>> {
        let client = current_client(&self.client);
        Box::pin(async move {
            let work = async {
                match key {
                    IoKey::Logs(k) => {
                        let api: kube::Api<Pod> = kube::Api::namespaced(client, &k.namespace);
                        // The whole log, not a tail: start-up lines (what
                        // `log.contains` usually looks for) must not scroll
                        // away under the request lines our own probes cause.
                        let params = kube::api::LogParams {
                            container: Some(k.container.clone()),
                            previous: k.previous,
                            limit_bytes: Some(MAX_LOG),
                            ..Default::default()
                        };
                        api.logs(&k.pod, &params)
                            .await
                            .map(|body| Response { status: 200, body })
                            .map_err(|e| api_message(&e))
                    }
                    IoKey::Probe(req) => probe(&client, &req).await,
                }
            };
            match tokio::time::timeout(FETCH_TIMEOUT, work).await {
                Ok(r) => r,
                Err(_) => Err(eval::FETCH_TIMED_OUT.to_string()),
            }
        })
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => crate::cluster::connection::short_error(other),
    }
}

async fn probe(client: &kube::Client, req: &eval::ProbeRequest) -> Result<Response, String> {
    let method = http::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = http::Request::builder()
        .method(method)
        .uri(&req.path)
        .header(super::PROBE_HEADER, "1");
    if req.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let body = req.body.clone().unwrap_or_default().into_bytes();
    let request = builder
        .body(kube::client::Body::from(body))
        .map_err(|e| e.to_string())?;
    let resp = client.send(request).await.map_err(|e| api_message(&e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| api_message(&e))?;
    let cut = &bytes[..bytes.len().min(MAX_BODY)];
    Ok(Response {
        status,
        body: String::from_utf8_lossy(cut).into_owned(),
    })
}

/// What the checker task accepts.
#[derive(Debug)]
pub enum CheckerInput {
    /// Every update the watchers send (the task keeps its own snapshot).
    Cluster(ClusterUpdate),
    Activate {
        lesson: String,
        step: String,
        spec: Box<CheckSpec>,
    },
    Deactivate,
    /// The learner's quiz answer (0-based choice indices).
    Answer {
        step: String,
        choices: Vec<usize>,
    },
    /// The course language, for what the checker says.
    Lang(Lang),
}

/// A handle on the checker task; dropping every clone stops it.
#[derive(Debug, Clone)]
pub struct CheckerHandle {
    tx: mpsc::UnboundedSender<CheckerInput>,
    highlights: tokio::sync::watch::Receiver<Highlights>,
}

/// The objects the active step is about, for the pane to highlight.
pub type Highlights = Arc<HashSet<(Kind, ObjKey)>>;

impl CheckerHandle {
    /// What the active step is about, kept current by the checker task
    /// (`changed().await` wakes when it changes).
    pub fn highlights(&self) -> tokio::sync::watch::Receiver<Highlights> {
        self.highlights.clone()
    }

    pub fn send(&self, input: CheckerInput) {
        // The task ends only when every handle is dropped; a failed send
        // means the app is shutting down.
        let _ = self.tx.send(input);
    }
    pub fn cluster(&self, update: ClusterUpdate) {
        self.send(CheckerInput::Cluster(update));
    }
    pub fn activate(&self, lesson: &str, step: &str, spec: CheckSpec) {
        self.send(CheckerInput::Activate {
            lesson: lesson.into(),
            step: step.into(),
            spec: Box::new(spec),
        });
    }
    pub fn deactivate(&self) {
        self.send(CheckerInput::Deactivate);
    }
    /// Say things in `lang` (the active step's verdict is repeated in it
    /// at its next change).
    pub fn lang(&self, lang: Lang) {
        self.send(CheckerInput::Lang(lang));
    }
    pub fn answer(&self, step: &str, choices: Vec<usize>) {
        self.send(CheckerInput::Answer {
            step: step.into(),
            choices,
        });
    }
}

/// Start the checker task: it keeps a snapshot of the namespace from the
/// updates it is given, checks the active step, runs fetches through `io`
/// and sends every verdict change to `out`. Needs a tokio runtime.
pub fn spawn_checker(
    namespace: &str,
    io: Arc<dyn Io>,
    out: mpsc::UnboundedSender<CheckUpdate>,
) -> CheckerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (lit_tx, lit_rx) = tokio::sync::watch::channel(Highlights::default());
    tokio::spawn(run_checker(
        ClusterState::new(namespace),
        io,
        rx,
        out,
        lit_tx,
    ));
    CheckerHandle {
        tx,
        highlights: lit_rx,
    }
}

async fn run_checker(
    mut state: ClusterState,
    io: Arc<dyn Io>,
    mut rx: mpsc::UnboundedReceiver<CheckerInput>,
    out: mpsc::UnboundedSender<CheckUpdate>,
    highlights: tokio::sync::watch::Sender<Highlights>,
) {
    let mut engine = Engine::new();
    // What the highlights were computed from.
    let mut lit_from: Option<(u64, Option<(String, String)>)> = None;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(IoKey, Result<Response, String>)>();
    loop {
        let wake = engine.next_wakeup();
        let output = tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { break };
                let now = Instant::now();
                match input {
                    CheckerInput::Cluster(update) => {
                        // A relist comes as a burst of `InitApply`: evaluate
                        // at its `InitDone`, not once per object. (Not gated
                        // on the relist finishing: a kind we may not list
                        // would start relists that never finish.)
                        let burst = matches!(
                            &update,
                            ClusterUpdate::Watch(
                                _,
                                kube::runtime::watcher::Event::Init
                                    | kube::runtime::watcher::Event::InitApply(_)
                            )
                        );
                        let change = state.apply_at(update, now);
                        if burst {
                            Output::default()
                        } else {
                            engine.on_cluster(&state, &change, now)
                        }
                    }
                    CheckerInput::Activate { lesson, step, spec } => engine.activate(&lesson, &step, *spec, &state, now),
                    CheckerInput::Deactivate => { engine.deactivate(); Output::default() }
                    CheckerInput::Answer { step, choices } => engine.answer(&step, &choices, &state, now),
                    CheckerInput::Lang(lang) => { engine.set_lang(lang); engine.on_tick(&state, now) }
                }
            }
            Some((key, result)) = done_rx.recv() => engine.on_io(key, result, &state, Instant::now()),
            _ = sleep_until(wake) => engine.on_tick(&state, Instant::now()),
        };
        if let Some(u) = output.update
            && out.send(u).is_err()
        {
            break;
        }
        let from = (
            state.version,
            engine
                .active_step()
                .map(|(l, s)| (l.to_string(), s.to_string())),
        );
        if lit_from.as_ref() != Some(&from) {
            let lit = engine.highlighted(&state);
            highlights.send_if_modified(|cur| {
                if **cur == lit {
                    false
                } else {
                    *cur = Arc::new(lit);
                    true
                }
            });
            lit_from = Some(from);
        }
        for key in output.requests {
            let io = io.clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                let result = io.fetch(key.clone()).await;
                let _ = done.send((key, result));
            });
        }
    }
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}
