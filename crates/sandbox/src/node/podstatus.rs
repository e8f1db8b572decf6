//! `pod.status` from the kubelet's state: the phase, the conditions, and
//! each container's status (state, last state, restarts, ready, image).

use serde_json::{Value, json};

use crate::images;
use crate::machinery::meta::{lock, set_condition};
use crate::machinery::resources;
use crate::node::Node;
use crate::node::kubelet::{CtrRt, CtrState, PodRt, State};

/// A stable fake image digest for `imageID`.
pub(crate) fn image_id(image: &str) -> String {
    let repo = images::image_repository(image);
    let repo = if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    let mut digest = String::new();
    for seed in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in image.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        digest.push_str(&format!("{h:016x}"));
    }
    format!("{repo}@sha256:{digest}")
}

fn container_status(c: &CtrRt) -> Value {
    let s = c.state();
    let mut v = json!({
        "name": c.name,
        "image": c.image(),
        "imageID": if s.started_once { json!(image_id(&c.image())) } else { json!("") },
        "ready": s.ready,
        "restartCount": s.restarts,
        "started": matches!(s.state, State::Running { .. }),
        "state": s.state.to_json(&format!("containerd://{}", s.container_id)),
        "lastState": match &s.last {
            Some(l) => l.to_json(&format!("containerd://{}", s.last_container_id)),
            None => json!({}),
        },
    });
    if !s.container_id.is_empty() {
        v["containerID"] = json!(format!("containerd://{}", s.container_id));
    }
    if let Some(mounts) = c.spec["volumeMounts"].as_array() {
        v["volumeMounts"] = json!(
            mounts
                .iter()
                .map(|m| {
                    let mut o = json!({"name": m["name"], "mountPath": m["mountPath"]});
                    if m["readOnly"].as_bool() == Some(true) {
                        o["readOnly"] = json!(true);
                        o["recursiveReadOnly"] = json!("Disabled");
                    }
                    o
                })
                .collect::<Vec<_>>()
        );
    }
    v
}

/// The pod's status from the containers' states. `terminal`: the pod is
/// being deleted and its containers have stopped, so its phase is final
/// (Succeeded when every container exited 0, else Failed), as the kubelet
/// writes it before the pod goes.
fn pod_status(prt: &PodRt, old: &Value, terminal: bool) -> Value {
    let policy = prt.pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always");
    let setup_done = lock(&prt.volumes).is_some();
    let init_done = *lock(&prt.init_done);
    let states: Vec<CtrState> = prt.containers.iter().map(|c| c.state()).collect();
    let init_states: Vec<CtrState> = prt.init.iter().map(|c| c.state()).collect();
    let evicted = lock(&prt.evicted).clone();
    let phase = pod_phase(
        policy,
        &states,
        &init_states,
        init_done,
        terminal,
        evicted.is_some(),
    );
    let mut st = json!({});
    st["phase"] = json!(phase);
    if let Some(message) = &evicted {
        st["reason"] = json!("Evicted");
        st["message"] = json!(message);
    }
    st["conditions"] = pod_conditions(
        prt,
        &old["conditions"],
        phase,
        &states,
        setup_done,
        init_done,
        evicted.as_deref(),
    );
    st["hostIP"] = json!("127.0.0.1");
    st["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
    st["podIP"] = json!(prt.ip);
    st["podIPs"] = json!([{"ip": prt.ip}]);
    st["startTime"] = json!(prt.start_time);
    if !old["qosClass"].is_null() {
        st["qosClass"] = old["qosClass"].clone();
    }
    set_container_statuses(prt, old, &mut st);
    st
}

/// The pod's phase: final when evicted or `terminal`, Failed once an init
/// container failed for good, Pending until every container ran, then
/// from the containers' states and the restart policy.
fn pod_phase(
    policy: &str,
    states: &[CtrState],
    init_states: &[CtrState],
    init_done: bool,
    terminal: bool,
    evicted: bool,
) -> &'static str {
    let init_failed = init_states.iter().any(|s| {
        policy == "Never"
            && matches!(s.state, State::Terminated { exit_code, .. } if exit_code != 0)
    });
    let never_ran = states.iter().any(|s| !s.started_once);
    let running = states
        .iter()
        .any(|s| matches!(s.state, State::Running { .. }));
    let restarting = states
        .iter()
        .any(|s| matches!(s.state, State::Waiting { .. }) && s.started_once);
    let all_terminated = !states.is_empty()
        && states
            .iter()
            .all(|s| matches!(s.state, State::Terminated { .. }));
    let all_ok = states
        .iter()
        .all(|s| matches!(s.state, State::Terminated { exit_code: 0, .. }));
    if evicted {
        "Failed"
    } else if terminal {
        if !states.is_empty() && all_ok {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if init_failed {
        "Failed"
    } else if !init_done || never_ran {
        "Pending"
    } else if running || restarting {
        "Running"
    } else if all_terminated {
        match policy {
            "Always" => "Running",
            "OnFailure" if !all_ok => "Running",
            _ if all_ok => "Succeeded",
            _ => "Failed",
        }
    } else {
        "Running"
    }
}

/// The pod's conditions, updated from `old` (so unchanged ones keep their
/// transition times) and in the order the kubelet lists them.
fn pod_conditions(
    prt: &PodRt,
    old: &Value,
    phase: &str,
    states: &[CtrState],
    setup_done: bool,
    init_done: bool,
    evicted: Option<&str>,
) -> Value {
    let mut conds = old.clone();
    if let Some(message) = evicted {
        set_condition(
            &mut conds,
            "DisruptionTarget",
            "True",
            Some("TerminationByKubelet"),
            Some(message),
            false,
        );
    }
    let tf = |b: bool| if b { "True" } else { "False" };
    set_condition(
        &mut conds,
        "PodReadyToStartContainers",
        tf(setup_done),
        None,
        None,
        false,
    );
    if init_done {
        set_condition(&mut conds, "Initialized", "True", None, None, false);
    } else {
        let names: Vec<&str> = prt.init.iter().map(|c| c.name.as_str()).collect();
        let msg = format!("containers with incomplete status: [{}]", names.join(" "));
        set_condition(
            &mut conds,
            "Initialized",
            "False",
            Some("ContainersNotInitialized"),
            Some(&msg),
            false,
        );
    }
    let finished = phase == "Succeeded" || phase == "Failed";
    let unready: Vec<&str> = prt
        .containers
        .iter()
        .zip(states)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    if unready.is_empty() && !finished {
        set_condition(&mut conds, "Ready", "True", None, None, false);
        set_condition(&mut conds, "ContainersReady", "True", None, None, false);
    } else {
        let reason = match phase {
            "Succeeded" => "PodCompleted",
            "Failed" => "PodFailed",
            _ => "ContainersNotReady",
        };
        let msg =
            (!finished).then(|| format!("containers with unready status: [{}]", unready.join(" ")));
        set_condition(
            &mut conds,
            "Ready",
            "False",
            Some(reason),
            msg.as_deref(),
            false,
        );
        set_condition(
            &mut conds,
            "ContainersReady",
            "False",
            Some(reason),
            msg.as_deref(),
            false,
        );
    }
    set_condition(&mut conds, "PodScheduled", "True", None, None, false);
    if let Some(list) = conds.as_array_mut() {
        const ORDER: &[&str] = &[
            "DisruptionTarget",
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ];
        list.sort_by_key(|c| ORDER.iter().position(|o| c["type"] == *o).unwrap_or(99));
        for c in list.iter_mut() {
            if c.get("lastProbeTime").is_none() {
                c["lastProbeTime"] = Value::Null;
            }
        }
    }
    conds
}

/// The statuses of the app, ephemeral and init containers into `st`.
fn set_container_statuses(prt: &PodRt, old: &Value, st: &mut Value) {
    st["containerStatuses"] = json!(
        prt.containers
            .iter()
            .map(|c| container_status(c))
            .collect::<Vec<_>>()
    );
    // Ephemeral containers this kubelet ran, and those that ran before.
    let ephemeral = lock(&prt.ephemeral).clone();
    let mut eph: Vec<Value> = old["ephemeralContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !ephemeral.iter().any(|c| s["name"] == c.name.as_str()))
        .collect();
    eph.extend(ephemeral.iter().map(|c| container_status(c)));
    if !eph.is_empty() {
        st["ephemeralContainerStatuses"] = json!(eph);
    }
    if !prt.init.is_empty() {
        st["initContainerStatuses"] = json!(
            prt.init
                .iter()
                .map(|c| container_status(c))
                .collect::<Vec<_>>()
        );
    }
}

pub(crate) fn write_status(node: &Node, pod: &Value, prt: &PodRt) {
    if pod["metadata"]["uid"].as_str() != Some(prt.uid.as_str()) {
        return;
    }
    let terminal = crate::machinery::meta::is_terminating(pod) && prt.is_stopped();
    let st = pod_status(prt, &pod["status"], terminal);
    if pod["status"] != st {
        let mut n = pod.clone();
        n["status"] = st;
        node.put_as("kubelet", &resources::PODS, n);
    }
}
