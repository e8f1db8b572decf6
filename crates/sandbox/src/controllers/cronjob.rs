//! CronJobs → Jobs at the times their schedule names, in their time zone,
//! as upstream's cronjob controller (v2) does: the most recent missed time
//! only (never a backlog), `startingDeadlineSeconds`, the concurrency
//! policy (`Allow`, `Forbid`, `Replace`), `suspend`, jobs named
//! `<cronjob>-<minutes since the epoch>`, finished jobs pruned to the
//! history limits, and upstream's events and status (`active`,
//! `lastScheduleTime`, `lastSuccessfulTime`). Jobs made by `kubectl create
//! job --from=cronjob/X` have a plain (not controller) owner reference:
//! the controller leaves them alone and the garbage collector deletes
//! them with the CronJob.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::machinery::cron::{Schedule, load_zone};
use crate::machinery::meta::{
    is_terminating, lock, name_of, namespace_of, owner_ref, rfc3339, uid_of,
};
use crate::machinery::resources;
use crate::registry::deletion::{DeleteOptions, Propagation};
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

const COMPONENT: &str = "cronjob-controller";
const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// What the controller remembers between passes: the scheduled time each
/// CronJob last warned about (a skipped or missed run is told once, as
/// upstream's queue comes back once per scheduled time).
#[derive(Default)]
pub(crate) struct Memory {
    warned: Mutex<HashMap<String, i64>>,
}

pub(crate) fn reconcile(rt: &Arc<Runtime>, memory: &Memory) {
    let (cjs, _) = rt.store.list(&resources::CRON_JOBS, None);
    if cjs.is_empty() {
        lock(&memory.warned).clear();
        return;
    }
    // Forget CronJobs that are gone (the memory stays bounded).
    lock(&memory.warned).retain(|uid, _| cjs.iter().any(|c| uid_of(c) == uid));
    let (jobs, _) = rt.store.list(&resources::JOBS, None);
    let now = Timestamp::now();
    for cj in cjs {
        let mine: Vec<Arc<Value>> = jobs
            .iter()
            .filter(|j| namespace_of(j) == namespace_of(&cj) && controlled_by(j, &cj))
            .cloned()
            .collect();
        sync(rt, memory, &cj, &mine, now);
    }
}

/// Upstream reconciles the jobs whose controller reference names the CronJob.
fn controlled_by(job: &Value, cj: &Value) -> bool {
    job["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["controller"] == true && r["kind"] == "CronJob" && r["name"] == name_of(cj))
}

/// `Complete` or `Failed`, when the job has finished.
fn finished(job: &Value) -> Option<&'static str> {
    let conds = job["status"]["conditions"].as_array()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conds
            .iter()
            .any(|c| c["type"] == *t && c["status"] == "True")
    })
}

fn parse_time(v: &Value) -> Option<Timestamp> {
    v.as_str()?.parse().ok()
}

struct Pass<'a> {
    rt: &'a Runtime,
    cj: &'a Value,
    /// The status being built.
    status: Value,
}

impl Pass<'_> {
    fn event(&self, kind: Kind, reason: &str, message: String) {
        self.rt
            .events
            .record(self.cj, None, kind, reason, message, COMPONENT);
    }

    fn push_active(&mut self, reference: Value) {
        if !self.status["active"].is_array() {
            self.status["active"] = json!([]);
        }
        if let Some(a) = self.status["active"].as_array_mut() {
            a.push(reference);
        }
    }

    fn in_active(&self, uid: &str) -> bool {
        self.status["active"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["uid"] == uid))
    }

    fn drop_active(&mut self, uid: &str) {
        if let Some(a) = self.status["active"].as_array_mut() {
            a.retain(|r| r["uid"] != uid);
        }
    }

    /// Deletes a job (its pods go with it) and forgets it.
    fn delete_job(&mut self, job: &Value) -> bool {
        let r = self.rt.delete(
            &resources::JOBS,
            namespace_of(job),
            name_of(job),
            &DeleteOptions {
                propagation: Some(Propagation::Background),
                ..DeleteOptions::default()
            },
        );
        match r {
            Ok(_) => {
                self.drop_active(uid_of(job));
                self.event(
                    Kind::Normal,
                    "SuccessfulDelete",
                    format!("Deleted job {}", name_of(job)),
                );
                true
            }
            Err(e) => {
                self.event(
                    Kind::Warning,
                    "FailedDelete",
                    format!("Deleted job: {}", e.message),
                );
                false
            }
        }
    }
}

fn sync(rt: &Runtime, memory: &Memory, cj: &Value, jobs: &[Arc<Value>], now: Timestamp) {
    let mut status = cj["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let mut pass = Pass { rt, cj, status };
    cleanup(&mut pass, jobs);
    reconcile_children(&mut pass, jobs);
    if !is_terminating(cj) {
        schedule(&mut pass, memory, now);
    }
    if pass.status["active"]
        .as_array()
        .is_some_and(|a| a.is_empty())
        && let Some(m) = pass.status.as_object_mut()
    {
        m.remove("active");
    }
    let old = if cj["status"].is_object() {
        cj["status"].clone()
    } else {
        json!({})
    };
    if pass.status != old {
        let mut n = cj.clone();
        n["status"] = pass.status;
        rt.put(&resources::CRON_JOBS, n);
    }
}

/// Finished jobs beyond the history limits go, oldest first.
fn cleanup(pass: &mut Pass<'_>, jobs: &[Arc<Value>]) {
    for (outcome, limit) in [
        ("Complete", "successfulJobsHistoryLimit"),
        ("Failed", "failedJobsHistoryLimit"),
    ] {
        let Some(limit) = pass.cj["spec"][limit].as_i64() else {
            continue;
        };
        let mut done: Vec<&Arc<Value>> = jobs
            .iter()
            .filter(|j| !is_terminating(j) && finished(j) == Some(outcome))
            .collect();
        // By start time (jobs that never started last), then name.
        done.sort_by(|a, b| {
            let key = |j: &Value| {
                (
                    parse_time(&j["status"]["startTime"]).is_none(),
                    parse_time(&j["status"]["startTime"]),
                    name_of(j).to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        let extra = done.len().saturating_sub(limit.max(0) as usize);
        for job in done.into_iter().take(extra) {
            pass.delete_job(job);
        }
    }
}

/// Notices jobs that finished, vanished or were never recorded.
fn reconcile_children(pass: &mut Pass<'_>, jobs: &[Arc<Value>]) {
    for j in jobs {
        let uid = uid_of(j);
        let known = pass.in_active(uid);
        match finished(j) {
            None if !known && !is_terminating(j) => {
                pass.rt.events.record_once(
                    pass.cj,
                    Kind::Warning,
                    "UnexpectedJob",
                    format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        name_of(j)
                    ),
                    COMPONENT,
                );
            }
            Some(condition) if known => {
                pass.drop_active(uid);
                pass.event(
                    Kind::Normal,
                    "SawCompletedJob",
                    format!("Saw completed job: {}, condition: {condition}", name_of(j)),
                );
            }
            _ => {}
        }
        if finished(j) == Some("Complete")
            && let Some(done) = parse_time(&j["status"]["completionTime"])
            && parse_time(&pass.status["lastSuccessfulTime"]).is_none_or(|t| done > t)
        {
            pass.status["lastSuccessfulTime"] = json!(rfc3339(done));
        }
    }
    let missing: Vec<(String, String)> = pass.status["active"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !jobs.iter().any(|j| r["uid"] == uid_of(j)))
        .map(|r| {
            (
                r["uid"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (uid, name) in missing {
        if pass
            .rt
            .store
            .get(&resources::JOBS, namespace_of(pass.cj), &name)
            .is_none_or(|j| uid_of(&j) != uid)
        {
            pass.event(
                Kind::Normal,
                "MissingJob",
                format!("Active job went missing: {name}"),
            );
            pass.drop_active(&uid);
        }
    }
}

/// The most recent scheduled time not after `now` and after the last one
/// run (or the creation), with how many were missed; Err when the
/// schedule never comes twice.
fn most_recent(
    cj: &Value,
    sched: &Schedule,
    now: Timestamp,
) -> Result<Option<(Timestamp, i64)>, String> {
    let mut earliest = parse_time(&cj["status"]["lastScheduleTime"])
        .or_else(|| parse_time(&cj["metadata"]["creationTimestamp"]))
        .unwrap_or(now);
    if let Some(deadline) = cj["spec"]["startingDeadlineSeconds"].as_i64() {
        let limit = Timestamp::from_second(now.as_second() - deadline).unwrap_or(now);
        if limit > earliest {
            earliest = limit;
        }
    }
    let never = || "time difference between two schedules is less than 1 second".to_string();
    let Some(t1) = sched.next(earliest) else {
        return Err(never());
    };
    if now < t1 {
        return Ok(None);
    }
    let Some(t2) = sched.next(t1) else {
        return Err(never());
    };
    if now < t2 {
        return Ok(Some((t1, 1)));
    }
    let between = t2.as_second() - t1.as_second();
    if between < 1 {
        return Err(never());
    }
    let missed = (now.as_second() - t1.as_second()) / between + 1;
    let start = Timestamp::from_second(t1.as_second() + (missed - 2) * between).unwrap_or(t1);
    let mut recent = None;
    let mut t = sched.next(start);
    // Bounded: the walk starts about two intervals before `now`.
    for _ in 0..10_000 {
        match t {
            Some(x) if x <= now => {
                recent = Some(x);
                t = sched.next(x);
            }
            _ => break,
        }
    }
    Ok(recent.map(|r| (r, missed)))
}

fn warn_once(memory: &Memory, cj: &Value, slot: Timestamp) -> bool {
    let mut warned = lock(&memory.warned);
    let key = uid_of(cj).to_string();
    if warned.get(&key) == Some(&slot.as_second()) {
        return false;
    }
    warned.insert(key, slot.as_second());
    true
}

/// Starts the job of the most recent scheduled time, if it is due.
fn schedule(pass: &mut Pass<'_>, memory: &Memory, now: Timestamp) {
    let cj = pass.cj;
    let spec = &cj["spec"];
    let tz_name = spec["timeZone"].as_str();
    let zone = match tz_name.map(load_zone) {
        None => jiff::tz::TimeZone::UTC,
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            pass.rt.events.record_once(
                cj,
                Kind::Warning,
                "UnknownTimeZone",
                format!("invalid timeZone: {:?}: {e}", tz_name.unwrap_or("")),
                COMPONENT,
            );
            return;
        }
    };
    if spec["suspend"] == true {
        return;
    }
    let text = spec["schedule"].as_str().unwrap_or("");
    if text.contains("TZ") {
        pass.rt.events.record_once(cj, Kind::Warning, "UnsupportedSchedule", format!("CRON_TZ or TZ used in schedule {text:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"), COMPONENT);
    }
    let sched = match Schedule::parse(text, &zone) {
        Ok(s) => s,
        Err(e) => {
            pass.rt.events.record_once(
                cj,
                Kind::Warning,
                "UnparseableSchedule",
                format!("unparseable schedule: {text:?} : {e}"),
                COMPONENT,
            );
            return;
        }
    };
    let (slot, missed) = match most_recent(cj, &sched, now) {
        Ok(Some(x)) => x,
        Ok(None) => return,
        Err(e) => {
            pass.rt.events.record_once(
                cj,
                Kind::Warning,
                "InvalidSchedule",
                format!("invalid schedule: {text} : {e}"),
                COMPONENT,
            );
            return;
        }
    };
    if missed > 100 && warn_once(memory, cj, slot) {
        pass.event(Kind::Warning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into());
    }
    if let Some(deadline) = spec["startingDeadlineSeconds"].as_i64()
        && slot.as_second() + deadline < now.as_second()
    {
        if warn_once(memory, cj, slot) {
            let when = slot
                .to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%a, %d %b %Y %H:%M:%S +0000");
            pass.event(
                Kind::Warning,
                "MissSchedule",
                format!("Missed scheduled time to start a job: {when}"),
            );
        }
        return;
    }
    let job_name = format!("{}-{}", name_of(cj), slot.as_second().div_euclid(60));
    let done_already = pass.status["active"]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["name"] == job_name.as_str()))
        || parse_time(&pass.status["lastScheduleTime"]) == Some(slot);
    if done_already {
        return;
    }
    let policy = spec["concurrencyPolicy"].as_str().unwrap_or("Allow");
    let running = pass.status["active"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if policy == "Forbid" && running {
        if warn_once(memory, cj, slot) {
            pass.event(Kind::Normal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid".into());
        }
        return;
    }
    if policy == "Replace" {
        let refs: Vec<Value> = pass.status["active"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for r in refs {
            let name = r["name"].as_str().unwrap_or("");
            match pass.rt.store.get(&resources::JOBS, namespace_of(cj), name) {
                Some(job) => {
                    if !pass.delete_job(&job) {
                        return;
                    }
                }
                None => {
                    pass.event(
                        Kind::Warning,
                        "FailedGet",
                        format!("Get job: jobs.batch {name:?} not found"),
                    );
                    return;
                }
            }
        }
    }
    create_job(pass, &zone, slot, &job_name);
}

fn create_job(pass: &mut Pass<'_>, zone: &jiff::tz::TimeZone, slot: Timestamp, job_name: &str) {
    let cj = pass.cj;
    let template = &cj["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    // RFC 3339 as Go writes it: `Z` for a zero offset.
    let at = slot
        .to_zoned(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let at = match at.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => at,
    };
    annotations[SCHEDULED_ANNOTATION] = json!(at);
    let mut meta = json!({
        "name": job_name,
        "namespace": namespace_of(cj),
        "annotations": annotations,
        "ownerReferences": [owner_ref(cj)],
    });
    if template["metadata"]["labels"].is_object() {
        meta["labels"] = template["metadata"]["labels"].clone();
    }
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": template["spec"]});
    let created = match pass.rt.try_create(&resources::JOBS, job) {
        Ok(j) => {
            pass.event(
                Kind::Normal,
                "SuccessfulCreate",
                format!("Created job {job_name}"),
            );
            j
        }
        Err(e) if e.reason == "AlreadyExists" => {
            match pass
                .rt
                .store
                .get(&resources::JOBS, namespace_of(cj), job_name)
            {
                Some(j) if controlled_by(&j, cj) && !pass.in_active(uid_of(&j)) => j,
                _ => return,
            }
        }
        Err(e) => {
            pass.event(
                Kind::Warning,
                "FailedCreate",
                format!("Error creating job: {}", e.message),
            );
            return;
        }
    };
    let reference = json!({
        "kind": "Job",
        "namespace": namespace_of(&created),
        "name": name_of(&created),
        "uid": uid_of(&created),
        "apiVersion": "batch/v1",
        "resourceVersion": created["metadata"]["resourceVersion"],
    });
    pass.push_active(reference);
    pass.status["lastScheduleTime"] = json!(rfc3339(slot));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cj(schedule: &str, created: &str, last: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": "hello", "creationTimestamp": created}, "spec": {"schedule": schedule}});
        if let Some(l) = last {
            c["status"]["lastScheduleTime"] = json!(l);
        }
        c
    }

    fn recent(c: &Value, now: &str) -> Option<String> {
        let s = Schedule::parse(
            c["spec"]["schedule"].as_str().unwrap(),
            &jiff::tz::TimeZone::UTC,
        )
        .unwrap();
        most_recent(c, &s, now.parse().unwrap())
            .unwrap()
            .map(|(t, _)| t.to_string())
    }

    #[test]
    fn the_most_recent_missed_time_only() {
        let c = cj("*/1 * * * *", "2025-01-01T10:00:30Z", None);
        assert_eq!(recent(&c, "2025-01-01T10:00:59Z"), None);
        assert_eq!(
            recent(&c, "2025-01-01T10:01:00Z").as_deref(),
            Some("2025-01-01T10:01:00Z")
        );
        // Ten minutes late: only the last one.
        assert_eq!(
            recent(&c, "2025-01-01T10:10:20Z").as_deref(),
            Some("2025-01-01T10:10:00Z")
        );
        let done = cj(
            "*/1 * * * *",
            "2025-01-01T10:00:30Z",
            Some("2025-01-01T10:10:00Z"),
        );
        assert_eq!(recent(&done, "2025-01-01T10:10:40Z"), None);
        let never = cj("0 0 30 2 *", "2025-01-01T00:00:00Z", None);
        let s = Schedule::parse("0 0 30 2 *", &jiff::tz::TimeZone::UTC).unwrap();
        assert!(most_recent(&never, &s, "2025-06-01T00:00:00Z".parse().unwrap()).is_err());
    }

    /// A runtime on a fresh store, and a CronJob in it.
    fn setup(policy: &str) -> (tempfile::TempDir, Arc<Runtime>, Arc<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let registry = crate::registry::pipeline::Registry::for_test(&dir.path().join("db"));
        let root = crate::hostfs::SandboxRoot::new(dir.path().join("root")).unwrap();
        let rt = Runtime::new(
            registry,
            root,
            crate::runtime::RuntimeConfig::default(),
            tokio_util::sync::CancellationToken::new(),
        );
        rt.create(&resources::NAMESPACES, json!({"metadata": {"name": "ns"}}));
        let cj = rt
            .try_create(
                &resources::CRON_JOBS,
                json!({"metadata": {"name": "tick", "namespace": "ns"}, "spec": {
                    "schedule": "*/1 * * * *", "concurrencyPolicy": policy,
                    "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
            )
            .unwrap();
        (dir, rt, cj)
    }

    /// One pass at `now`, as the controller runs it.
    fn pass(rt: &Runtime, memory: &Memory, at: Timestamp) -> (Arc<Value>, Vec<String>) {
        let cj = rt.store.get(&resources::CRON_JOBS, "ns", "tick").unwrap();
        let (jobs, _) = rt.store.list(&resources::JOBS, Some("ns"));
        let mine: Vec<Arc<Value>> = jobs.into_iter().filter(|j| controlled_by(j, &cj)).collect();
        sync(rt, memory, &cj, &mine, at);
        let cj = rt.store.get(&resources::CRON_JOBS, "ns", "tick").unwrap();
        let (jobs, _) = rt.store.list(&resources::JOBS, Some("ns"));
        let names = jobs
            .iter()
            .filter(|j| !is_terminating(j))
            .map(|j| name_of(j).to_string())
            .collect();
        (cj, names)
    }

    fn minute_after(cj: &Value, minutes: i64) -> Timestamp {
        let created: Timestamp = cj["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let next = (created.as_second() / 60 + minutes) * 60 + 5;
        Timestamp::from_second(next).unwrap()
    }

    #[test]
    fn concurrency_policies() {
        for policy in ["Allow", "Forbid", "Replace"] {
            let (_dir, rt, cj) = setup(policy);
            let memory = Memory::default();
            let (_, jobs) = pass(&rt, &memory, minute_after(&cj, 0));
            assert!(jobs.is_empty(), "{policy}: nothing due yet: {jobs:?}");
            let (now, jobs) = pass(&rt, &memory, minute_after(&cj, 1));
            assert_eq!(jobs.len(), 1, "{policy}");
            assert_eq!(now["status"]["active"].as_array().unwrap().len(), 1);
            let first = jobs[0].clone();
            // The first job still runs when the next minute comes.
            let (now, jobs) = pass(&rt, &memory, minute_after(&cj, 2));
            match policy {
                "Allow" => assert_eq!(jobs.len(), 2, "{jobs:?}"),
                "Forbid" => {
                    assert_eq!(jobs, std::slice::from_ref(&first));
                    assert_eq!(now["status"]["active"].as_array().unwrap().len(), 1);
                }
                _ => {
                    assert_eq!(jobs.len(), 1, "{jobs:?}");
                    assert_ne!(jobs[0], first, "replaced");
                }
            }
        }
    }

    #[test]
    fn jobs_are_named_by_the_minute() {
        let t: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(t.as_second() / 60, 28928160);
    }
}
