//! What learners type inside containers, through the real kubectl against
//! the embedded sandbox: `kubectl exec` into a busybox pod and an ubuntu
//! pod, each case with what busybox (or bash and GNU coreutils) print and
//! the exit code. Ends with the doubling-string loop that must be
//! OOM-killed (exit 137) while the sandbox lives on, with its memory
//! measured. Then a securityContext's user, group and fsGroup as the
//! kubernetes.io task "Configure a Security Context" shows them.
//!
//! kubectl as the shared harness finds it (see `harness/mod.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod harness;

use std::time::Duration;

use harness::Env;

/// One idiom: what runs, what it prints on stdout, a piece of its stderr
/// ("" for none), and its exit code.
struct Case {
    pod: &'static str,
    script: &'static str,
    stdout: &'static str,
    stderr: &'static str,
    code: i32,
}

const fn ok(pod: &'static str, script: &'static str, stdout: &'static str) -> Case {
    Case {
        pod,
        script,
        stdout,
        stderr: "",
        code: 0,
    }
}

const fn fails(pod: &'static str, script: &'static str, stderr: &'static str, code: i32) -> Case {
    Case {
        pod,
        script,
        stdout: "",
        stderr,
        code,
    }
}

const CASES: &[Case] = &[
    // Parameters, arithmetic, syntax.
    ok("bb", "echo ${X:-def} ${#HOSTNAME}", "def 2\n"),
    ok(
        "bb",
        "p=/data/a/b.tar.gz; echo ${p##*/} ${p%.tar.gz} ${p#/data/}",
        "b.tar.gz /data/a/b a/b.tar.gz\n",
    ),
    ok(
        "bb",
        "echo $((6 * 7)) $((2**10)); i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i",
        "42 1024\n3\n",
    ),
    ok(
        "bb",
        "case data.txt in *.txt) echo text;; *) echo other;; esac",
        "text\n",
    ),
    ok("bb", "f() { echo \"[$1]\"; }; f 'a b'; f", "[a b]\n[]\n"),
    ok(
        "bb",
        "sleep 0.1 & echo started; wait; echo waited",
        "started\nwaited\n",
    ),
    ok(
        "bb",
        "trap 'echo cleanup' EXIT; echo work",
        "work\ncleanup\n",
    ),
    ok(
        "bb",
        "x=$(echo sub); (x=inner; echo $x); echo $x",
        "inner\nsub\n",
    ),
    ok("bb", "cat <<EOF\nhello $HOSTNAME\nEOF", "hello bb\n"),
    // Text applets.
    ok("bb", "printf '%05d\\n' 42", "00042\n"),
    ok("bb", "seq 3 | tac", "3\n2\n1\n"),
    ok("bb", "echo a,b | cut -d, -f2", "b\n"),
    ok(
        "bb",
        "printf 'apple\\nbanana\\ncherry\\n' | grep -E 'a|b' | wc -l",
        "2\n",
    ),
    ok(
        "bb",
        "printf 'b\\na\\nb\\n' | sort | uniq -c | sort -rn | head -1",
        "      2 b\n",
    ),
    ok(
        "bb",
        "echo hello | tr a-z A-Z | sed 's/L/l/g' | awk '{print length($0), $1}'",
        "5 HEllO\n",
    ),
    ok(
        "bb",
        "echo 'k=v' | awk -F= '{print $2}'; echo one two | xargs -n1 | tail -1",
        "v\ntwo\n",
    ),
    ok("bb", "date +%s | grep -cE '^[0-9]+$'", "1\n"),
    ok(
        "bb",
        "echo hi | md5sum",
        "764efa883dda1e11db47671c4a3bbd9e  -\n",
    ),
    // Files and volumes.
    ok(
        "bb",
        "mkdir -p /data/x && echo a > /data/x/1.txt && echo b > /data/x/2.log && find /data -name '*.txt'",
        "/data/x/1.txt\n",
    ),
    ok(
        "bb",
        "cp -r /data/x /data/y && mv /data/y /data/z && ls /data/z && rm -r /data/z && ls /data",
        "1.txt\n2.log\nx\n",
    ),
    ok(
        "bb",
        "dd if=/dev/zero of=/data/f bs=1M count=10 2>/dev/null; ls -l /data/f | awk '{print $5}'; du -sh /data/f | cut -f1",
        "10485760\n10.0M\n",
    ),
    ok(
        "bb",
        "tar czf - /data/x 2>/dev/null | tar tzf -",
        "data/x/\ndata/x/1.txt\ndata/x/2.log\n",
    ),
    ok(
        "bb",
        "ln -s /data/x/1.txt /data/link && cat /data/link && stat -c '%F' /data/link",
        "a\nsymbolic link\n",
    ),
    ok("bb", "df -h /data | tail -1 | awk '{print $6}'", "/data\n"),
    ok("bb", "head -c 8 /dev/urandom | wc -c", "8\n"),
    ok("bb", "sleep 0.1; echo slept", "slept\n"),
    ok(
        "bb",
        "id; whoami; hostname",
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)\nroot\nbb\n",
    ),
    ok(
        "bb",
        "ps | head -2",
        "PID   USER     TIME  COMMAND\n    1 root      0:00 sleep infinity\n",
    ),
    ok(
        "bb",
        "which sh wget; test -e /etc/os-release || echo no-os-release",
        "/bin/sh\n/bin/wget\nno-os-release\n",
    ),
    // Errors, as busybox words them.
    fails("bb", "ls /nope", "ls: /nope: No such file or directory", 1),
    fails(
        "bb",
        "cat /nope",
        "cat: can't open '/nope': No such file or directory",
        1,
    ),
    fails("bb", "nosuchcmd", "sh: nosuchcmd: not found", 127),
    fails("bb", "bash -c true", "sh: bash: not found", 127),
    fails(
        "bb",
        "echo x > /nope/f",
        "sh: can't create /nope/f: nonexistent directory",
        1,
    ),
    fails("bb", "if then", "sh: syntax error: unexpected \"then\"", 2),
    // Ubuntu: bash, GNU coreutils.
    ok(
        "ub",
        "bash -c 'x=AbC; echo ${x,,}; [[ $x == A* ]] && echo glob'",
        "abc\nglob\n",
    ),
    ok("ub", "grep ^ID= /etc/os-release", "ID=ubuntu\n"),
    ok(
        "ub",
        "bash -c 'for ((i=0;i<1;i++)); do :; done 2>/dev/null; echo $((1+1))'",
        "2\n",
    ),
    fails(
        "ub",
        "ls /nope",
        "ls: cannot access '/nope': No such file or directory",
        2,
    ),
    fails(
        "ub",
        "bash -c nosuchcmd",
        "bash: line 1: nosuchcmd: command not found",
        127,
    ),
    ok(
        "ub",
        "id ubuntu; ls -ld /home/ubuntu | cut -d' ' -f1,3,4",
        "uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu)\ndrwxr-x--- ubuntu ubuntu\n",
    ),
];

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_idioms_in_busybox_and_ubuntu() {
    let Some(env) = Env::start().await else {
        return;
    };
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: bb}\nspec:\n  containers: [{name: c, image: busybox:1.36, command: [sleep, infinity], volumeMounts: [{name: data, mountPath: /data}]}]\n  volumes: [{name: data, emptyDir: {}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: ub}\nspec:\n  containers: [{name: c, image: 'ubuntu:24.04', command: [bash, -c, 'sleep infinity']}]\n";
    let applied = env.run(&["apply", "-f", "-"], Some(pods)).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    env.wait_running("bb").await;
    env.wait_running("ub").await;
    let mut failures = Vec::new();
    for c in CASES {
        // `sh` is busybox's ash in bb, dash in ub (bash through `bash -c`).
        let out = env.exec(c.pod, &["sh", "-c", c.script]).await;
        let stderr_ok = if c.stderr.is_empty() {
            out.stderr.is_empty()
        } else {
            out.stderr.contains(c.stderr)
        };
        let code_ok = out.code == c.code
            && (c.code == 0
                || out
                    .stderr
                    .contains(&format!("command terminated with exit code {}", c.code)));
        if out.stdout != c.stdout || !stderr_ok || !code_ok {
            failures.push(format!(
                "{}: {:?}\n  stdout {:?} (want {:?})\n  stderr {:?} (want {:?})\n  code {} (want {})",
                c.pod, c.script, out.stdout, c.stdout, out.stderr, c.stderr, out.code, c.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} idioms differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );

    // A busybox pod with `sleep infinity` stays Running; `bash -c "sleep
    // infinity"` too (checked by waiting on them above).
    // The doubling loop: the exec ends OOM-killed (137), the sandbox lives.
    let before = vm_rss_kib();
    let sampler = tokio::spawn(async {
        let mut peak = 0;
        for _ in 0..600 {
            if let Some(r) = vm_rss_kib() {
                peak = peak.max(r);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak
    });
    let out = env
        .exec(
            "bb",
            &[
                "sh",
                "-c",
                "x=a; for i in $(seq 40); do x=$x$x; done; echo never",
            ],
        )
        .await;
    assert_eq!(out.code, 137, "{}", out.stderr);
    assert!(
        out.stderr.contains("command terminated with exit code 137"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    sampler.abort();
    let hwm = vm_hwm_kib();
    let get = env.run(&["get", "pods"], None).await;
    assert_eq!(get.code, 0);
    assert!(
        get.stdout.contains("bb ") && get.stdout.contains("Running"),
        "{}",
        get.stdout
    );
    eprintln!(
        "sandbox memory around the doubling loop: VmRSS before {} KiB, peak (VmHWM) {} KiB",
        before.unwrap_or(0),
        hwm.unwrap_or(0)
    );
    // The container's budget is 256 MiB (no limits.memory): the process
    // peaks far below the host's memory.
    if let Some(h) = hwm {
        assert!(h < 1_500_000, "peak RSS {h} KiB");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_sleep_infinity_and_busybox_without_a_command_completes() {
    let Some(env) = Env::start().await else {
        return;
    };
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: inf}\nspec:\n  containers: [{name: c, image: busybox, command: [sleep, inf]}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: bare}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: mem}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [sh, -c, 'x=a; while true; do x=$x$x; done'], resources: {limits: {memory: 32Mi}}}]\n";
    let applied = env.run(&["apply", "-f", "-"], Some(pods)).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    env.wait_running("inf").await;
    // busybox's sh with stdin at EOF exits 0: Completed.
    let mut phase = String::new();
    for _ in 0..200 {
        phase = env
            .run(
                &["get", "pod", "bare", "-o", "jsonpath={.status.phase}"],
                None,
            )
            .await
            .stdout;
        if phase == "Succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(phase, "Succeeded");
    // A container over its memory limit: OOMKilled, exit code 137.
    let mut reason = String::new();
    for _ in 0..400 {
        reason = env
            .run(
                &["get", "pod", "mem", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}/{.status.containerStatuses[0].state.terminated.exitCode}"],
                None,
            )
            .await
            .stdout;
        if reason.starts_with("OOMKilled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reason, "OOMKilled/137");
    let get = env.run(&["get", "pod", "inf"], None).await;
    assert!(get.stdout.contains("Running"), "{}", get.stdout);
    env.stop().await;
}

/// The kubernetes.io task "Configure a Security Context for a Pod": the
/// processes run as 1000, the emptyDir is the fsGroup's (setgid), what
/// the container writes there is 1000:2000; a local-path claim (a
/// hostPath PV, as on kind) is world-writable and keeps its group; root's
/// files refuse the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_context_user_groups_and_file_owners() {
    let Some(env) = Env::start().await else {
        return;
    };
    let manifest = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {k: v}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: security-context-demo
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
  volumes:
  - name: sec-ctx-vol
    emptyDir: {}
  - name: claim
    persistentVolumeClaim: {claimName: claim}
  - name: cfg
    configMap: {name: cfg}
  containers:
  - name: sec-ctx-demo
    image: busybox:1.28
    command: ["sh", "-c", "sleep 1h"]
    volumeMounts:
    - {name: sec-ctx-vol, mountPath: /data/demo}
    - {name: claim, mountPath: /claim}
    - {name: cfg, mountPath: /cfg}
    securityContext:
      allowPrivilegeEscalation: false
"#;
    env.ok(&["apply", "-f", "-"], Some(manifest)).await;
    env.wait_running("security-context-demo").await;
    let e = &env;
    let sh = |script: &'static str| async move {
        e.exec("security-context-demo", &["sh", "-c", script]).await
    };
    let ps = sh("ps").await;
    assert!(
        ps.stdout.contains("    1 1000      0:00 sleep 1h"),
        "{}",
        ps.stdout
    );
    let ls = sh("ls -l /data | tail -n +2 | awk '{print $1, $3, $4, $NF}'").await;
    assert_eq!(ls.stdout, "drwxrwsrwx root 2000 demo\n", "{}", ls.stderr);
    let mine = sh(
        "cd /data/demo && echo hello > testfile && ls -l testfile | awk '{print $1, $3, $4, $5}'",
    )
    .await;
    assert_eq!(mine.stdout, "-rw-r--r-- 1000 2000 6\n", "{}", mine.stderr);
    assert_eq!(
        sh("id").await.stdout,
        "uid=1000 gid=3000 groups=2000,3000\n"
    );
    // The claim: local-path's 0777 directory, root's, without the fsGroup.
    let claim =
        sh("ls -ld /claim | awk '{print $1, $3, $4}'; touch /claim/f && stat -c %u:%g /claim/f")
            .await;
    assert_eq!(
        claim.stdout, "drwxrwxrwx root root\n1000:3000\n",
        "{}",
        claim.stderr
    );
    // No passwd entry for 1000 in busybox: HOME is /, as runc sets it.
    assert_eq!(sh("echo $HOME").await.stdout, "/\n");
    // A configMap volume's files are the fsGroup's too (group read).
    let cfg = sh("stat -L -c '%a %U %g' /cfg/k; cat /cfg/k").await;
    assert_eq!(cfg.stdout, "644 root 2000\nv", "{}", cfg.stderr);
    // Root's directories refuse the user, with busybox's words.
    let denied = sh("touch /etc/x").await;
    assert_eq!(denied.code, 1);
    assert!(
        denied.stderr.contains("touch: /etc/x: Permission denied"),
        "{}",
        denied.stderr
    );
    let chown = sh("chown 0 /data/demo/testfile").await;
    assert!(
        chown
            .stderr
            .contains("chown: /data/demo/testfile: Operation not permitted"),
        "{}",
        chown.stderr
    );
    env.stop().await;
}
