//! Pure evaluation of check conditions against a [`ClusterState`].
//!
//! Nothing here does I/O. Conditions that need a pod's log or an HTTP probe
//! look the answer up in an [`IoCache`] and record what they looked for in
//! [`Ctx::needs`]; the engine fetches it (at most once a second) and
//! evaluates again when the answer arrives.

use crate::check::spec::{
    AccessMode, BoundCheck, ContainerCheck, ContainerState, EnvCheck, EventCheck, FieldMatch,
    HttpProbe, Kind, Method, PortRef, PvSource, ReclaimPolicy, ResourceCheck, VolumeCheck,
    VolumeType,
};
use crate::check::spec::{Comparison, Condition, Quantity};
use crate::check::words::Words;
use crate::cluster::printers;
use crate::cluster::state::{ClusterState, ObjKey, Object};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

/// A log fetch: the last lines of one container of one pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogKey {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub previous: bool,
}

/// An HTTP request through the API server (service or pod proxy).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeRequest {
    pub method: String,
    /// The API path, e.g.
    /// `/api/v1/namespaces/kubetutor/services/msg-api:80/proxy/messages`.
    pub path: String,
    pub body: Option<String>,
}

/// Something the evaluation needs fetched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IoKey {
    Logs(LogKey),
    Probe(ProbeRequest),
}

/// A fetched answer: an HTTP status and body (logs come as 200 + text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One cached answer and when its request was sent.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub issued_at: Instant,
    pub result: Result<Response, String>,
}

/// Answers to I/O requests, by request.
pub type IoCache = HashMap<IoKey, Fetched>;

/// An object a condition matched, remembered by `as:` in sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub kind: Kind,
    pub key: ObjKey,
    pub uid: Option<String>,
    /// The JSON a probe of this pod returned (for `seen_by`).
    pub probe_json: Option<Value>,
    /// Controller uids above this object (ReplicaSet, then Deployment),
    /// filled when a sequence binds it.
    pub owners: Vec<String>,
}

/// The result of evaluating a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub holds: bool,
    /// Why it holds or not, in one line ("no Pod with labels app=web").
    pub detail: String,
    /// Objects that matched (for bindings and highlighting).
    pub matched: Vec<Matched>,
}

impl Verdict {
    fn yes(detail: impl Into<String>, matched: Vec<Matched>) -> Verdict {
        Verdict {
            holds: true,
            detail: detail.into(),
            matched,
        }
    }
    fn no(detail: impl Into<String>) -> Verdict {
        Verdict {
            holds: false,
            detail: detail.into(),
            matched: Vec::new(),
        }
    }
}

/// What an evaluation sees.
pub struct Ctx<'a> {
    pub state: &'a ClusterState,
    pub io: &'a IoCache,
    /// Objects bound by earlier sequence stages.
    pub bindings: &'a BTreeMap<String, Matched>,
    /// Answers whose request was sent before this are too old to count
    /// (the step's activation, or the start of the current stage).
    pub fresh_after: Instant,
    /// Filled during evaluation: every fetch the evaluation looked at.
    pub needs: BTreeSet<IoKey>,
    /// The checker's sentences, in the course language.
    pub words: &'static crate::check::words::Words,
}

impl<'a> Ctx<'a> {
    pub fn new(
        state: &'a ClusterState,
        io: &'a IoCache,
        bindings: &'a BTreeMap<String, Matched>,
        fresh_after: Instant,
    ) -> Ctx<'a> {
        Ctx {
            state,
            io,
            bindings,
            fresh_after,
            needs: BTreeSet::new(),
            words: &crate::check::words::EN,
        }
    }

    /// The same, saying things with `words`.
    pub fn with_words(mut self, words: &'static crate::check::words::Words) -> Ctx<'a> {
        self.words = words;
        self
    }

    /// The cached answer for `key` if fresh enough; records the need.
    pub fn fetch(&mut self, key: IoKey) -> Option<&'a Fetched> {
        let io: &'a IoCache = self.io;
        let got = io.get(&key).filter(|f| f.issued_at >= self.fresh_after);
        self.needs.insert(key);
        got
    }

    fn ns<'b>(&'b self, explicit: &'b Option<String>) -> &'b str {
        explicit.as_deref().unwrap_or(&self.state.namespace)
    }
}

/// Evaluate a condition.
/// How long one log read or probe may take, in seconds.
pub const FETCH_TIMEOUT_SECS: u64 = 5;
/// The error of a fetch that took longer (worded by [`fetch_error`], in
/// the course language).
pub const FETCH_TIMED_OUT: &str = "timed out";

/// A failed fetch's error as the learner reads it: the API server's own
/// message, or ours for a time-out.
fn fetch_error(e: &str, w: &Words) -> String {
    if e == FETCH_TIMED_OUT {
        w.say("no answer within {0} s", &[&FETCH_TIMEOUT_SECS])
    } else {
        e.to_string()
    }
}

pub fn eval_condition(c: &Condition, ctx: &mut Ctx) -> Verdict {
    match c {
        Condition::Resource(r) => eval_resource(r, ctx),
        Condition::Http(p) => eval_probe(p, ctx),
        Condition::All(cs) => {
            let mut matched = Vec::new();
            let mut details = Vec::new();
            for c in cs {
                let v = eval_condition(c, ctx);
                if !v.holds {
                    // Keep evaluating so every needed fetch is requested at once.
                    for rest in cs.iter().skip_while(|x| !std::ptr::eq(*x, c)).skip(1) {
                        eval_condition(rest, ctx);
                    }
                    return Verdict::no(v.detail);
                }
                details.push(v.detail);
                matched.extend(v.matched);
            }
            Verdict::yes(details.join("; "), matched)
        }
        Condition::Any(cs) => {
            let mut first_no = None;
            for c in cs {
                let v = eval_condition(c, ctx);
                if v.holds {
                    return v;
                }
                first_no.get_or_insert(v.detail);
            }
            Verdict::no(first_no.unwrap_or_default())
        }
        Condition::Not(c) => {
            let v = eval_condition(c, ctx);
            let detail = match (v.holds, c.as_ref()) {
                (false, _) => v.detail,
                // `not: {resource: ...}` reads best as "x still exists".
                (true, Condition::Resource(r)) if !v.matched.is_empty() => {
                    let names: Vec<&str> = v.matched.iter().map(|m| m.key.name.as_str()).collect();
                    let has_props = !r.fields.is_empty()
                        || r.ready.is_some()
                        || r.phase.is_some()
                        || r.container.is_some()
                        || r.log.is_some()
                        || r.bound.is_some()
                        || r.volume.is_some()
                        || r.env.is_some()
                        || r.event.is_some();
                    let template = match (has_props, names.len()) {
                        (true, 1) => "{0} {1} still matches",
                        (true, _) => "{0} {1} still match",
                        (false, 1) => "{0} {1} still exists",
                        (false, _) => "{0} {1} still exist",
                    };
                    ctx.words
                        .say(template, &[&kind_word(r.kind.value), &names.join(", ")])
                }
                (true, _) => ctx.words.say("not yet: {0}", &[&v.detail]),
            };
            Verdict {
                holds: !v.holds,
                detail,
                matched: Vec::new(),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

fn labels_match(labels: Option<&BTreeMap<String, String>>, sel: &BTreeMap<String, String>) -> bool {
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn selector_text(sel: &BTreeMap<String, String>) -> String {
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "pod",
        Kind::Deployment => "deployment",
        Kind::ReplicaSet => "replicaset",
        Kind::PersistentVolumeClaim => "pvc",
        Kind::PersistentVolume => "pv",
        Kind::StorageClass => "storageclass",
        Kind::ConfigMap => "configmap",
        Kind::Secret => "secret",
        Kind::Service => "service",
        Kind::Job => "job",
        Kind::StatefulSet => "statefulset",
        Kind::CronJob => "cronjob",
        Kind::Event => "event",
        Kind::Node => "node",
    }
}

/// The objects a resource check names (kind, namespace, name, selector),
/// before its properties are looked at. Objects being deleted are included,
/// as `kubectl get` shows them (Terminating).
pub fn candidates<'s>(r: &ResourceCheck, state: &'s ClusterState) -> Vec<&'s Object> {
    let kind = r.kind.value;
    let ns = r.namespace.as_deref().unwrap_or(&state.namespace);
    state
        .objects(kind)
        .filter(|o| {
            let m = o.meta();
            (!kind.is_namespaced() || m.namespace.as_deref().unwrap_or("") == ns)
                && r.name.as_ref().is_none_or(|n| m.name.as_ref() == Some(n))
                && r.selector
                    .as_ref()
                    .is_none_or(|s| labels_match(m.labels.as_ref(), s))
        })
        .collect()
}

fn describe_target(r: &ResourceCheck, ctx: &Ctx) -> String {
    let kind = r.kind.value;
    let w = ctx.words;
    let mut s = format!("{kind}");
    if let Some(n) = &r.name {
        s.push_str(&w.say(" named {0}", &[n]));
    }
    if let Some(sel) = &r.selector {
        s.push_str(&w.say(" with labels {0}", &[&selector_text(sel)]));
    }
    if kind.is_namespaced() {
        s.push_str(&w.say(" in namespace {0}", &[&ctx.ns(&r.namespace)]));
    }
    s
}

fn matched_of(o: &Object) -> Matched {
    matched_of_meta(o.kind(), o.meta())
}

fn matched_of_meta(
    kind: Kind,
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Matched {
    Matched {
        kind,
        key: ObjKey::of(m),
        uid: m.uid.clone(),
        probe_json: None,
        owners: Vec::new(),
    }
}

fn eval_resource(r: &ResourceCheck, ctx: &mut Ctx) -> Verdict {
    let kind = r.kind.value;
    let w = ctx.words;
    let cands = candidates(r, ctx.state);
    let mut matched = Vec::new();
    let mut first_miss: Option<String> = None;
    for o in &cands {
        match object_properties(r, o, ctx) {
            Ok(()) => matched.push(matched_of(o)),
            Err(why) => {
                first_miss.get_or_insert_with(|| {
                    let name = o.meta().name.as_deref().unwrap_or("?");
                    w.say("{0} {1}: {2}", &[&kind_word(kind), &name, &why])
                });
            }
        }
    }
    let n = matched.len();
    if r.absent {
        return if n == 0 {
            Verdict::yes(w.say("no {0}", &[&describe_target(r, ctx)]), Vec::new())
        } else {
            let names: Vec<&str> = matched.iter().map(|m| m.key.name.as_str()).collect();
            Verdict::no(w.say(
                "{0} {1} still exists",
                &[&kind_word(kind), &names.join(", ")],
            ))
        };
    }
    let count = r.count.clone().unwrap_or_else(Comparison::at_least_one);
    if count.accepts(n as f64) {
        let names: Vec<&str> = matched.iter().map(|m| m.key.name.as_str()).collect();
        let detail = if names.is_empty() {
            w.say("{0} {1} match", &[&n, &describe_target(r, ctx)])
        } else {
            format!("{} {} ok", kind_word(kind), names.join(", "))
        };
        return Verdict::yes(detail, matched);
    }
    if cands.is_empty() {
        return Verdict::no(w.say("no {0}", &[&describe_target(r, ctx)]));
    }
    if n == 0 {
        return Verdict::no(
            first_miss.unwrap_or_else(|| w.say("no {0} matches", &[&describe_target(r, ctx)])),
        );
    }
    let template = if n == 1 {
        "{0} {1} matches, expected {2}"
    } else {
        "{0} {1} match, expected {2}"
    };
    let mut why = w.say(
        template,
        &[&n, &describe_target(r, ctx), &comparison_text(&count, w)],
    );
    if let Some(m) = first_miss {
        why.push_str(&format!(" ({m})"));
    }
    Verdict::no(why)
}

/// `= 1`, `>= 2 and <= 3`...
pub fn comparison_text(c: &Comparison, w: &Words) -> String {
    let mut parts = Vec::new();
    let mut add = |op: &str, q: &Option<Quantity>| {
        if let Some(q) = q {
            parts.push(format!("{op} {}", q.text));
        }
    };
    add("=", &c.eq);
    add("≠", &c.ne);
    add(">", &c.gt);
    add(">=", &c.gte);
    add("<", &c.lt);
    add("<=", &c.lte);
    parts.join(&w.say(" and ", &[]))
}

/// Check every property of a resource check on one object.
fn object_properties(r: &ResourceCheck, o: &Object, ctx: &mut Ctx) -> Result<(), String> {
    let w = ctx.words;
    if !r.fields.is_empty() {
        let json = o.to_json();
        for f in &r.fields {
            field_holds(f, &json, None, w)?;
        }
    }
    if let Some(want) = r.ready {
        let (is, text) = ready_of(o);
        if is != want {
            return Err(if want {
                w.say("not ready ({0})", &[&text])
            } else {
                w.say("ready ({0})", &[&text])
            });
        }
    }
    if let Some(want) = &r.phase {
        let phase = phase_of(o).unwrap_or_else(|| w.say("unknown", &[]));
        if &phase != want {
            return Err(w.say("phase is {0}, not {1}", &[&phase, want]));
        }
    }
    if let Some(c) = &r.container {
        let Object::Pod(p) = o else {
            return Err(w.say("not a pod", &[]));
        };
        container_holds(c, p, w)?;
    }
    if let Some(b) = &r.bound {
        let Object::PersistentVolumeClaim(pvc) = o else {
            return Err(w.say("not a PVC", &[]));
        };
        bound_holds(b, pvc, ctx.state, w)?;
    }
    if let Some(v) = &r.volume {
        let spec = pod_spec_of(o).ok_or_else(|| w.say("has no pod spec", &[]))?;
        volume_holds(v, &spec, w)?;
    }
    if let Some(e) = &r.env {
        let spec = pod_spec_of(o).ok_or_else(|| w.say("has no pod spec", &[]))?;
        env_holds(
            e,
            &spec,
            ctx.state,
            o.meta().namespace.as_deref().unwrap_or(""),
            w,
        )?;
    }
    if let Some(e) = &r.event {
        event_holds(e, o, ctx.state, w)?;
    }
    if let Some(l) = &r.log {
        let Object::Pod(p) = o else {
            return Err(w.say("not a pod", &[]));
        };
        let Some(container) = l
            .container
            .clone()
            .or_else(|| default_container(p).map(|c| c.name.clone()))
        else {
            return Err(w.say("has no container", &[]));
        };
        let key = IoKey::Logs(LogKey {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            pod: p.metadata.name.clone().unwrap_or_default(),
            uid: p.metadata.uid.clone().unwrap_or_default(),
            container: container.clone(),
            previous: l.previous,
        });
        match ctx.fetch(key) {
            None => return Err(w.say("reading its log…", &[])),
            Some(Fetched { result: Err(e), .. }) => {
                let e = fetch_error(e, w);
                return Err(w.say("cannot read the log of {0}: {1}", &[&container, &e]));
            }
            Some(Fetched {
                result: Ok(resp), ..
            }) => {
                if !resp.body.contains(&l.contains) {
                    let template = if l.previous {
                        "the log (previous run) of {0} does not contain \"{1}\""
                    } else {
                        "the log of {0} does not contain \"{1}\""
                    };
                    return Err(w.say(template, &[&container, &l.contains]));
                }
            }
        }
    }
    Ok(())
}

/// The newest event of the wanted type about `o` has the reason and message.
fn event_holds(e: &EventCheck, o: &Object, state: &ClusterState, w: &Words) -> Result<(), String> {
    let want = e.event_type();
    let events = state.events_for(o.kind(), o.meta());
    let Some(last) = events
        .iter()
        .rev()
        .find(|ev| ev.type_.as_deref().unwrap_or("Normal") == want)
    else {
        return Err(w.say("has no {0} event", &[&want.to_lowercase()]));
    };
    let reason = last.reason.as_deref().unwrap_or("");
    let message = last.message.as_deref().unwrap_or("");
    if let Some(r) = &e.reason
        && r != reason
    {
        return Err(w.say(
            "its last {0} event is {1}, not {2}",
            &[&want.to_lowercase(), &reason, r],
        ));
    }
    if let Some(m) = &e.message_contains
        && !message.contains(m.as_str())
    {
        return Err(w.say(
            "its last {0} event ({1}) does not say \"{2}\"",
            &[&want.to_lowercase(), &reason, m],
        ));
    }
    Ok(())
}

/// The container `kubectl logs` picks: the annotated default, else the first.
pub fn default_container(p: &Pod) -> Option<&Container> {
    let spec = p.spec.as_ref()?;
    let annotated = p
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"));
    annotated
        .and_then(|n| spec.containers.iter().find(|c| &c.name == n))
        .or_else(|| spec.containers.first())
}

fn ready_of(o: &Object) -> (bool, String) {
    match o {
        Object::Pod(p) => {
            let (_, ready, total, _, _) = printers::pod_status(p);
            (printers::pod_is_ready(p), format!("{ready}/{total}"))
        }
        Object::Deployment(d) => {
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = d
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            (ready >= want, format!("{ready}/{want}"))
        }
        Object::ReplicaSet(r) => {
            let want = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = r
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            (ready >= want, format!("{ready}/{want}"))
        }
        Object::StatefulSet(s) => {
            let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let ready = s
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            (ready >= want, format!("{ready}/{want}"))
        }
        _ => (false, "n/a".into()),
    }
}

fn phase_of(o: &Object) -> Option<String> {
    match o {
        Object::Pod(p) => p.status.as_ref().and_then(|s| s.phase.clone()),
        Object::PersistentVolumeClaim(p) => p.status.as_ref().and_then(|s| s.phase.clone()),
        Object::PersistentVolume(p) => p.status.as_ref().and_then(|s| s.phase.clone()),
        _ => None,
    }
}

/// The pod spec of a pod, or the pod template of a workload. A
/// StatefulSet's claim templates count as claim volumes of that name (the
/// claims its pods get are `<template>-<set>-<ordinal>`).
pub fn pod_spec_of(o: &Object) -> Option<std::borrow::Cow<'_, PodSpec>> {
    use std::borrow::Cow;
    if let Object::StatefulSet(s) = o {
        let spec = s.spec.as_ref()?;
        let mut pod = spec.template.spec.clone()?;
        let volumes = pod.volumes.get_or_insert_with(Vec::new);
        for t in spec.volume_claim_templates.iter().flatten() {
            let name = t.metadata.name.clone().unwrap_or_default();
            volumes.retain(|v| v.name != name);
            volumes.push(k8s_openapi::api::core::v1::Volume {
                name: name.clone(),
                persistent_volume_claim: Some(
                    k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                        claim_name: name,
                        read_only: None,
                    },
                ),
                ..Default::default()
            });
        }
        return Some(Cow::Owned(pod));
    }
    pod_template_spec(o).map(Cow::Borrowed)
}

fn pod_template_spec(o: &Object) -> Option<&PodSpec> {
    match o {
        Object::Pod(p) => p.spec.as_ref(),
        Object::Deployment(d) => d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        Object::ReplicaSet(r) => r
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref()),
        Object::Job(j) => j.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        _ => None,
    }
}

fn container_holds(c: &ContainerCheck, p: &Pod, w: &Words) -> Result<(), String> {
    let statuses = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let mut first_err = None;
    for cs in statuses {
        if c.name.as_ref().is_some_and(|n| n != &cs.name) {
            continue;
        }
        let state = cs.state.as_ref();
        let (now, reason) = match state {
            Some(s) if s.running.is_some() => (ContainerState::Running, None),
            Some(s) if s.terminated.is_some() => (
                ContainerState::Terminated,
                s.terminated.as_ref().and_then(|t| t.reason.clone()),
            ),
            Some(s) => (
                ContainerState::Waiting,
                s.waiting.as_ref().and_then(|w| w.reason.clone()),
            ),
            None => (ContainerState::Waiting, None),
        };
        let last_reason = cs
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.reason.clone());
        let r = (|| {
            if let Some(want) = c.state
                && want != now
            {
                return Err(w.say(
                    "container {0} is {1}, not {2}",
                    &[&cs.name, &state_word(now, w), &state_word(want, w)],
                ));
            }
            if let Some(want) = &c.reason
                && reason.as_ref() != Some(want)
            {
                let reason = reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                return Err(w.say(
                    "container {0} is {1}{2}, not {3}",
                    &[&cs.name, &state_word(now, w), &reason, want],
                ));
            }
            if let Some(want) = &c.last_reason
                && last_reason.as_ref() != Some(want)
            {
                let last = last_reason.clone().unwrap_or_else(|| w.say("never", &[]));
                return Err(w.say(
                    "container {0} last ended {1}, not {2}",
                    &[&cs.name, &last, want],
                ));
            }
            if let Some(cmp) = &c.restarts
                && !cmp.accepts(f64::from(cs.restart_count))
            {
                return Err(w.say(
                    "container {0} restarted {1} times, expected {2}",
                    &[&cs.name, &cs.restart_count, &comparison_text(cmp, w)],
                ));
            }
            Ok(())
        })();
        match r {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| match &c.name {
        Some(n) => w.say("no status yet for container {0}", &[n]),
        None => w.say("no container status yet", &[]),
    }))
}

fn state_word(s: ContainerState, w: &Words) -> String {
    match s {
        ContainerState::Waiting => w.say("waiting", &[]),
        ContainerState::Running => w.say("running", &[]),
        ContainerState::Terminated => w.say("terminated", &[]),
    }
}

fn bound_holds(
    b: &BoundCheck,
    pvc: &k8s_openapi::api::core::v1::PersistentVolumeClaim,
    state: &ClusterState,
    w: &Words,
) -> Result<(), String> {
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    let Some(vol) = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()) else {
        return Err(w.say("is {0}, not bound to a volume yet", &[&phase]));
    };
    if phase != "Bound" {
        return Err(w.say("is {0}, not Bound", &[&phase]));
    }
    if let Some(want) = &b.volume
        && want != vol
    {
        return Err(w.say("is bound to {0}, not {1}", &[&vol, want]));
    }
    let Some(pv) = state.pv(vol) else {
        return Err(w.say("is bound to {0}, which is not visible yet", &[&vol]));
    };
    let spec = pv.spec.as_ref();
    if let Some(want) = &b.storage_class {
        let class = printers::pv_class(pv);
        if &class != want {
            return Err(w.say(
                "volume {0} has storage class `{1}`, not `{2}`",
                &[&vol, &class, want],
            ));
        }
    }
    if let Some(want) = b.reclaim_policy {
        let policy = spec
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Retain");
        let want_s = match want {
            ReclaimPolicy::Retain => "Retain",
            ReclaimPolicy::Delete => "Delete",
            ReclaimPolicy::Recycle => "Recycle",
        };
        if policy != want_s {
            return Err(w.say(
                "volume {0} has reclaim policy {1}, not {2}",
                &[&vol, &policy, &want_s],
            ));
        }
    }
    if let Some(cmp) = &b.capacity {
        let cap = spec
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_default();
        let v = Quantity::parse(&cap).map(|q| q.value);
        if !v.is_some_and(|v| cmp.accepts(v)) {
            let cap = if cap.is_empty() {
                w.say("unknown", &[])
            } else {
                cap
            };
            return Err(w.say(
                "volume {0} has capacity {1}, expected {2}",
                &[&vol, &cap, &comparison_text(cmp, w)],
            ));
        }
    }
    if let Some(modes) = &b.access_modes {
        let have = spec
            .and_then(|s| s.access_modes.clone())
            .unwrap_or_default();
        for m in modes {
            let name = match m {
                AccessMode::ReadWriteOnce => "ReadWriteOnce",
                AccessMode::ReadOnlyMany => "ReadOnlyMany",
                AccessMode::ReadWriteMany => "ReadWriteMany",
                AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
            };
            if !have.iter().any(|h| h == name) {
                return Err(w.say("volume {0} does not offer {1}", &[&vol, &name]));
            }
        }
    }
    if let Some(src) = b.source {
        let ok = spec.is_some_and(|s| match src {
            PvSource::HostPath => s.host_path.is_some(),
            PvSource::Local => s.local.is_some(),
            PvSource::Csi => s.csi.is_some(),
            PvSource::Nfs => s.nfs.is_some(),
        });
        if !ok {
            return Err(w.say(
                "volume {0} is not a {1} volume",
                &[&vol, &format!("{src:?}")],
            ));
        }
    }
    Ok(())
}

fn norm_path(p: &str) -> &str {
    if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    }
}

fn volume_holds(v: &VolumeCheck, spec: &PodSpec, w: &Words) -> Result<(), String> {
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let type_word = match v.kind {
        VolumeType::EmptyDir => "emptyDir",
        VolumeType::HostPath => "hostPath",
        VolumeType::PersistentVolumeClaim => "persistentVolumeClaim",
        VolumeType::ConfigMap => "configMap",
        VolumeType::Secret => "secret",
    };
    let typed: Vec<_> = volumes
        .iter()
        .filter(|vol| match v.kind {
            VolumeType::EmptyDir => vol.empty_dir.is_some(),
            VolumeType::HostPath => vol.host_path.is_some(),
            VolumeType::PersistentVolumeClaim => vol.persistent_volume_claim.is_some(),
            VolumeType::ConfigMap => vol.config_map.is_some(),
            VolumeType::Secret => vol.secret.is_some(),
        })
        .filter(|vol| {
            v.source.as_ref().is_none_or(|want| {
                let src = vol
                    .persistent_volume_claim
                    .as_ref()
                    .map(|p| p.claim_name.clone())
                    .or_else(|| vol.config_map.as_ref().map(|c| c.name.clone()))
                    .or_else(|| vol.secret.as_ref().and_then(|s| s.secret_name.clone()))
                    .or_else(|| vol.host_path.as_ref().map(|h| h.path.clone()));
                src.as_deref().map(norm_path) == Some(norm_path(want))
            })
        })
        .collect();
    if typed.is_empty() {
        return Err(match &v.source {
            Some(s) => w.say("has no {0} volume from {1}", &[&type_word, s]),
            None => w.say("has no {0} volume", &[&type_word]),
        });
    }
    let mut nearest = None;
    for c in spec
        .containers
        .iter()
        .filter(|c| v.container.as_ref().is_none_or(|n| n == &c.name))
    {
        for m in c.volume_mounts.as_deref().unwrap_or_default() {
            if !typed.iter().any(|vol| vol.name == m.name) {
                continue;
            }
            if let Some(want) = &v.mount_path
                && norm_path(&m.mount_path) != norm_path(want)
            {
                nearest.get_or_insert(w.say(
                    "its {0} volume {1} is mounted at {2} in {3}, not {4}",
                    &[&type_word, &m.name, &m.mount_path, &c.name, want],
                ));
                continue;
            }
            if let Some(want) = v.read_only
                && m.read_only.unwrap_or(false) != want
            {
                let template = if want {
                    "its {0} volume {1} is mounted read-write in {2}"
                } else {
                    "its {0} volume {1} is mounted read-only in {2}"
                };
                nearest.get_or_insert(w.say(template, &[&type_word, &m.name, &c.name]));
                continue;
            }
            return Ok(());
        }
    }
    Err(
        nearest.unwrap_or_else(|| match (&v.container, &v.mount_path) {
            (Some(c), _) => w.say(
                "container {0} does not mount its {1} volume",
                &[c, &type_word],
            ),
            (None, Some(p)) => w.say("no container mounts a {0} volume at {1}", &[&type_word, p]),
            (None, None) => w.say("no container mounts its {0} volume", &[&type_word]),
        }),
    )
}

fn env_holds(
    e: &EnvCheck,
    spec: &PodSpec,
    state: &ClusterState,
    ns: &str,
    w: &Words,
) -> Result<(), String> {
    let key = e.key.as_deref().unwrap_or(&e.name);
    let mut nearest = None;
    for c in spec
        .containers
        .iter()
        .filter(|c| e.container.as_ref().is_none_or(|n| n == &c.name))
    {
        for var in c.env.as_deref().unwrap_or_default() {
            if var.name != e.name {
                continue;
            }
            let from = var.value_from.as_ref();
            let ok = if let Some(cm) = &e.config_map {
                from.and_then(|f| f.config_map_key_ref.as_ref())
                    .is_some_and(|r| &r.name == cm && r.key == key)
            } else if let Some(s) = &e.secret {
                from.and_then(|f| f.secret_key_ref.as_ref())
                    .is_some_and(|r| &r.name == s && r.key == key)
            } else if let Some(v) = &e.value {
                var.value.as_ref() == Some(v)
            } else {
                true
            };
            if ok {
                return Ok(());
            }
            nearest.get_or_insert(w.say(
                "container {0} sets {1} but not from {2}",
                &[&c.name, &e.name, &source_text(e, key, w)],
            ));
        }
        for ef in c.env_from.as_deref().unwrap_or_default() {
            let prefix = ef.prefix.as_deref().unwrap_or("");
            let Some(stripped) = e.name.strip_prefix(prefix) else {
                continue;
            };
            if stripped != key {
                continue;
            }
            if let (Some(want), Some(r)) = (&e.config_map, &ef.config_map_ref)
                && &r.name == want
            {
                // The variable exists only if the ConfigMap has the key.
                match state.get(Kind::ConfigMap, ns, want) {
                    Some(Object::ConfigMap(cm))
                        if !cm.data.as_ref().is_some_and(|d| d.contains_key(key))
                            && !cm.binary_data.as_ref().is_some_and(|d| d.contains_key(key)) =>
                    {
                        nearest.get_or_insert(w.say("configmap {0} has no key {1}", &[want, &key]));
                        continue;
                    }
                    _ => return Ok(()),
                }
            }
            if let (Some(want), Some(r)) = (&e.secret, &ef.secret_ref)
                && &r.name == want
            {
                return Ok(());
            }
            if e.config_map.is_none() && e.secret.is_none() && e.value.is_none() {
                return Ok(());
            }
        }
    }
    Err(nearest.unwrap_or_else(|| match (&e.config_map, &e.secret) {
        (None, None) => w.say("no container sets {0}", &[&e.name]),
        _ => w.say(
            "no container takes {0} from {1}",
            &[&e.name, &source_text(e, key, w)],
        ),
    }))
}

fn source_text(e: &EnvCheck, key: &str, w: &Words) -> String {
    if let Some(cm) = &e.config_map {
        w.say("configmap {0} key {1}", &[cm, &key])
    } else if let Some(s) = &e.secret {
        w.say("secret {0} key {1}", &[s, &key])
    } else if let Some(v) = &e.value {
        w.say("the value \"{0}\"", &[v])
    } else {
        w.say("anywhere", &[])
    }
}

// ---------------------------------------------------------------------------
// Field matchers
// ---------------------------------------------------------------------------

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // YAML `"8080"` vs JSON 8080, `true` vs "true": compare as text.
        (Value::String(_), Value::Number(_) | Value::Bool(_))
        | (Value::Number(_) | Value::Bool(_), Value::String(_)) => as_text(a) == as_text(b),
        _ => false,
    }
}

fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => Quantity::parse(s).map(|q| q.value),
        _ => None,
    }
}

fn length(v: &Value) -> Option<usize> {
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        let mut s: String = t.chars().take(57).collect();
        s.push('…');
        s
    } else {
        t
    }
}

/// Whether a field matcher holds on `root`. `seen` is the JSON the bound
/// probe saw (for `seen_by`).
pub fn field_holds(
    f: &FieldMatch,
    root: &Value,
    seen: Option<&Value>,
    w: &Words,
) -> Result<(), String> {
    let path = &f.path.value;
    let values = path.select(root);
    let name = if path.segments.is_empty() {
        w.say("the response", &[])
    } else {
        path.text.clone()
    };
    if let Some(p) = f.present {
        if p && values.is_empty() {
            return Err(w.say("{0} is missing", &[&name]));
        }
        if !p && !values.is_empty() {
            return Err(w.say("{0} is set ({1})", &[&name, &short(values[0])]));
        }
    }
    let only_absence_ok = f.equals.is_none()
        && f.matches.is_none()
        && f.contains.is_none()
        && f.gt.is_none()
        && f.gte.is_none()
        && f.lt.is_none()
        && f.lte.is_none()
        && f.length.is_none()
        && f.seen_by.is_none();
    if values.is_empty() {
        return if only_absence_ok {
            Ok(())
        } else {
            Err(w.say("{0} is missing", &[&name]))
        };
    }
    let regex = match &f.matches {
        Some(p) => Some(p.regex().map_err(|e| e.to_string())?),
        None => None,
    };
    let numeric_cmp = f.numeric();
    let has_numeric = f.gt.is_some() || f.gte.is_some() || f.lt.is_some() || f.lte.is_some();
    let mut first_err = None;
    for v in &values {
        let r = (|| {
            if let Some(want) = &f.equals
                && !json_eq(v, want)
            {
                return Err(w.say("{0} is {1}, not {2}", &[&name, &short(v), &short(want)]));
            }
            if let Some(bad) = &f.not_equals
                && json_eq(v, bad)
            {
                return Err(w.say("{0} is {1}", &[&name, &short(v)]));
            }
            if let Some(re) = &regex
                && !re.is_match(&as_text(v))
            {
                return Err(w.say(
                    "{0} is {1}, which does not match /{2}/",
                    &[&name, &short(v), &re.as_str()],
                ));
            }
            if let Some(needle) = &f.contains {
                let ok = match (v, needle) {
                    (Value::String(s), n) => s.contains(&as_text(n)),
                    (Value::Array(a), n) => a.iter().any(|x| json_eq(x, n)),
                    (Value::Object(o), n) => o.contains_key(&as_text(n)),
                    _ => false,
                };
                if !ok {
                    return Err(w.say("{0} does not contain {1}", &[&name, &short(needle)]));
                }
            }
            if has_numeric {
                match numeric(v) {
                    Some(x) if numeric_cmp.accepts(x) => {}
                    Some(_) => {
                        return Err(w.say(
                            "{0} is {1}, expected {2}",
                            &[&name, &short(v), &comparison_text(&numeric_cmp, w)],
                        ));
                    }
                    None => return Err(w.say("{0} is {1}, not a number", &[&name, &short(v)])),
                }
            }
            if let Some(cmp) = &f.length {
                match length(v) {
                    Some(n) if cmp.accepts(n as f64) => {}
                    Some(n) => {
                        let template = if n == 1 {
                            "{0} has {1} item, expected {2}"
                        } else {
                            "{0} has {1} items, expected {2}"
                        };
                        return Err(w.say(template, &[&name, &n, &comparison_text(cmp, w)]));
                    }
                    None => return Err(w.say("{0} has no length", &[&name])),
                }
            }
            if let Some(b) = &f.seen_by {
                let Some(seen) = seen else {
                    return Err(w.say("nothing was seen by `{0}` to compare with", &[&b.value]));
                };
                let before = path.select(seen);
                let ok = match (before.first(), v) {
                    (Some(Value::Array(old)), Value::Array(new)) => {
                        old.iter().all(|o| new.iter().any(|n| json_eq(o, n)))
                    }
                    (Some(old), new) => json_eq(old, new),
                    (None, _) => false,
                };
                if !ok {
                    let saw = before.first().map(|v| short(v)).unwrap_or_default();
                    return Err(w.say(
                        "{0} no longer holds what the first probe saw ({1})",
                        &[&name, &saw],
                    ));
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| w.say("{0} does not match", &[&name])))
}

// ---------------------------------------------------------------------------
// HTTP probes
// ---------------------------------------------------------------------------

/// Where a probe goes, once its target is resolved against the state.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedProbe {
    pub request: ProbeRequest,
    /// The pod probed (a pod target, or the only ready pod behind a
    /// service); else the service.
    pub pod: Option<Matched>,
    pub service: Option<Matched>,
    /// Human name of the target (`service msg-api`, `pod msg-api-7d9-x`).
    pub target: String,
}

fn port_text(p: &PortRef) -> String {
    match p {
        PortRef::Number(n) => n.to_string(),
        PortRef::Name(s) => s.clone(),
    }
}

fn method_text(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// Ready pods matching a selector, in name order.
pub fn ready_pods<'s>(
    state: &'s ClusterState,
    ns: &str,
    sel: &BTreeMap<String, String>,
) -> Vec<&'s Pod> {
    state
        .pods()
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && p.metadata.deletion_timestamp.is_none()
                && labels_match(p.metadata.labels.as_ref(), sel)
                && printers::pod_is_ready(p)
        })
        .collect()
}

fn pod_matched(p: &Pod) -> Matched {
    Matched {
        kind: Kind::Pod,
        key: ObjKey::of(&p.metadata),
        uid: p.metadata.uid.clone(),
        probe_json: None,
        owners: Vec::new(),
    }
}

/// Resolve a probe's target against the state.
pub fn resolve_probe(p: &HttpProbe, ctx: &Ctx) -> Result<ResolvedProbe, String> {
    let w = ctx.words;
    let ns = ctx.ns(&p.namespace).to_string();
    let body = p.body.as_ref().map(|b| match b {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let method = method_text(p.method).to_string();
    if let Some(svc_name) = &p.service {
        let Some(Object::Service(svc)) = ctx.state.get(Kind::Service, &ns, svc_name) else {
            return Err(w.say("no service {0} in namespace {1}", &[svc_name, &ns]));
        };
        let port = match &p.port {
            Some(port) => port_text(port),
            None => svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .and_then(|ps| ps.first())
                .map(|p| p.port.to_string())
                .ok_or_else(|| w.say("service {0} has no port", &[svc_name]))?,
        };
        let selector = svc.spec.as_ref().and_then(|s| s.selector.clone());
        let pods = selector
            .as_ref()
            .map(|s| ready_pods(ctx.state, &ns, s))
            .unwrap_or_default();
        if selector.is_some() && pods.is_empty() {
            return Err(w.say("service {0} has no ready pod behind it", &[svc_name]));
        }
        let pod = match pods.as_slice() {
            [one] => Some(pod_matched(one)),
            _ => None,
        };
        return Ok(ResolvedProbe {
            request: ProbeRequest {
                method,
                path: format!(
                    "/api/v1/namespaces/{ns}/services/{svc_name}:{port}/proxy{}",
                    p.path.value
                ),
                body,
            },
            pod,
            service: Some(matched_of_meta(Kind::Service, &svc.metadata)),
            target: format!("service {svc_name}"),
        });
    }
    let Some(pref) = &p.pod else {
        return Err(w.say("the probe has no target", &[]));
    };
    let pod: &Pod = if let Some(name) = &pref.name {
        ctx.state
            .pod(&ns, name)
            .ok_or_else(|| w.say("no pod {0} in namespace {1}", &[name, &ns]))?
    } else if let Some(sel) = &pref.selector {
        ready_pods(ctx.state, &ns, sel)
            .into_iter()
            .next()
            .ok_or_else(|| w.say("no ready pod with labels {0}", &[&selector_text(sel)]))?
    } else if let Some(r) = &pref.reference {
        let b = ctx
            .bindings
            .get(&r.value)
            .ok_or_else(|| w.say("`{0}` is not bound yet", &[&r.value]))?;
        let p = ctx
            .state
            .pod(&b.key.namespace, &b.key.name)
            .filter(|p| p.metadata.uid == b.uid)
            .ok_or_else(|| w.say("pod {0} ({1}) is gone", &[&b.key.name, &r.value]))?;
        if p.metadata.deletion_timestamp.is_some() {
            return Err(w.say("pod {0} ({1}) is being deleted", &[&b.key.name, &r.value]));
        }
        p
    } else {
        return Err(w.say("`pod:` needs `name`, `selector` or `ref`", &[]));
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let port = match &p.port {
        Some(port) => port_text(port),
        None => pod
            .spec
            .as_ref()
            .and_then(|s| {
                s.containers
                    .iter()
                    .flat_map(|c| c.ports.as_deref().unwrap_or_default())
                    .next()
            })
            .map(|p| p.container_port.to_string())
            .ok_or_else(|| w.say("pod {0} declares no port: give `port:`", &[&name]))?,
    };
    Ok(ResolvedProbe {
        request: ProbeRequest {
            method,
            path: format!(
                "/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy{}",
                p.path.value
            ),
            body,
        },
        pod: Some(pod_matched(pod)),
        service: None,
        target: format!("pod {name}"),
    })
}

/// Evaluate an HTTP probe (a condition or a `probe_sees` stage).
pub fn eval_probe(p: &HttpProbe, ctx: &mut Ctx) -> Verdict {
    let resolved = match resolve_probe(p, ctx) {
        Ok(r) => r,
        Err(e) => return Verdict::no(e),
    };
    let fetched = ctx.fetch(IoKey::Probe(resolved.request.clone()));
    let Some(f) = fetched else {
        return Verdict::no(ctx.words.say("probing {0}…", &[&resolved.target]));
    };
    let seen = |f: &FieldMatch| {
        f.seen_by
            .as_ref()
            .and_then(|b| ctx.bindings.get(&b.value))
            .and_then(|m| m.probe_json.clone())
    };
    match check_response(p, &f.result, &resolved.target, &seen, ctx.words) {
        Ok(json) => {
            let matched = resolved
                .pod
                .or(resolved.service)
                .map(|mut m| {
                    m.probe_json = json;
                    vec![m]
                })
                .unwrap_or_default();
            Verdict::yes(
                ctx.words
                    .say("{0} answered as expected", &[&resolved.target]),
                matched,
            )
        }
        Err(e) => Verdict::no(e),
    }
}

/// Check a probe's expectations on a response; returns its JSON, if any.
pub fn check_response(
    p: &HttpProbe,
    result: &Result<Response, String>,
    target: &str,
    seen: &dyn Fn(&FieldMatch) -> Option<Value>,
    w: &Words,
) -> Result<Option<Value>, String> {
    let resp = result
        .as_ref()
        .map_err(|e| w.say("{0} did not answer: {1}", &[&target, &fetch_error(e, w)]))?;
    let status_ok = match p.status {
        Some(s) => resp.status == s,
        None => (200..300).contains(&resp.status),
    };
    if !status_ok {
        let path = &p.path.value;
        return Err(match p.status {
            Some(s) => w.say(
                "{0} {1} answered {2}, expected {3}",
                &[&target, path, &resp.status, &s],
            ),
            None => w.say("{0} {1} answered {2}", &[&target, path, &resp.status]),
        });
    }
    if let Some(t) = &p.body_contains
        && !resp.body.contains(t.as_str())
    {
        return Err(w.say(
            "{0} {1}: the answer does not contain \"{2}\"",
            &[&target, &p.path.value, t],
        ));
    }
    let json: Option<Value> = serde_json::from_str(&resp.body).ok();
    if !p.json.is_empty() {
        let Some(j) = &json else {
            return Err(w.say("{0} {1}: the answer is not JSON", &[&target, &p.path.value]));
        };
        for f in &p.json {
            let seen_json = seen(f);
            field_holds(f, j, seen_json.as_ref(), w)
                .map_err(|e| w.say("{0} {1}: {2}", &[&target, &p.path.value, &e]))?;
        }
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::spec::{Goal, parse_check};
    use crate::check::words::{EN, FR};
    use crate::cluster::state::tests::apply;

    fn cond(yaml: &str) -> Condition {
        match parse_check(yaml).unwrap().goal {
            Goal::Condition(c) => c,
            other => panic!("{other:?}"),
        }
    }

    struct World {
        state: ClusterState,
        io: IoCache,
        bindings: BTreeMap<String, Matched>,
        t0: Instant,
    }

    impl World {
        fn new() -> World {
            World {
                state: ClusterState::new("kubetutor"),
                io: IoCache::new(),
                bindings: BTreeMap::new(),
                t0: Instant::now(),
            }
        }
        fn add(&mut self, yaml: &str) -> &mut Self {
            apply(&mut self.state, yaml);
            self
        }
        fn eval(&self, yaml: &str) -> (Verdict, BTreeSet<IoKey>) {
            let c = cond(yaml);
            let mut ctx = Ctx::new(&self.state, &self.io, &self.bindings, self.t0);
            let v = eval_condition(&c, &mut ctx);
            (v, ctx.needs)
        }
        fn holds(&self, yaml: &str) -> bool {
            self.eval(yaml).0.holds
        }
        fn why(&self, yaml: &str) -> String {
            let (v, _) = self.eval(yaml);
            assert!(!v.holds, "expected not to hold: {yaml}");
            v.detail
        }
        fn answer(&mut self, key: IoKey, status: u16, body: &str) {
            self.io.insert(
                key,
                Fetched {
                    issued_at: self.t0,
                    result: Ok(Response {
                        status,
                        body: body.into(),
                    }),
                },
            );
        }
    }

    pub const READY_POD: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: msg-api-1
  namespace: kubetutor
  uid: pod-1
  labels: {app: msg-api}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: msg-api-rs, uid: rs-1, controller: true}]
spec:
  containers:
    - name: api
      image: python:3.12-alpine
      ports: [{containerPort: 8080, name: http}]
      envFrom: [{configMapRef: {name: msg-api-config}}]
      env:
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - {name: MODE, value: demo}
      volumeMounts:
        - {name: cache, mountPath: /cache}
        - {name: data, mountPath: /data/}
        - {name: code, mountPath: /opt/msg-api, readOnly: true}
  volumes:
    - {name: cache, emptyDir: {}}
    - {name: data, persistentVolumeClaim: {claimName: msg-data}}
    - {name: code, configMap: {name: msg-api-script}}
status:
  phase: Running
  conditions: [{type: Ready, status: 'True'}]
  containerStatuses:
    - name: api
      ready: true
      restartCount: 2
      image: python
      imageID: ''
      state: {running: {}}
      lastState: {terminated: {exitCode: 137, reason: OOMKilled}}
";

    const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: msg-api-config, namespace: kubetutor}\ndata: {API_PORT: '8080'}\n";

    const PVC: &str = "
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: msg-data, namespace: kubetutor}
spec: {accessModes: [ReadWriteOnce], storageClassName: standard, volumeName: pv-1}
status: {phase: Bound, capacity: {storage: 1Gi}}
";

    const PV: &str = "
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: standard
  hostPath: {path: /var/local-path/pv-1}
  claimRef: {namespace: kubetutor, name: msg-data}
status: {phase: Bound}
";

    #[test]
    fn exists_absent_count_and_fields() {
        let mut w = World::new();
        assert!(
            w.why("resource: {kind: Pod, name: msg-api-1}")
                .contains("no Pod named msg-api-1")
        );
        w.add(READY_POD);
        assert!(w.holds("resource: {kind: Pod, name: msg-api-1}"));
        assert!(w.holds("resource: {kind: Pod, selector: {app: msg-api}, count: 1}"));
        assert!(!w.holds("resource: {kind: Pod, selector: {app: msg-api}, count: {gte: 2}}"));
        assert!(w.holds("resource: {kind: Pod, name: other, absent: true}"));
        assert!(
            w.why("resource: {kind: Pod, name: msg-api-1, absent: true}")
                .contains("still exists")
        );
        assert!(w.holds("resource: {kind: Pod, namespace: other, absent: true}"));
        assert!(w.holds(
            "resource: {kind: Pod, fields: [{path: 'spec.containers[*].image', matches: '^python:3'}]}"
        ));
        assert!(w.holds(
            "resource: {kind: Pod, fields: [{path: 'spec.volumes[*].name', equals: data}, {path: metadata.labels.app, equals: msg-api}]}"
        ));
        let why = w.why("resource: {kind: Pod, fields: [{path: spec.nodeName, present: true}]}");
        assert!(why.contains("spec.nodeName is missing"), "{why}");
        assert!(w.holds("resource: {kind: Pod, fields: [{path: spec.nodeName, present: false}]}"));
        assert!(w.holds("resource: {kind: Pod, fields: [{path: spec.nodeName, not_equals: x}]}"));
        assert!(w.holds(
            "resource: {kind: Pod, fields: [{path: 'spec.containers[0].ports[0].containerPort', gte: 8000, lt: 9000}]}"
        ));
        assert!(w.holds(
            "resource: {kind: Pod, fields: [{path: spec.volumes, length: 3}, {path: metadata.labels, contains: app}]}"
        ));
        // A pod being deleted still counts (kubectl shows it Terminating),
        // unless the check leaves such objects out.
        w.add(&READY_POD.replace(
            "uid: pod-1",
            "uid: pod-1\n  deletionTimestamp: '2026-01-01T00:00:00Z'",
        ));
        assert!(!w.holds("resource: {kind: Pod, name: msg-api-1, absent: true}"));
        assert!(w.holds(
            "resource: {kind: Pod, name: msg-api-1, fields: [{path: metadata.deletionTimestamp, present: false}], absent: true}"
        ));
    }

    #[test]
    fn ready_phase_and_container_states() {
        let mut w = World::new();
        w.add(READY_POD);
        assert!(w.holds("resource: {kind: Pod, ready: true, phase: Running}"));
        assert!(w.holds("resource: {kind: Pod, container: {name: api, state: running, last_reason: OOMKilled, restarts: {gte: 1}}}"));
        let why = w.why("resource: {kind: Pod, container: {restarts: 0}}");
        assert!(why.contains("restarted 2 times"), "{why}");
        w.add(
            &READY_POD
                .replace(
                    "state: {running: {}}",
                    "state: {waiting: {reason: CrashLoopBackOff}}",
                )
                .replace("'True'", "'False'"),
        );
        assert!(
            w.holds("resource: {kind: Pod, container: {state: waiting, reason: CrashLoopBackOff}}")
        );
        let why = w.why("resource: {kind: Pod, name: msg-api-1, ready: true}");
        assert_eq!(why, "pod msg-api-1: not ready (0/1)");
        assert!(
            w.why("resource: {kind: Pod, phase: Pending}")
                .contains("phase is Running")
        );
        w.add("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: kubetutor}\nspec: {replicas: 2, selector: {matchLabels: {a: b}}, template: {spec: {containers: [{name: c, image: i}]}}}\nstatus: {readyReplicas: 1}\n");
        assert_eq!(
            w.why("resource: {kind: Deployment, name: d, ready: true}"),
            "deployment d: not ready (1/2)"
        );
    }

    #[test]
    fn pvc_bound_to_pv_with_properties() {
        let mut w = World::new();
        w.add(PVC);
        assert!(
            w.why("resource: {kind: PersistentVolumeClaim, name: msg-data, bound: {}}")
                .contains("pv-1, which is not visible")
        );
        w.add(PV);
        assert!(w.holds("resource: {kind: PersistentVolumeClaim, name: msg-data, phase: Bound, bound: {volume: pv-1, storage_class: standard, reclaim_policy: Delete, capacity: {gte: 1Gi}, access_modes: [ReadWriteOnce], source: hostPath}}"));
        let why = w.why("resource: {kind: PersistentVolumeClaim, bound: {reclaim_policy: Retain}}");
        assert!(why.contains("reclaim policy Delete, not Retain"), "{why}");
        assert!(
            w.why("resource: {kind: PersistentVolumeClaim, bound: {capacity: {gt: 1Gi}}}")
                .contains("capacity 1Gi")
        );
        assert!(
            w.why("resource: {kind: PersistentVolumeClaim, bound: {source: csi}}")
                .contains("not a Csi volume")
        );
        assert!(
            w.why(
                "resource: {kind: PersistentVolumeClaim, bound: {access_modes: [ReadWriteMany]}}"
            )
            .contains("ReadWriteMany")
        );
        w.add("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: msg-data, namespace: kubetutor}\nspec: {storageClassName: standard}\nstatus: {phase: Pending}\n");
        assert!(
            w.why("resource: {kind: PersistentVolumeClaim, bound: {}}")
                .contains("Pending")
        );
        assert!(w.holds("resource: {kind: PersistentVolume, name: pv-1, phase: Bound}"));
    }

    #[test]
    fn volumes_and_env() {
        let mut w = World::new();
        w.add(READY_POD).add(CONFIGMAP);
        assert!(w.holds("resource: {kind: Pod, volume: {type: emptyDir, mount_path: /cache}}"));
        assert!(w.holds("resource: {kind: Pod, volume: {type: persistentVolumeClaim, source: msg-data, mount_path: /data, container: api}}"));
        assert!(w.holds("resource: {kind: Pod, volume: {type: configMap, source: msg-api-script, read_only: true}}"));
        let why = w.why("resource: {kind: Pod, volume: {type: emptyDir, mount_path: /data}}");
        assert!(why.contains("mounted at /cache in api, not /data"), "{why}");
        assert!(
            w.why("resource: {kind: Pod, volume: {type: hostPath}}")
                .contains("no hostPath volume")
        );
        assert!(
            w.holds("resource: {kind: Pod, env: {name: API_PORT, config_map: msg-api-config}}")
        );
        assert!(
            w.holds("resource: {kind: Pod, env: {name: DB_PASSWORD, secret: db, key: password}}")
        );
        assert!(w.holds("resource: {kind: Pod, env: {name: MODE, value: demo}}"));
        assert!(
            w.why("resource: {kind: Pod, env: {name: MODE, value: prod}}")
                .contains("sets MODE but not from")
        );
        assert!(
            w.why(
                "resource: {kind: Pod, env: {name: API_DB_FILEPATH, config_map: msg-api-config}}"
            )
            .contains("has no key")
        );
        // Workloads are checked through their pod template.
        w.add("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: kubetutor}\nspec: {selector: {matchLabels: {a: b}}, template: {spec: {containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /v}]}], volumes: [{name: v, emptyDir: {}}]}}}\n");
        assert!(w.holds(
            "resource: {kind: Deployment, name: d, volume: {type: emptyDir, mount_path: /v}}"
        ));
    }

    #[test]
    fn logs_are_fetched_then_matched() {
        let mut w = World::new();
        w.add(READY_POD);
        let (v, needs) = w.eval("resource: {kind: Pod, log: {contains: listening}}");
        assert!(!v.holds);
        assert!(v.detail.contains("reading its log"), "{}", v.detail);
        let key = needs.into_iter().next().unwrap();
        assert_eq!(
            key,
            IoKey::Logs(LogKey {
                namespace: "kubetutor".into(),
                pod: "msg-api-1".into(),
                uid: "pod-1".into(),
                container: "api".into(),
                previous: false
            })
        );
        w.answer(key.clone(), 200, "start\nlistening on :8080\n");
        assert!(w.holds("resource: {kind: Pod, log: {contains: listening}}"));
        assert!(
            w.why("resource: {kind: Pod, log: {contains: saved}}")
                .contains("does not contain")
        );
        // An answer requested before `fresh_after` does not count.
        w.io.get_mut(&key).unwrap().issued_at = w.t0 - std::time::Duration::from_secs(1);
        assert!(!w.holds("resource: {kind: Pod, log: {contains: listening}}"));
    }

    #[test]
    fn http_probes_through_the_proxy() {
        let mut w = World::new();
        let probe = "http: {service: msg-api, path: /messages, json: [{path: .messages, length: {gte: 1}}]}";
        assert!(w.why(probe).contains("no service msg-api"));
        w.add("apiVersion: v1\nkind: Service\nmetadata: {name: msg-api, namespace: kubetutor}\nspec: {selector: {app: msg-api}, ports: [{port: 80, name: http}]}\n");
        assert!(w.why(probe).contains("no ready pod behind it"));
        w.add(READY_POD);
        let (v, needs) = w.eval(probe);
        assert!(v.detail.contains("probing service msg-api"), "{}", v.detail);
        let key = needs.into_iter().next().unwrap();
        let IoKey::Probe(req) = &key else { panic!() };
        assert_eq!(
            req.path,
            "/api/v1/namespaces/kubetutor/services/msg-api:80/proxy/messages"
        );
        assert_eq!(req.method, "GET");
        w.answer(key.clone(), 200, r#"{"messages": []}"#);
        let why = w.why(probe);
        assert!(
            why.contains(".messages has 0 items, expected >= 1"),
            "{why}"
        );
        w.answer(key.clone(), 200, r#"{"messages": [{"text": "hi"}]}"#);
        let (v, _) = w.eval(probe);
        assert!(v.holds);
        // The only ready pod behind the service is the one that answered.
        assert_eq!(v.matched[0].key.name, "msg-api-1");
        assert!(v.matched[0].probe_json.is_some());
        w.answer(key, 503, "down");
        assert!(w.why(probe).contains("answered 503"));
        // Pod probes use the pod proxy and the first container port.
        let (_, needs) =
            w.eval("http: {pod: {selector: {app: msg-api}}, path: /healthz, body_contains: ok}");
        let IoKey::Probe(req) = needs.into_iter().next().unwrap() else {
            panic!()
        };
        assert_eq!(
            req.path,
            "/api/v1/namespaces/kubetutor/pods/msg-api-1:8080/proxy/healthz"
        );
        let (_, needs) = w.eval("http: {pod: {name: msg-api-1}, port: http, method: POST, path: /messages, body: {text: hi}}");
        let IoKey::Probe(req) = needs.into_iter().next().unwrap() else {
            panic!()
        };
        assert_eq!(req.method, "POST");
        assert_eq!(req.body.as_deref(), Some(r#"{"text":"hi"}"#));
        assert!(req.path.contains("msg-api-1:http/proxy"));
    }

    #[test]
    fn combinators() {
        let mut w = World::new();
        w.add(READY_POD);
        assert!(w.holds(
            "all: [{resource: {kind: Pod, ready: true}}, {not: {resource: {kind: Service}}}]"
        ));
        assert!(w.holds("any: [{resource: {kind: Service}}, {resource: {kind: Pod}}]"));
        let why = w.why("not: {resource: {kind: Pod, name: msg-api-1}}");
        assert_eq!(why, "pod msg-api-1 still exists");
        let why = w.why("not: {resource: {kind: Pod, ready: true}}");
        assert_eq!(why, "pod msg-api-1 still matches");
        let why = w.why("not: {any: [{resource: {kind: Pod}}]}");
        assert!(why.starts_with("not yet: "), "{why}");
        let why = w.why("all: [{resource: {kind: Pod}}, {resource: {kind: Service, name: s}}]");
        assert!(why.contains("no Service named s"), "{why}");
        // `all` keeps evaluating after a failure so every fetch is asked for.
        let (_, needs) = w.eval(
            "all: [{resource: {kind: Service}}, {resource: {kind: Pod, log: {contains: x}}}]",
        );
        assert_eq!(needs.len(), 1);
    }

    #[test]
    fn seen_by_compares_with_the_first_probe() {
        let f: FieldMatch = serde_saphyr::from_str("{path: messages, seen_by: first}").unwrap();
        let old = serde_json::json!({"messages": [{"t": "a"}]});
        assert!(
            field_holds(
                &f,
                &serde_json::json!({"messages": [{"t": "a"}, {"t": "b"}]}),
                Some(&old),
                &EN
            )
            .is_ok()
        );
        assert!(
            field_holds(
                &f,
                &serde_json::json!({"messages": [{"t": "b"}]}),
                Some(&old),
                &EN
            )
            .is_err()
        );
        let err = field_holds(&f, &serde_json::json!({"messages": []}), None, &EN);
        assert_eq!(
            err,
            Err("nothing was seen by `first` to compare with".into())
        );
        let err = field_holds(&f, &serde_json::json!({"messages": []}), None, &FR);
        assert_eq!(err, Err("rien n'a été vu par `first` pour comparer".into()));
    }

    #[test]
    fn a_timed_out_fetch_is_worded_in_the_course_language() {
        assert_eq!(fetch_error(FETCH_TIMED_OUT, &EN), "no answer within 5 s");
        assert_eq!(fetch_error(FETCH_TIMED_OUT, &FR), "pas de réponse en 5 s");
        assert_eq!(fetch_error("connection refused", &FR), "connection refused");
    }

    #[test]
    fn details_follow_the_course_language() {
        let yaml = "{path: data.k, equals: b}";
        let f: FieldMatch = serde_saphyr::from_str(yaml).unwrap();
        let obj = serde_json::json!({"data": {"k": "a"}});
        assert_eq!(
            field_holds(&f, &obj, None, &EN),
            Err("data.k is \"a\", not \"b\"".into())
        );
        assert_eq!(
            field_holds(&f, &obj, None, &FR),
            Err("data.k vaut \"a\", pas \"b\"".into())
        );
    }
}
