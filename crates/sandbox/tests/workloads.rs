//! StatefulSets, DaemonSets and CronJobs driven by a real kubectl against
//! the sandbox: ordinal order, claim naming and reuse, the claim retention
//! policies, partitioned rollouts and history, a DaemonSet's pod and its
//! rolling update, a CronJob firing on its schedule and `kubectl create
//! job --from`, and what kubectl prints for each (upstream's columns,
//! events and messages).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod harness;

use std::time::Duration;

use harness::{Env, header, row};

/// A bound for the controllers to get somewhere (not a timing expectation).
const BOUND: Duration = Duration::from_secs(60);

fn sts(name: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  clusterIP: None
  selector: {{app: {name}}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
spec:
  serviceName: {name}
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
{extra_spec}  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      # `sh` as PID 1 ignores SIGTERM: do not wait the default 30 s.
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:1.36
        command: [sh, -c, "sleep 3600"]
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

/// The events of an object, oldest first, as `reason: message` lines.
async fn events(env: &Env, name: &str) -> Vec<String> {
    let out = env
        .ok(
            &[
                "get",
                "events",
                "--field-selector",
                &format!("involvedObject.name={name}"),
                "-o",
                "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
            ],
            None,
        )
        .await;
    out.lines().map(str::to_string).collect()
}

fn position(lines: &[String], text: &str) -> usize {
    lines
        .iter()
        .position(|l| l == text)
        .unwrap_or_else(|| panic!("no event {text:?} in {lines:#?}"))
}

async fn ready_replicas(env: &Env, name: &str, n: u32) {
    let want = n.to_string();
    env.until(
        &["sts", name],
        "{.status.readyReplicas}/{.status.replicas}",
        BOUND,
        |v| v == format!("{want}/{want}"),
    )
    .await;
}

async fn uid(env: &Env, what: &[&str]) -> String {
    env.jsonpath(what, "{.metadata.uid}").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pods_come_in_order_with_their_own_claims_kept_across_pods() {
    let Some(env) = Env::start().await else {
        return;
    };
    let out = env.ok(&["apply", "-f", "-"], Some(&sts("db", 3, ""))).await;
    assert!(out.contains("statefulset.apps/db created"), "{out}");
    ready_replicas(&env, "db", 3).await;

    // Ordinal order: each pod was created once the one before was Ready.
    let created = "{.metadata.creationTimestamp}";
    let ready_at = "{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}";
    assert!(env.field("pod", "db-0", ready_at).await <= env.field("pod", "db-1", created).await);
    assert!(env.field("pod", "db-1", ready_at).await <= env.field("pod", "db-2", created).await);
    let ev = events(&env, "db").await;
    let order: Vec<usize> = [
        "SuccessfulCreate: create Claim data-db-0 Pod db-0 in StatefulSet db success",
        "SuccessfulCreate: create Pod db-0 in StatefulSet db successful",
        "SuccessfulCreate: create Claim data-db-1 Pod db-1 in StatefulSet db success",
        "SuccessfulCreate: create Pod db-1 in StatefulSet db successful",
        "SuccessfulCreate: create Pod db-2 in StatefulSet db successful",
    ]
    .iter()
    .map(|e| position(&ev, e))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{ev:#?}");

    // The pod's identity and its claim.
    let labels = env.jsonpath(&["pod", "db-1"], "{.metadata.labels}").await;
    assert!(
        labels.contains(r#""statefulset.kubernetes.io/pod-name":"db-1""#)
            && labels.contains(r#""apps.kubernetes.io/pod-index":"1""#),
        "{labels}"
    );
    assert_eq!(
        env.jsonpath(&["pod", "db-1"], "{.spec.hostname}.{.spec.subdomain}")
            .await,
        "db-1.db"
    );
    assert_eq!(
        env.jsonpath(
            &["pod", "db-1"],
            "{.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}"
        )
        .await,
        "data-db-1"
    );
    let pvc = env.ok(&["get", "pvc"], None).await;
    for n in 0..3 {
        let r = row(&pvc, &format!("data-db-{n}"));
        assert_eq!(r[1], "Bound", "{pvc}");
    }
    assert_eq!(
        env.jsonpath(&["pvc", "data-db-0"], "{.metadata.labels.app}")
            .await,
        "db"
    );

    // kubectl's views.
    let table = env.ok(&["get", "sts"], None).await;
    assert_eq!(header(&table), ["NAME", "READY", "AGE"]);
    assert_eq!(row(&table, "db")[1], "3/3");
    let wide = env.ok(&["get", "statefulsets", "-o", "wide"], None).await;
    assert_eq!(
        header(&wide),
        ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    );
    let d = env.ok(&["describe", "sts", "db"], None).await;
    for line in [
        "Replicas:           3 desired | 3 total",
        "Update Strategy:    RollingUpdate",
        "  Partition:        0",
        "Pods Status:        3 Running / 0 Waiting / 0 Succeeded / 0 Failed",
        "Volume Claims:",
        "  Name:          data",
        "  Capacity:      1Gi",
        "  Access Modes:  [ReadWriteOnce]",
        "create Claim data-db-0 Pod db-0 in StatefulSet db success",
    ] {
        assert!(d.contains(line), "no {line:?} in:\n{d}");
    }
    let svc = env
        .ok(&["get", "endpoints", "db", "-o", "yaml"], None)
        .await;
    assert!(svc.contains("hostname: db-0"), "{svc}");

    // A deleted pod comes back with its name and its claim.
    let claim1 = uid(&env, &["pvc", "data-db-1"]).await;
    let pod1 = uid(&env, &["pod", "db-1"]).await;
    env.ok(&["delete", "pod", "db-1"], None).await;
    env.until(&["pod", "db-1"], "{.metadata.uid}", BOUND, |u| {
        !u.is_empty() && u != pod1
    })
    .await;
    ready_replicas(&env, "db", 3).await;
    assert_eq!(uid(&env, &["pvc", "data-db-1"]).await, claim1);

    // Scaling down removes the highest ordinals first, and keeps the claims.
    env.ok(&["scale", "sts", "db", "--replicas=1"], None).await;
    env.until(
        &["pods", "-l", "app=db"],
        "{.items[*].metadata.name}",
        BOUND,
        |v| v == "db-0",
    )
    .await;
    let ev = events(&env, "db").await;
    assert!(
        position(
            &ev,
            "SuccessfulDelete: delete Pod db-2 in StatefulSet db successful"
        ) < position(
            &ev,
            "SuccessfulDelete: delete Pod db-1 in StatefulSet db successful"
        ),
        "{ev:#?}"
    );
    assert_eq!(
        env.jsonpath(&["pvc", "data-db-1"], "{.status.phase}").await,
        "Bound"
    );
    // ...and scaling up mounts them again.
    env.ok(&["scale", "sts", "db", "--replicas=2"], None).await;
    ready_replicas(&env, "db", 2).await;
    assert_eq!(uid(&env, &["pvc", "data-db-1"]).await, claim1);
    assert!(
        env.run(&["get", "pvc", "data-db-2"], None).await.ok,
        "whenScaled Retain keeps data-db-2"
    );

    // Only some fields may change.
    let err = env
        .fails(
            &[
                "patch",
                "sts",
                "db",
                "--type=merge",
                "-p",
                r#"{"spec":{"serviceName":"other"}}"#,
            ],
            None,
        )
        .await;
    assert!(
        err.contains("The StatefulSet \"db\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
        "{err}"
    );

    // Deleting the set (whenDeleted: Retain) keeps every claim.
    let out = env.ok(&["delete", "sts", "db"], None).await;
    assert!(out.contains("statefulset.apps \"db\" deleted"), "{out}");
    env.until(
        &["pods", "-l", "app=db"],
        "{.items[*].metadata.name}",
        BOUND,
        str::is_empty,
    )
    .await;
    let pvc = env.ok(&["get", "pvc", "-o", "name"], None).await;
    assert_eq!(
        pvc.lines().collect::<Vec<_>>(),
        [
            "persistentvolumeclaim/data-db-0",
            "persistentvolumeclaim/data-db-1",
            "persistentvolumeclaim/data-db-2"
        ]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_retention_policies_delete_claims_with_the_set_or_the_scaled_pod() {
    let Some(env) = Env::start().await else {
        return;
    };
    let policy =
        "  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}\n";
    env.ok(&["apply", "-f", "-"], Some(&sts("web", 2, policy)))
        .await;
    ready_replicas(&env, "web", 2).await;
    assert_eq!(
        env.jsonpath(&["pvc", "data-web-1"], "{.metadata.ownerReferences}")
            .await,
        ""
    );
    env.ok(&["scale", "sts", "web", "--replicas=1"], None).await;
    // The claim of the pod scaled away goes with it.
    let end = tokio::time::Instant::now() + BOUND;
    loop {
        let out = env.run(&["get", "pvc", "data-web-1"], None).await;
        if !out.ok && out.stderr.contains("NotFound") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "data-web-1 stays: {}",
            out.stdout
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Scaling up again makes a new, empty claim.
    env.ok(&["scale", "sts", "web", "--replicas=2"], None).await;
    ready_replicas(&env, "web", 2).await;
    assert_eq!(
        env.jsonpath(&["pvc", "data-web-1"], "{.status.phase}")
            .await,
        "Bound"
    );

    // whenDeleted: Delete: the claims belong to the set, and go with it.
    env.ok(
        &[
            "patch",
            "sts",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete"}}}"#,
        ],
        None,
    )
    .await;
    env.until(
        &["pvc", "data-web-0"],
        "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        BOUND,
        |v| v == "StatefulSet/web",
    )
    .await;
    env.ok(&["delete", "sts", "web"], None).await;
    env.until(&["pvc"], "{.items[*].metadata.name}", BOUND, str::is_empty)
        .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_rollouts_history_and_undo() {
    let Some(env) = Env::start().await else {
        return;
    };
    let partition =
        "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {partition: 2}\n";
    env.ok(&["apply", "-f", "-"], Some(&sts("db", 3, partition)))
        .await;
    ready_replicas(&env, "db", 3).await;
    let first = env
        .jsonpath(&["sts", "db"], "{.status.currentRevision}")
        .await;
    assert!(first.starts_with("db-"), "{first}");
    assert_eq!(
        env.jsonpath(&["sts", "db"], "{.status.updateRevision}")
            .await,
        first
    );
    let out = env
        .ok(&["set", "image", "sts/db", "main=busybox:1.37"], None)
        .await;
    assert!(out.contains("statefulset.apps/db image updated"), "{out}");
    let out = env
        .run_for(
            &["rollout", "status", "sts/db", "--timeout=90s"],
            None,
            Duration::from_secs(120),
        )
        .await;
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .trim_end()
            .ends_with("partitioned roll out complete: 1 new pods have been updated..."),
        "{}",
        out.stdout
    );
    let image = "{.spec.containers[0].image}";
    assert_eq!(env.field("pod", "db-2", image).await, "busybox:1.37");
    assert_eq!(env.field("pod", "db-1", image).await, "busybox:1.36");
    let second = env
        .jsonpath(&["sts", "db"], "{.status.updateRevision}")
        .await;
    assert_ne!(second, first);
    assert_eq!(
        env.jsonpath(&["sts", "db"], "{.status.currentRevision}")
            .await,
        first
    );
    assert_eq!(
        env.jsonpath(
            &["pod", "db-2"],
            "{.metadata.labels.controller-revision-hash}"
        )
        .await,
        second
    );

    let revs = env.ok(&["get", "controllerrevisions"], None).await;
    assert_eq!(header(&revs), ["NAME", "CONTROLLER", "REVISION", "AGE"]);
    assert_eq!(row(&revs, &first)[1..3], ["statefulset.apps/db", "1"]);
    assert_eq!(row(&revs, &second)[1..3], ["statefulset.apps/db", "2"]);
    let history = env.ok(&["rollout", "history", "sts/db"], None).await;
    assert_eq!(
        history.lines().take(4).collect::<Vec<_>>(),
        [
            "statefulset.apps/db ",
            "REVISION  CHANGE-CAUSE",
            "1         <none>",
            "2         <none>",
        ],
        "{history}"
    );

    // The whole set, then back to the first template.
    env.ok(
        &[
            "patch",
            "sts",
            "db",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
        ],
        None,
    )
    .await;
    let out = env
        .run_for(
            &["rollout", "status", "sts/db", "--timeout=90s"],
            None,
            Duration::from_secs(120),
        )
        .await;
    assert!(
        out.stdout
            .trim_end()
            .ends_with("partitioned roll out complete: 3 new pods have been updated..."),
        "{}{}",
        out.stdout,
        out.stderr
    );
    env.until(&["sts", "db"], "{.status.currentRevision}", BOUND, |v| {
        v == second
    })
    .await;
    assert_eq!(env.field("pod", "db-0", image).await, "busybox:1.37");
    let out = env.ok(&["rollout", "undo", "sts/db"], None).await;
    assert!(out.contains("statefulset.apps/db rolled back"), "{out}");
    env.until(&["controllerrevision", &first], "{.revision}", BOUND, |v| {
        v == "3"
    })
    .await;
    env.until(
        &["pod", "db-0"],
        "{.spec.containers[0].image}",
        Duration::from_secs(120),
        |v| v == "busybox:1.36",
    )
    .await;

    // OnDelete: a new template waits for the pods to be deleted.
    env.ok(
        &[
            "patch",
            "sts",
            "db",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null},"template":{"spec":{"containers":[{"name":"main","image":"busybox:1.38"}]}}}}"#,
        ],
        None,
    )
    .await;
    let out = env.run(&["rollout", "status", "sts/db"], None).await;
    assert!(
        out.stderr
            .contains("rollout status is only available for RollingUpdate strategy type"),
        "{}",
        out.stderr
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.field("pod", "db-2", image).await, "busybox:1.36");
    env.ok(&["delete", "pod", "db-2"], None).await;
    env.until(
        &["pod", "db-2"],
        "{.spec.containers[0].image}",
        BOUND,
        |v| v == "busybox:1.38",
    )
    .await;
    assert_eq!(env.field("pod", "db-1", image).await, "busybox:1.36");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_pods_and_validation_errors() {
    let Some(env) = Env::start().await else {
        return;
    };
    env.ok(
        &["apply", "-f", "-"],
        Some(&sts("fast", 3, "  podManagementPolicy: Parallel\n")),
    )
    .await;
    ready_replicas(&env, "fast", 3).await;
    let bad =
        sts("bad", 1, "  podManagementPolicy: Sometimes\n").replace("replicas: 1", "replicas: -1");
    let err = env.fails(&["apply", "-f", "-"], Some(&bad)).await;
    assert!(
        err.contains("spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'")
            && err.contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{err}"
    );
    let err = env
        .fails(
            &["apply", "-f", "-"],
            Some(&sts("odd", 1, "").replace("labels: {app: odd}", "labels: {app: other}")),
        )
        .await;
    assert!(
        err.contains("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"),
        "{err}"
    );
    // A claim template whose class does not exist: the claim stays Pending.
    let missing = sts("lost", 1, "").replace(
        "accessModes: [ReadWriteOnce]",
        "accessModes: [ReadWriteOnce]\n      storageClassName: no-such-class",
    );
    env.ok(&["apply", "-f", "-"], Some(&missing)).await;
    env.until(&["pvc", "data-lost-0"], "{.status.phase}", BOUND, |v| {
        v == "Pending"
    })
    .await;
    let d = env.ok(&["describe", "pvc", "data-lost-0"], None).await;
    assert!(
        d.contains("storageclass.storage.k8s.io \"no-such-class\" not found"),
        "{d}"
    );
    env.stop().await;
}

const DAEMON: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: busybox:1.36
        command: [sh, -c, "sleep 3600"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_one_pod_on_the_node_and_rolls_it() {
    let Some(env) = Env::start().await else {
        return;
    };
    let out = env.ok(&["apply", "-f", "-"], Some(DAEMON)).await;
    assert!(out.contains("daemonset.apps/agent created"), "{out}");
    env.until(&["ds", "agent"], "{.status.numberReady}", BOUND, |v| {
        v == "1"
    })
    .await;
    let table = env.ok(&["get", "ds"], None).await;
    assert_eq!(
        header(&table),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ]
    );
    assert_eq!(
        row(&table, "agent")[1..7],
        ["1", "1", "1", "1", "1", "<none>"]
    );
    let pod = env
        .jsonpath(&["pods", "-l", "app=agent"], "{.items[0].metadata.name}")
        .await;
    assert!(
        pod.starts_with("agent-") && pod.len() == "agent-".len() + 5,
        "{pod}"
    );
    assert_eq!(
        env.jsonpath(&["pod", &pod], "{.spec.nodeName}").await,
        "kubetutor-node"
    );
    assert_eq!(
        env.jsonpath(&["pod", &pod], "{.metadata.labels.pod-template-generation}")
            .await,
        "1"
    );
    assert!(
        events(&env, "agent")
            .await
            .contains(&format!("SuccessfulCreate: Created pod: {pod}"))
    );
    // A new template replaces the pod.
    env.ok(&["set", "image", "ds/agent", "agent=busybox:1.37"], None)
        .await;
    let out = env
        .run_for(
            &["rollout", "status", "ds/agent", "--timeout=90s"],
            None,
            Duration::from_secs(120),
        )
        .await;
    assert!(
        out.stdout
            .trim_end()
            .ends_with("daemon set \"agent\" successfully rolled out"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let new = env
        .until(
            &["pods", "-l", "app=agent"],
            "{.items[*].metadata.name}",
            BOUND,
            |v| !v.is_empty() && !v.contains(&pod) && !v.contains(' '),
        )
        .await;
    assert_eq!(
        env.jsonpath(&["pod", &new], "{.metadata.labels.pod-template-generation}")
            .await,
        "2"
    );
    assert_eq!(
        env.jsonpath(
            &["ds", "agent"],
            "{.metadata.annotations.deprecated\\.daemonset\\.template\\.generation}"
        )
        .await,
        "2"
    );
    let history = env.ok(&["rollout", "history", "ds/agent"], None).await;
    assert!(history.contains("daemonset.apps/agent"), "{history}");
    env.ok(&["delete", "ds", "agent"], None).await;
    env.until(
        &["pods", "-l", "app=agent"],
        "{.items[*].metadata.name}",
        BOUND,
        str::is_empty,
    )
    .await;
    env.stop().await;
}

const CRON: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "*/1 * * * *"
  timeZone: Europe/Paris
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels: {app: tick}
    spec:
      template:
        metadata:
          labels: {app: tick}
        spec:
          restartPolicy: OnFailure
          containers:
          - name: tick
            image: busybox:1.36
            command: [sh, -c, "echo tick"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_fires_on_its_schedule_and_create_job_from_it() {
    let Some(env) = Env::start().await else {
        return;
    };
    let out = env.ok(&["apply", "-f", "-"], Some(CRON)).await;
    assert!(out.contains("cronjob.batch/tick created"), "{out}");
    let table = env.ok(&["get", "cronjobs"], None).await;
    assert_eq!(
        header(&table),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    assert_eq!(
        row(&table, "tick")[1..6],
        ["*/1 * * * *", "Europe/Paris", "False", "0", "<none>"]
    );

    // A job by hand, from the template. kubectl (1.30 and later) makes the
    // CronJob its controller, without blockOwnerDeletion.
    let out = env
        .ok(&["create", "job", "tick-now", "--from=cronjob/tick"], None)
        .await;
    assert!(out.contains("job.batch/tick-now created"), "{out}");
    assert_eq!(
        env.jsonpath(
            &["job", "tick-now"],
            "{.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}/{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].controller}"
        )
        .await,
        "manual/CronJob/true"
    );
    env.until(&["job", "tick-now"], "{.status.succeeded}", BOUND, |v| {
        v == "1"
    })
    .await;
    let err = env
        .fails(&["create", "job", "x", "--from=cronjob/nope"], None)
        .await;
    assert!(err.contains("cronjobs.batch \"nope\" not found"), "{err}");

    // The schedule fires within the next minute (a bound of two).
    let job = env
        .until(
            &["jobs", "-l", "app=tick"],
            "{.items[*].metadata.name}",
            Duration::from_secs(130),
            |v| {
                v.split(' ').any(|n| {
                    n.starts_with("tick-")
                        && n != "tick-now"
                        && n["tick-".len()..].bytes().all(|b| b.is_ascii_digit())
                })
            },
        )
        .await;
    let job = job
        .split(' ')
        .find(|n| *n != "tick-now")
        .unwrap()
        .to_string();
    let minutes: i64 = job["tick-".len()..].parse().unwrap();
    let scheduled = env
        .jsonpath(
            &["job", &job],
            "{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
        )
        .await;
    let at: jiff::Zoned = scheduled
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC);
    assert_eq!(at.timestamp().as_second(), minutes * 60, "{scheduled}");
    assert!(
        scheduled.ends_with("+01:00") || scheduled.ends_with("+02:00"),
        "Paris time: {scheduled}"
    );
    assert!(
        events(&env, "tick")
            .await
            .contains(&format!("SuccessfulCreate: Created job {job}")),
    );
    env.until(
        &["cronjob", "tick"],
        "{.status.lastSuccessfulTime}",
        BOUND,
        |v| !v.is_empty(),
    )
    .await;
    let ev = events(&env, "tick").await;
    assert!(
        ev.contains(&format!(
            "SawCompletedJob: Saw completed job: {job}, condition: Complete"
        )),
        "{ev:#?}"
    );

    // Validation speaks robfig/cron's and Go's words.
    let bad = CRON
        .replace("*/1 * * * *", "61 * * * *")
        .replace("Europe/Paris", "Europe/Pariss")
        .replace("name: tick", "name: bad");
    let err = env.fails(&["apply", "-f", "-"], Some(&bad)).await;
    assert!(
        err.contains(
            "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"
        ) && err.contains(
            "spec.timeZone: Invalid value: \"Europe/Pariss\": unknown time zone Europe/Pariss"
        ),
        "{err}"
    );

    // Suspended: no new jobs; deleted: its jobs (the manual one too) go.
    env.ok(
        &[
            "patch",
            "cronjob",
            "tick",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ],
        None,
    )
    .await;
    assert_eq!(row(&env.ok(&["get", "cj"], None).await, "tick")[3], "True");
    env.ok(&["delete", "cronjob", "tick"], None).await;
    env.until(&["jobs"], "{.items[*].metadata.name}", BOUND, str::is_empty)
        .await;
    env.stop().await;
}

/// The pods of a StatefulSet reach each other by name through its
/// headless Service, as PostgreSQL replicas do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_by_hostname_through_the_headless_service() {
    let Some(env) = Env::start().await else {
        return;
    };
    let db = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: pg-init
data:
  init.sql: |
    CREATE TABLE note (id serial PRIMARY KEY, text text NOT NULL);
    INSERT INTO note (text) VALUES ('made by ' || current_user);
---
apiVersion: v1
kind: Service
metadata:
  name: pg
spec:
  clusterIP: None
  selector: {app: pg}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: pg
spec:
  serviceName: pg
  replicas: 2
  selector:
    matchLabels: {app: pg}
  template:
    metadata:
      labels: {app: pg}
    spec:
      containers:
      - name: postgres
        image: postgres:16-alpine
        env:
        - {name: POSTGRES_PASSWORD, value: secret}
        - {name: PGDATA, value: /var/lib/postgresql/data/pgdata}
        readinessProbe:
          exec: {command: [pg_isready, -U, postgres]}
          periodSeconds: 2
        volumeMounts:
        - {name: data, mountPath: /var/lib/postgresql/data}
        - {name: init, mountPath: /docker-entrypoint-initdb.d}
      volumes:
      - name: init
        configMap: {name: pg-init}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;
    env.ok(&["apply", "-f", "-"], Some(db)).await;
    ready_replicas(&env, "pg", 2).await;
    // Each replica ran the init script on its own, new cluster.
    for pod in ["pg-0", "pg-1"] {
        let log = env.ok(&["logs", pod], None).await;
        assert!(
            log.contains(
                "/usr/local/bin/docker-entrypoint.sh: running /docker-entrypoint-initdb.d/init.sql\nCREATE TABLE\nINSERT 0 1\n"
            ),
            "{log}"
        );
        let out = env
            .ok(
                &[
                    "exec",
                    pod,
                    "--",
                    "psql",
                    "-U",
                    "postgres",
                    "-tAc",
                    "SELECT text FROM note",
                ],
                None,
            )
            .await;
        assert_eq!(out.trim(), "made by postgres");
    }
    for host in [
        "pg-0.pg",
        "pg-0.pg.kubetutor",
        "pg-0.pg.kubetutor.svc",
        "pg-0.pg.kubetutor.svc.cluster.local",
    ] {
        let out = env
            .ok(&["exec", "pg-1", "--", "pg_isready", "-h", host], None)
            .await;
        assert_eq!(out.trim(), format!("{host}:5432 - accepting connections"));
    }
    // The headless name leads to one of the pods; a name that is not a pod's does not resolve.
    let out = env
        .ok(&["exec", "pg-0", "--", "pg_isready", "-h", "pg"], None)
        .await;
    assert_eq!(out.trim(), "pg:5432 - accepting connections");
    let out = env
        .run(&["exec", "pg-0", "--", "pg_isready", "-h", "pg-7.pg"], None)
        .await;
    assert!(
        !out.ok && out.stdout.contains("pg-7.pg:5432 - no response"),
        "{}",
        out.stdout
    );
    env.stop().await;
}
