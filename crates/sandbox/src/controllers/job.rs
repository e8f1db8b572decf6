//! Jobs → Pods until `completions` pods succeeded, or `backoffLimit`
//! failures: status counts, conditions and events as upstream's job
//! controller writes them.

use crate::machinery::resources;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::controllers::replicaset::pod_from_template;
use crate::machinery::meta::name_of;
use crate::machinery::meta::{is_terminating, set_condition, uid_of};
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

pub fn reconcile(rt: &Arc<Runtime>) {
    let (jobs, _) = rt.store.list(&resources::JOBS, None);
    if jobs.is_empty() {
        return;
    }
    let (pods, _) = rt.store.list_stored(&resources::PODS, None);
    for job in jobs {
        if is_terminating(&job) {
            continue;
        }
        let uid = uid_of(&job);
        let owned = crate::controllers::owned_by(&pods, uid);
        sync(rt, &job, &owned);
    }
}

fn finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
    })
}

const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(600);

/// When a pod finished: its containers' last finishedAt.
fn finished_at(p: &Value) -> Option<jiff::Timestamp> {
    p["status"]["containerStatuses"]
        .as_array()?
        .iter()
        .filter_map(|c| c["state"]["terminated"]["finishedAt"].as_str())
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .max()
}

/// How long the job controller still waits before replacing a failed pod
/// (upstream's pod failure back-off); zero when it may create one now.
fn failure_backoff(owned: &[Arc<Value>]) -> Duration {
    let phase = |p: &Value| p["status"]["phase"].as_str().unwrap_or("").to_string();
    let last_success = owned
        .iter()
        .filter(|p| phase(p) == "Succeeded")
        .filter_map(|p| finished_at(p))
        .max();
    let failures: Vec<jiff::Timestamp> = owned
        .iter()
        .filter(|p| phase(p) == "Failed")
        .filter_map(|p| finished_at(p))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let Some(last) = failures.iter().max() else {
        return Duration::ZERO;
    };
    let mut backoff = POD_FAILURE_BACKOFF;
    for _ in 1..failures.len() {
        backoff = (backoff * 2).min(MAX_POD_FAILURE_BACKOFF);
    }
    let elapsed = jiff::Timestamp::now().duration_since(*last).unsigned_abs();
    backoff.saturating_sub(elapsed)
}

fn sync(rt: &Runtime, job: &Value, owned: &[Arc<Value>]) {
    let spec = &job["spec"];
    let completions = spec["completions"].as_i64().unwrap_or(1);
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = spec["backoffLimit"].as_i64().unwrap_or(6);
    let suspended = spec["suspend"].as_bool().unwrap_or(false);
    let phase = |p: &Value| p["status"]["phase"].as_str().unwrap_or("").to_string();
    let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed_pods = owned.iter().filter(|p| phase(p) == "Failed").count() as i64;
    // With restartPolicy OnFailure, container restarts count as failures.
    let restarts: i64 = owned
        .iter()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let failed = failed_pods + restarts;
    let active: Vec<&Arc<Value>> = owned
        .iter()
        .filter(|p| {
            let ph = phase(p);
            ph != "Succeeded" && ph != "Failed" && !is_terminating(p)
        })
        .collect();
    let ready = active
        .iter()
        .filter(|p| crate::machinery::meta::pod_ready(p))
        .count() as i64;
    let done = finished(job);
    let mut st = job["status"].clone();
    if !st.is_object() {
        st = json!({});
    }
    let mut conds = st["conditions"].take();
    let now = crate::machinery::meta::now_rfc3339();
    if !done && !suspended {
        if succeeded >= completions {
            mark_complete(rt, job, &mut conds, &mut st, &now);
        } else if failed > backoff_limit {
            mark_failed(rt, job, &mut conds, &active);
        } else {
            let want = parallelism.min(completions - succeeded).max(0);
            start_pods(rt, job, owned, want - active.len() as i64);
        }
    }
    if st["startTime"].is_null() && !suspended {
        st["startTime"] = json!(now);
    }
    let finished_now = {
        let c = &conds;
        c.as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        })
    };
    let set = |st: &mut Value, k: &str, v: i64| {
        if v > 0 {
            st[k] = json!(v);
        } else if let Some(m) = st.as_object_mut() {
            m.remove(k);
        }
    };
    set(
        &mut st,
        "active",
        if finished_now { 0 } else { active.len() as i64 },
    );
    set(&mut st, "succeeded", succeeded);
    set(&mut st, "failed", failed);
    st["ready"] = json!(ready);
    st["terminating"] = json!(0);
    st["uncountedTerminatedPods"] = json!({});
    if conds.as_array().is_some_and(|c| !c.is_empty()) {
        st["conditions"] = conds;
    } else if let Some(m) = st.as_object_mut() {
        m.remove("conditions");
    }
    if job["status"] != st {
        let mut n = job.clone();
        n["status"] = st;
        rt.put(&resources::JOBS, n);
    }
}

/// The job reached its completions: the Complete condition, its time and
/// the event.
fn mark_complete(rt: &Runtime, job: &Value, conds: &mut Value, st: &mut Value, now: &str) {
    set_condition(
        conds,
        "SuccessCriteriaMet",
        "True",
        Some("CompletionsReached"),
        Some("Reached expected number of succeeded pods"),
        false,
    );
    set_condition(
        conds,
        "Complete",
        "True",
        Some("CompletionsReached"),
        Some("Reached expected number of succeeded pods"),
        false,
    );
    st["completionTime"] = json!(now);
    rt.events.record(
        job,
        None,
        Kind::Normal,
        "Completed",
        "Job completed",
        "job-controller",
    );
}

/// The job failed more than its backoffLimit: the Failed condition, the
/// event, and its running pods stopped.
fn mark_failed(rt: &Runtime, job: &Value, conds: &mut Value, active: &[&Arc<Value>]) {
    set_condition(
        conds,
        "FailureTarget",
        "True",
        Some("BackoffLimitExceeded"),
        Some("Job has reached the specified backoff limit"),
        false,
    );
    set_condition(
        conds,
        "Failed",
        "True",
        Some("BackoffLimitExceeded"),
        Some("Job has reached the specified backoff limit"),
        false,
    );
    rt.events.record(
        job,
        None,
        Kind::Warning,
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
        "job-controller",
    );
    // Upstream stops the job's running pods.
    for p in active {
        let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
        let _ = rt.delete(&resources::PODS, ns, name_of(p), &Default::default());
    }
}

/// Starts up to `missing` pods, unless a failed pod's back-off is still
/// running.
fn start_pods(rt: &Runtime, job: &Value, owned: &[Arc<Value>], missing: i64) {
    // A failed pod is replaced after a back-off: 10s, doubling
    // with each failure since the last success, up to 10 minutes.
    // (The control loop's resync comes back to it.)
    let wait = failure_backoff(owned);
    for _ in 0..missing {
        if !wait.is_zero() {
            break;
        }
        let pod = pod_from_template(job, &job["spec"]["template"], &format!("{}-", name_of(job)));
        match rt.try_create(&resources::PODS, pod) {
            Ok(p) => rt.events.record(
                job,
                None,
                Kind::Normal,
                "SuccessfulCreate",
                format!("Created pod: {}", name_of(&p)),
                "job-controller",
            ),
            Err(e) => {
                rt.events.record(
                    job,
                    None,
                    Kind::Warning,
                    "FailedCreate",
                    format!("Error creating: {}", e.message),
                    "job-controller",
                );
                break;
            }
        }
    }
}
