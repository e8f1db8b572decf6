//! The shell and its applets through [`Container::run`] and
//! [`Container::spawn`], as `kubectl exec` and the kubelet drive them.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::hostfs::{ContainerFs, MountKind, SandboxRoot};
use crate::process::{MemBudget, ProcessTable, Signal};
use crate::shell::userland::Userland;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: SandboxRoot,
    sys: Container,
}

fn fixture_with(userland: Arc<Userland>) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = SandboxRoot::new(tmp.path()).unwrap();
    let rootfs = root.container_rootfs("pod1", "app").unwrap();
    for d in ["tmp", "etc", "root", "dev", "bin"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    userland.seed(&rootfs);
    let mut fs = ContainerFs::new(rootfs);
    fs.mount(
        "/data",
        root.volume("pv-1").unwrap(),
        false,
        MountKind::Volume,
        "pv-1",
    )
    .unwrap();
    fs.set_capacity("/data", 1024 * 1024 * 1024);
    fs.mount(
        "/cache",
        root.empty_dir("pod1", "cache").unwrap(),
        false,
        MountKind::EmptyDir,
        "cache",
    )
    .unwrap();
    fs.mount(
        "/etc/config",
        root.empty_dir("pod1", "cfg").unwrap(),
        true,
        MountKind::Tmpfs,
        "cfg",
    )
    .unwrap();
    let env = vec![("API_DB_FILEPATH".to_string(), "/data/db.json".to_string())];
    let sys = Container::new(fs, userland, "web-7d9f")
        .with_env(env)
        .with_sleep_hook(Arc::new(|_| Duration::ZERO));
    Fixture {
        _tmp: tmp,
        root,
        sys,
    }
}

fn fixture() -> Fixture {
    fixture_with(Userland::busybox())
}

fn sh(f: &Fixture, script: &str) -> Output {
    f.sys.run(&["sh".into(), "-c".into(), script.into()], b"")
}

fn bash(f: &Fixture, script: &str) -> Output {
    f.sys.run(&["bash".into(), "-c".into(), script.into()], b"")
}

fn out(f: &Fixture, script: &str) -> String {
    let o = sh(f, script);
    assert!(
        o.stderr.is_empty(),
        "{script}: stderr {:?}",
        o.stderr_text()
    );
    o.stdout_text()
}

#[test]
fn echo_redirect_and_cat_through_mounts() {
    let f = fixture();
    let o = sh(
        &f,
        "echo hello > /data/f.txt && echo again >> /data/f.txt; cat /data/f.txt",
    );
    assert_eq!(
        (o.stdout_text().as_str(), o.exit_code),
        ("hello\nagain\n", 0)
    );
    let real = f.root.volume("pv-1").unwrap().join("f.txt");
    assert_eq!(std::fs::read_to_string(real).unwrap(), "hello\nagain\n");
    assert_eq!(sh(&f, "echo layer > /root.txt").exit_code, 0);
    assert!(
        f.root
            .container_rootfs("pod1", "app")
            .unwrap()
            .join("root.txt")
            .is_file()
    );
}

#[test]
fn busybox_error_wording_and_exit_codes() {
    let f = fixture();
    let cases: &[(&str, &str, i32)] = &[
        (
            "cat /x",
            "cat: can't open '/x': No such file or directory\n",
            1,
        ),
        ("xyz", "sh: xyz: not found\n", 127),
        (
            "echo x > /etc/config/a",
            "sh: can't create /etc/config/a: Read-only file system\n",
            1,
        ),
        (
            "echo x > /nope/a",
            "sh: can't create /nope/a: nonexistent directory\n",
            1,
        ),
        ("cat < /nope", "sh: can't open /nope: no such file\n", 1),
        (
            "mkdir /a/b",
            "mkdir: can't create directory '/a/b': No such file or directory\n",
            1,
        ),
        (
            "rm /nope",
            "rm: can't remove '/nope': No such file or directory\n",
            1,
        ),
        (
            "ls /missing",
            "ls: /missing: No such file or directory\n",
            1,
        ),
        (
            "cd /missing",
            "sh: cd: line 1: can't cd to /missing: No such file or directory\n",
            2,
        ),
        (
            "echo 'unterminated",
            "sh: syntax error: unterminated quoted string\n",
            2,
        ),
        (
            "while true; do echo",
            "sh: syntax error: unexpected end of file (expecting \"done\")\n",
            2,
        ),
        (
            "if true; then fi",
            "sh: syntax error: unexpected \"fi\"\n",
            2,
        ),
        ("echo ${x!}", "sh: syntax error: bad substitution\n", 2),
        ("exit abc", "sh: exit: line 1: Illegal number: abc\n", 2),
        ("echo $((1/0))", "sh: divide by zero\n", 2),
        ("echo ${UNSET?is required}", "sh: UNSET: is required\n", 2),
        ("set -u; echo $NOPE", "sh: NOPE: parameter not set\n", 2),
        ("bash -c true", "sh: bash: not found\n", 127),
        ("[ 1 -lt x ]", "sh: x: bad number\n", 2),
        ("kill 9999", "sh: can't kill pid 9999: No such process\n", 1),
        ("sleep abc", "sleep: invalid number 'abc'\n", 1),
        ("local x", "sh: local: line 1: not in a function\n", 2),
    ];
    for (script, err, code) in cases {
        let o = sh(&f, script);
        assert_eq!(
            (o.stderr_text().as_str(), o.exit_code),
            (*err, *code),
            "{script}"
        );
    }
    assert_eq!(sh(&f, "rm -f /nope").exit_code, 0);
    // The lines before a syntax error ran.
    let o = sh(&f, "echo before\nfi");
    assert_eq!(o.stdout_text(), "before\n");
    // `sh -c CMD NAME`: errors carry the name and the line.
    let o = f.sys.run(
        &[
            "sh".into(),
            "-c".into(),
            "true\nnope".into(),
            "myscript".into(),
        ],
        b"",
    );
    assert_eq!(o.stderr_text(), "myscript: line 2: nope: not found\n");
}

#[test]
fn direct_commands_are_not_parsed_by_a_shell() {
    let f = fixture();
    let o = f
        .sys
        .run(&["echo".into(), "$HOME".into(), "a;b".into()], b"");
    assert_eq!(o.stdout_text(), "$HOME a;b\n");
    let o = f.sys.run(&["nosuch".into()], b"");
    assert_eq!(o.exit_code, 126);
    assert!(
        o.stderr_text()
            .contains("exec: \"nosuch\": executable file not found in $PATH")
    );
    assert_eq!(
        f.sys.run(&["cat".into()], b"from stdin").stdout_text(),
        "from stdin"
    );
    let o = f.sys.run(&["/bin/sh".into()], b"echo one\necho two\n");
    assert_eq!(o.stdout_text(), "one\ntwo\n");
}

#[test]
fn parameters_quotes_and_splitting() {
    let f = fixture();
    assert_eq!(
        out(&f, "false && echo no || echo yes; true && echo and"),
        "yes\nand\n"
    );
    assert_eq!(
        out(
            &f,
            r#"echo "$API_DB_FILEPATH" '$API_DB_FILEPATH' ${HOSTNAME} "a  b" \$x"#
        ),
        "/data/db.json $API_DB_FILEPATH web-7d9f a  b $x\n"
    );
    assert_eq!(
        out(&f, "X='1 2'; echo [$X] \"[$X]\"; printf '<%s>' $X; echo"),
        "[1 2] [1 2]\n<1><2>\n"
    );
    assert_eq!(
        out(
            &f,
            "echo ${X:-def} ${X-unset}; X=; echo ${X:-def} [${X-unset}]"
        ),
        "def unset\ndef []\n"
    );
    assert_eq!(
        out(&f, "echo ${Y:=set}; echo $Y ${Y:+alt} ${#Y}"),
        "set\nset alt 3\n"
    );
    assert_eq!(
        out(
            &f,
            "p=/data/dir/file.tar.gz; echo ${p#*/} ${p##*/} ${p%.*} ${p%%.*}"
        ),
        "data/dir/file.tar.gz file.tar.gz /data/dir/file.tar /data/dir/file\n"
    );
    assert_eq!(
        out(&f, "s=hello; echo ${s:1:3} ${s: -2} ${s/l/L} ${s//l/L}"),
        "ell lo heLlo heLLo\n"
    );
    assert_eq!(
        out(
            &f,
            "set -- a 'b c' d; echo $#; for i in \"$@\"; do echo \"[$i]\"; done"
        ),
        "3\n[a]\n[b c]\n[d]\n"
    );
    assert_eq!(
        out(&f, "set -- a b; echo \"$*\" ${10:-none}; shift; echo $1"),
        "a b none\nb\n"
    );
    assert_eq!(
        out(&f, "IFS=,; x=a,b,,c; for i in $x; do echo \"<$i>\"; done"),
        "<a>\n<b>\n<>\n<c>\n"
    );
    assert_eq!(
        out(&f, "echo ~ ~/x; x=~; echo $x"),
        "/root /root/x\n/root\n"
    );
    assert_eq!(
        out(
            &f,
            "echo $((2 * (3 + 4) % 5)) $((0x10)) $((1 << 3)); i=5; : $((i+=2)); echo $i"
        ),
        "4 16 8\n7\n"
    );
    assert_eq!(
        out(
            &f,
            "echo \"$(echo one; echo two)\" | tail -n 1; echo `echo back`"
        ),
        "two\nback\n"
    );
    assert_eq!(out(&f, "echo $'a\\tb'"), "a\tb\n");
    assert_eq!(
        out(&f, "echo \"\" | cat; echo -n x; # comment\necho y"),
        "\nxy\n"
    );
    let o = sh(&f, "false; echo $?; exit 3; echo never");
    assert_eq!((o.stdout_text().as_str(), o.exit_code), ("1\n", 3));
}

#[test]
fn control_flow_functions_and_case() {
    let f = fixture();
    assert_eq!(
        out(
            &f,
            "for i in 1 2 3; do echo line $i >> /data/log; done; cat /data/log"
        ),
        "line 1\nline 2\nline 3\n"
    );
    assert_eq!(
        out(
            &f,
            "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done; until true; do echo no; done"
        ),
        "1\n2\n3\n"
    );
    assert_eq!(
        out(
            &f,
            "if [ -f /data/log ]; then echo file; elif true; then echo no; else echo no; fi"
        ),
        "file\n"
    );
    assert_eq!(
        out(
            &f,
            "for i in $(seq 1 10); do if [ $i = 3 ]; then continue; fi; [ $i -gt 4 ] && break; echo $i; done"
        ),
        "1\n2\n4\n"
    );
    assert_eq!(
        out(
            &f,
            "case x.txt in *.log) echo log;; *.txt|*.md) echo text;; *) echo other;; esac"
        ),
        "text\n"
    );
    assert_eq!(
        out(
            &f,
            "greet() { local n=$1; echo \"hi $n\"; return 3; }; greet ana; echo $? ${n:-unset}"
        ),
        "hi ana\n3 unset\n"
    );
    assert_eq!(
        out(
            &f,
            "f() { echo $#:$1; }; f a b; x=1; (x=2; echo $x); echo $x"
        ),
        "2:a\n2\n1\n"
    );
    assert_eq!(
        out(&f, "{ echo a; echo b; } > /data/g; wc -l /data/g"),
        "2 /data/g\n"
    );
    assert_eq!(
        out(
            &f,
            "cat <<EOF\nhome=$HOME\n$(echo sub)\nEOF\ncat <<'E'\n$HOME\nE"
        ),
        "home=/root\nsub\n$HOME\n"
    );
    assert_eq!(out(&f, "cat <<-EOF\n\tindented\n\tEOF"), "indented\n");
    assert_eq!(
        out(&f, "echo x | { read v; echo got $v; }; echo ${v:-empty}"),
        "got x\nempty\n"
    );
    assert_eq!(
        out(
            &f,
            "printf 'a b\\nc d\\n' > /data/kv; while read k v; do echo \"$v=$k\"; done < /data/kv"
        ),
        "b=a\nd=c\n"
    );
    let o = sh(&f, "set -e; echo one; false; echo two");
    assert_eq!((o.stdout_text().as_str(), o.exit_code), ("one\n", 1));
    assert_eq!(
        out(
            &f,
            "set -e; if false; then :; fi; false || true; ! false; echo ok"
        ),
        "ok\n"
    );
    assert_eq!(out(&f, "trap 'echo bye' EXIT; echo hi"), "hi\nbye\n");
    assert_eq!(out(&f, "eval 'x=4; echo $x'"), "4\n");
    assert_eq!(out(&f, "echo a && exec echo b; echo c"), "a\nb\n");
    let o = sh(&f, "set -x; echo traced");
    assert_eq!(
        (o.stdout_text().as_str(), o.stderr_text().as_str()),
        ("traced\n", "+ echo traced\n")
    );
}

#[test]
fn background_jobs_wait_and_kill() {
    let f = fixture();
    assert_eq!(out(&f, "echo a & wait; echo b"), "a\nb\n");
    assert_eq!(out(&f, "(exit 5) & wait $!; echo $?"), "5\n");
    let o = sh(&f, "sleep infinity & p=$!; kill $p; wait $p; echo $?");
    assert_eq!(o.stdout_text(), "143\n");
    let o = sh(&f, "sleep infinity & kill %1; wait %1; echo done $?");
    assert_eq!(o.stdout_text(), "done 143\n");
    // ps lists the container's processes.
    let o = sh(&f, "sleep infinity & ps; kill $!");
    let text = o.stdout_text();
    assert!(text.starts_with("PID   USER     TIME  COMMAND\n"), "{text}");
    assert!(text.contains(" root      0:00 sleep infinity\n"), "{text}");
    assert!(text.contains(" root      0:00 ps\n"), "{text}");
}

#[test]
fn pipelines_stream_and_end_writers() {
    let f = fixture();
    assert_eq!(out(&f, "yes | head -n 3"), "y\ny\ny\n");
    assert_eq!(out(&f, "seq 5 | tac | head -2"), "5\n4\n");
    assert_eq!(out(&f, "echo a,b,c | cut -d, -f2"), "b\n");
    assert_eq!(
        out(&f, "printf '%05d|%-3s|%x\\n' 42 ab 255"),
        "00042|ab |ff\n"
    );
    assert_eq!(
        out(&f, "printf 'b\\na\\nb\\n' | sort | uniq -c"),
        "      1 a\n      2 b\n"
    );
    assert_eq!(
        out(&f, "echo hello | tr a-z A-Z; echo 'a  b' | tr -s ' '"),
        "HELLO\na b\n"
    );
    assert_eq!(
        out(&f, "printf 'x1\\ny2\\nz3\\n' | grep -E 'x|z'"),
        "x1\nz3\n"
    );
    assert_eq!(
        out(
            &f,
            "printf 'ab\\ncd\\n' | grep -v ab; echo x | grep -q x && echo found"
        ),
        "cd\nfound\n"
    );
    assert_eq!(
        out(
            &f,
            "echo 'a b c' | awk '{print $2}'; printf '1\\n2\\n3\\n' | awk '{s+=$1} END {print s}'"
        ),
        "b\n6\n"
    );
    assert_eq!(
        out(
            &f,
            "echo hello world | sed 's/o/0/g'; printf '1\\n2\\n3\\n' | sed -n '2p'"
        ),
        "hell0 w0rld\n2\n"
    );
    assert_eq!(out(&f, "echo one two | xargs -n1 echo"), "one\ntwo\n");
    assert_eq!(
        out(
            &f,
            "printf '1\\n2\\n3\\n' | sed 'N;P;D'; printf 'a\\nb\\n' | sed '1d;s/b/B/'"
        ),
        "1\n2\n3\nB\n"
    );
    assert_eq!(
        out(
            &f,
            "sleep infinity & ps -o pid,comm | grep -c sleep; kill %1"
        ),
        "1\n"
    );
    assert_eq!(
        out(&f, "echo hi | tee /data/t >/dev/null; cat /data/t"),
        "hi\n"
    );
    assert_eq!(
        out(&f, "echo hello | base64; echo aGVsbG8K | base64 -d"),
        "aGVsbG8K\nhello\n"
    );
    assert_eq!(
        out(&f, "echo hello | md5sum; echo hello | sha256sum"),
        "b1946ac92492d2347c6235b4d2611184  -\n5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  -\n"
    );
    assert_eq!(out(&f, "cat /dev/null; head -c 4 /dev/zero | wc -c"), "4\n");
    assert_eq!(
        out(
            &f,
            "date +%s | grep -E '^[0-9]{10}$' >/dev/null && echo epoch"
        ),
        "epoch\n"
    );
    assert_eq!(
        out(
            &f,
            "basename /a/b/c.txt .txt; dirname /a/b/c.txt; which ls; expr 2 + 3"
        ),
        "c\n/a/b\n/bin/ls\n5\n"
    );
}

#[test]
fn files_and_directories() {
    let f = fixture();
    assert_eq!(
        out(
            &f,
            "mkdir -p /data/a/b && touch /data/a/b/f && cd /data/a && pwd && ls && ls -a b"
        ),
        "/data/a\nb\n.\n..\nf\n"
    );
    let o = sh(&f, "mkdir /data/a; rm /data/a");
    assert_eq!(
        o.stderr_text(),
        "mkdir: can't create directory '/data/a': File exists\nrm: '/data/a' is a directory\n"
    );
    assert_eq!(
        out(
            &f,
            "cp -r /data/a /data/c && mv /data/c /data/d && ls /data/d/b && ln -s /data/d /data/l && ls /data/l/b"
        ),
        "f\nf\n"
    );
    assert_eq!(
        out(&f, "find /data -name f | sort"),
        "/data/a/b/f\n/data/d/b/f\n"
    );
    assert_eq!(out(&f, "rm -rf /data/a /data/d /data/l && ls /data"), "");
    assert_eq!(
        out(
            &f,
            "echo x > /data/one; echo y > /data/two.txt; cat /data/*; ls /data/t*"
        ),
        "x\ny\n/data/two.txt\n"
    );
    assert_eq!(out(&f, "ls /"), "bin\ncache\ndata\ndev\netc\nroot\ntmp\n");
    let o = sh(&f, "rm -rf /data; ls /data");
    assert_eq!(o.stderr_text(), "rm: can't remove '/data': Resource busy\n");
    assert_eq!(o.stdout_text(), "");
    let o = sh(&f, "cat ../../../../etc/passwd | head -n 1");
    assert_eq!(o.stdout_text(), "root:x:0:0:root:/root:/bin/sh\n");
    let o = sh(
        &f,
        "echo hello > /data/f; ls -l /data; stat -c '%s %A %n' /data/f",
    );
    let text = o.stdout_text();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("total "));
    let line = lines.next().unwrap();
    assert!(
        line.starts_with("-rw-r--r--    1 root     root             6 "),
        "{line}"
    );
    assert_eq!(lines.next(), Some("6 -rw-r--r-- /data/f"));
    assert_eq!(
        out(
            &f,
            "du -s /data/f | cut -f2; test -d /data && test ! -e /nope && echo ok"
        ),
        "/data/f\nok\n"
    );
}

#[test]
fn df_mount_dd_and_devices() {
    let f = fixture();
    let text = out(&f, "df -h");
    assert!(
        text.starts_with("Filesystem                Size      Used Available Use% Mounted on\n"),
        "{text}"
    );
    let data = text.lines().find(|l| l.ends_with(" /data")).unwrap();
    assert!(data.starts_with("/dev/vda1                 1.0G"), "{data}");
    let o = sh(&f, "df /nope");
    assert_eq!(o.stderr_text(), "df: /nope: can't find mount point\n");
    let text = out(&f, "mount");
    assert!(text.contains("/dev/vda1 on /data type ext4 (rw,relatime)\n"));
    assert!(text.contains("tmpfs on /etc/config type tmpfs (ro,relatime)\n"));
    let o = sh(
        &f,
        "dd if=/dev/zero of=/data/f bs=1M count=3 && ls -l /data/f",
    );
    let err = o.stderr_text();
    assert!(
        err.starts_with("3+0 records in\n3+0 records out\n3145728 bytes (3.0MB) copied, "),
        "{err}"
    );
    assert!(o.stdout_text().contains(" 3145728 "), "{}", o.stdout_text());
    assert_eq!(
        out(
            &f,
            "head -c 16 /dev/urandom | wc -c; ls /dev | grep -c zero"
        ),
        "16\n1\n"
    );
}

#[test]
fn a_full_host_disk_fails_writes_with_enospc() {
    let f = fixture();
    let sys = f.sys.clone().with_disk_guard(system::DiskGuard::with_free(
        10 * 1024 * 1024,
        8 * 1024 * 1024,
    ));
    let o = sys.run(
        &[
            "sh".into(),
            "-c".into(),
            "dd if=/dev/zero of=/data/big bs=1M count=5".into(),
        ],
        b"",
    );
    assert_eq!(o.exit_code, 1);
    assert!(
        o.stderr_text()
            .starts_with("dd: error writing '/data/big': No space left on device\n"),
        "{}",
        o.stderr_text()
    );
    // The disk stays full for everything else.
    let o = sys.run(
        &["sh".into(), "-c".into(), "echo x > /data/small".into()],
        b"",
    );
    assert_eq!(
        (o.stderr_text().as_str(), o.exit_code),
        ("sh: write error: No space left on device\n", 1)
    );
}

#[test]
fn archives_round_trip() {
    let f = fixture();
    let text = out(
        &f,
        "mkdir -p /data/d && echo hi > /data/d/a && tar czf /tmp/x.tgz /data/d 2>/dev/null; tar tzf /tmp/x.tgz",
    );
    assert_eq!(text, "data/d/\ndata/d/a\n");
    let o = sh(&f, "tar cf - /data/d | tar tf -");
    assert_eq!(o.stdout_text(), "data/d/\ndata/d/a\n");
    assert_eq!(
        o.stderr_text(),
        "tar: removing leading '/' from member names\n"
    );
    assert_eq!(
        out(
            &f,
            "mkdir /tmp/out && tar xzf /tmp/x.tgz -C /tmp/out && cat /tmp/out/data/d/a"
        ),
        "hi\n"
    );
    assert_eq!(
        out(
            &f,
            "echo zip | gzip | gunzip; echo y > /tmp/g && gzip /tmp/g && ls /tmp/g* && zcat /tmp/g.gz"
        ),
        "zip\n/tmp/g.gz\ny\n"
    );
}

#[test]
fn sleeps_and_signals() {
    let f = fixture();
    // With the hook, sleeps return at once, `inf` included? No: infinity
    // waits for a signal.
    assert_eq!(
        sh(&f, "sleep 1 && sleep 0.5 && sleep 1m && echo done").stdout_text(),
        "done\n"
    );
    let child = f
        .sys
        .spawn(SpawnOptions {
            argv: vec!["sleep".into(), "infinity".into()],
            ..SpawnOptions::default()
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(child.process.status().is_none(), "sleep infinity blocks");
    child.process.signal(Signal::Term);
    assert_eq!(
        child.process.wait(&|| false),
        Some(ExitStatus::Signaled(Signal::Term))
    );
    // PID 1 ignores TERM (no handler), a trap catches it.
    let sys = f
        .sys
        .clone()
        .with_procs(ProcessTable::new(MemBudget::standalone(1 << 28)));
    let child = sys
        .spawn(SpawnOptions {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "trap 'echo caught; exit 7' TERM; sleep infinity & wait".into(),
            ],
            init: true,
            ..SpawnOptions::default()
        })
        .unwrap();
    assert_eq!(child.process.pid(), 1);
    std::thread::sleep(Duration::from_millis(100));
    child.process.signal(Signal::Term);
    assert_eq!(child.process.wait(&|| false), Some(ExitStatus::Exited(7)));
    let mut buf = [0u8; 64];
    let n = child.stdout.read(&mut buf, &|| false).unwrap();
    assert_eq!(&buf[..n], b"caught\n");
}

#[test]
fn output_streams_before_the_process_ends() {
    let f = fixture();
    let sys = f
        .sys
        .clone()
        .with_sleep_hook(Arc::new(|d| d.min(Duration::from_millis(300))));
    let child = sys
        .spawn(SpawnOptions {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo first; sleep 5; echo second".into(),
            ],
            ..SpawnOptions::default()
        })
        .unwrap();
    let mut buf = [0u8; 64];
    let n = child.stdout.read(&mut buf, &|| false).unwrap();
    assert_eq!(&buf[..n], b"first\n");
    assert!(child.process.status().is_none(), "still sleeping");
    let n = child.stdout.read(&mut buf, &|| false).unwrap();
    assert_eq!(&buf[..n], b"second\n");
}

#[test]
fn a_doubling_string_is_oom_killed_and_memory_is_bounded() {
    let f = fixture();
    let budget = MemBudget::standalone(64 * 1024 * 1024);
    let sys = f
        .sys
        .clone()
        .with_procs(ProcessTable::new(Arc::clone(&budget)));
    let o = sys.run(
        &[
            "sh".into(),
            "-c".into(),
            "x=a; for i in $(seq 40); do x=$x$x; done; echo never".into(),
        ],
        b"",
    );
    assert_eq!(o.exit_code, 137);
    assert_eq!(o.stdout_text(), "");
    assert!(budget.peak() <= 64 * 1024 * 1024);
    assert_eq!(budget.used(), 0, "everything is given back");
    // Other OOM paths: a capture, sort of an endless input.
    let o = sys.run(
        &["sh".into(), "-c".into(), "x=$(cat /dev/zero)".into()],
        b"",
    );
    assert_eq!(o.exit_code, 137);
    let o = sys.run(
        &[
            "sh".into(),
            "-c".into(),
            "head -c 100000000 /dev/zero | sort > /dev/null; echo $?".into(),
        ],
        b"",
    );
    assert_eq!(o.stdout_text(), "137\n");
    // As PID 1 the table records it (the kubelet's OOMKilled).
    let table = ProcessTable::new(MemBudget::standalone(16 * 1024 * 1024));
    let sys = f.sys.clone().with_procs(table.clone());
    let child = sys
        .spawn(SpawnOptions {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "x=a; while true; do x=$x$x; done".into(),
            ],
            init: true,
            ..SpawnOptions::default()
        })
        .unwrap();
    assert_eq!(child.process.wait(&|| false), Some(ExitStatus::OomKilled));
    assert!(table.main_oom_killed());
}

#[test]
fn interactive_terminal_session() {
    let f = fixture();
    let mut child = f
        .sys
        .spawn(SpawnOptions {
            argv: vec!["sh".into()],
            tty: true,
            ..SpawnOptions::default()
        })
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut term = child.terminal.take().unwrap();
    let mut screen = Vec::new();
    let mut type_in = |bytes: &[u8], screen: &mut Vec<u8>| {
        let r = term.input(bytes);
        screen.extend_from_slice(&r.echo);
        stdin.write_all(&r.stdin, &|| false).unwrap();
        if r.eof {
            stdin.send_eof();
        }
    };
    type_in(b"cd /data\rfor i in 1 2\r", &mut screen);
    type_in(b"do echo $i; done\rexit 4\r", &mut screen);
    assert_eq!(child.process.wait(&|| false), Some(ExitStatus::Exited(4)));
    let mut buf = vec![0u8; 4096];
    let mut all = Vec::new();
    while let Some(n) = child.stdout.try_read(&mut buf) {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text, "/ # /data # > 1\n2\n/data # ");
}

#[test]
fn bash_and_gnu_wording_on_debian_images() {
    let f = fixture_with(Userland::ubuntu());
    let cases: &[(&str, &str, i32)] = &[
        ("foo", "bash: line 1: foo: command not found\n", 127),
        (
            "ls /nope",
            "ls: cannot access '/nope': No such file or directory\n",
            2,
        ),
        ("cat /nope", "cat: /nope: No such file or directory\n", 1),
        (
            "cd /nope",
            "bash: line 1: cd: /nope: No such file or directory\n",
            1,
        ),
        (
            "rm /nope",
            "rm: cannot remove '/nope': No such file or directory\n",
            1,
        ),
        (
            "mkdir /tmp",
            "mkdir: cannot create directory '/tmp': File exists\n",
            1,
        ),
        ("ps", "bash: line 1: ps: command not found\n", 127),
        (
            "if true; then fi",
            "bash: line 1: syntax error near unexpected token `fi'\n",
            2,
        ),
    ];
    for (script, err, code) in cases {
        let o = bash(&f, script);
        assert_eq!(
            (o.stderr_text().as_str(), o.exit_code),
            (*err, *code),
            "{script}"
        );
    }
    let o = bash(
        &f,
        "[[ abc == a* && 3 -gt 2 ]] && echo yes; x=AbC; echo ${x,,} ${x^^}; (( y = 2 + 3 )); echo $y",
    );
    assert_eq!(o.stdout_text(), "yes\nabc ABC\n5\n");
    let o = bash(&f, "cat /etc/os-release | grep ^ID=");
    assert_eq!(o.stdout_text(), "ID=ubuntu\n");
    // debian's sh is dash.
    let o = sh(&f, "foo");
    assert_eq!(o.stderr_text(), "sh: 1: foo: not found\n");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    assert!(check_syntax(&"{ ".repeat(100_000)).is_err());
    assert!(check_syntax(&"while true; do ".repeat(10_000)).is_err());
    assert!(check_arithmetic(&"(".repeat(100_000)).is_err());
    assert_eq!(check_arithmetic("- - 3"), Ok(3));
    let f = fixture();
    let o = sh(&f, "f() { f; }; f");
    assert_eq!(o.exit_code, 2);
    assert!(o.stderr_text().contains("function nesting too deep"));
    let o = sh(
        &f,
        &format!("echo {}1{}", "$(echo ".repeat(120), ")".repeat(120)),
    );
    assert_eq!(o.exit_code, 2);
    assert_eq!(out(&f, "sh -c 'sh -c \"echo nested\"'"), "nested\n");
}

#[test]
fn never_panics_on_odd_scripts() {
    let f = fixture();
    for script in [
        "",
        ";",
        "&&",
        "| x",
        "echo >",
        "echo ${",
        "echo $",
        "a=b",
        "\\",
        "echo \"\\",
        "2>&1",
        "cat <",
        "exit 999999999999999999999",
        "cd",
        "ls -la / /data /nope",
        "rm -rf /",
        "echo *",
        "touch /",
        "mkdir -p /data",
        "rm -r /data",
        ">x",
        "while",
        "for",
        "if",
        "{",
        "}",
        "$(",
        "$((",
        "`",
        "echo $((9999999999999999999999))",
        "[ a",
        "test -f",
        "break 0",
        "continue 99",
        "seq 1 0 5",
        "head -n x",
        "grep",
        "wc -z",
        "case",
        "case x in",
        "f() {",
        "echo ${x:",
        "echo ${#",
        "awk '{'",
        "sed 's/a'",
        "printf '%'",
        "printf '%z' 1",
        "tr",
        "cut",
        "dd bs=0",
        "tar",
        "tar xf /nope",
        "find / -bogus",
        "expr 1 /",
        "kill -BOGUS 1",
        "read",
        "wait %9",
        "trap 'x' NOPE",
        "set -o nope",
        "shift 5",
        "getopts",
        "local",
        "echo $((1/0))",
        "x=$((",
        "exec 3>&-; echo hi >&3",
    ] {
        let _ = sh(&f, script);
    }
}

#[test]
fn security_context_identity_and_read_only_root() {
    let mut f = fixture();
    f.sys.fs.set_identity(crate::hostfs::Identity {
        uid: 1000,
        gid: 3000,
        groups: vec![2000],
        fs_group: Some(2000),
    });
    f.sys.fs.set_read_only_root(true);
    assert_eq!(
        sh(&f, "id").stdout_text(),
        "uid=1000 gid=3000 groups=2000,3000\n"
    );
    assert_eq!(sh(&f, "id -u; id -G").stdout_text(), "1000\n2000 3000\n");
    let o = sh(&f, "whoami");
    assert_eq!(
        (o.stderr_text().as_str(), o.exit_code),
        ("whoami: unknown uid 1000\n", 1)
    );
    // The layer refuses writes; volumes do not (local-path's are 0777).
    use std::os::unix::fs::PermissionsExt;
    let data = f.root.volume("pv-1").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = sh(&f, "echo x > /tmp/f");
    assert_eq!(o.exit_code, 1);
    assert!(
        o.stderr_text().contains("Read-only file system"),
        "{}",
        o.stderr_text()
    );
    assert_eq!(
        sh(&f, "echo x > /data/f && cat /data/f").stdout_text(),
        "x\n"
    );
    // HOME is the user's from the image's passwd, else / (as runc sets it).
    assert_eq!(sh(&f, "echo $HOME; cd; pwd").stdout_text(), "/\n/\n");
    // Other users, from the image's accounts.
    assert_eq!(
        sh(&f, "id nobody; id 33; id -un www-data; id root; id who").stdout_text(),
        "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\nuid=33(www-data) gid=33(www-data) groups=33(www-data)\nwww-data\nuid=0(root) gid=0(root) groups=0(root),10(wheel)\n"
    );
    // nobody (65534) has a name in busybox's /etc/passwd.
    f.sys.fs.set_identity(crate::hostfs::Identity {
        uid: 65534,
        gid: 65534,
        groups: Vec::new(),
        fs_group: None,
    });
    f.sys.fs.set_read_only_root(false);
    assert_eq!(sh(&f, "echo $HOME").stdout_text(), "/home\n");
    assert_eq!(
        sh(&f, "id; whoami; ps -o user | tail -1").stdout_text(),
        "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\nnobody\nnobody\n"
    );
}

/// Owners as a non-root container sees them: what it creates is its own
/// (the group of a setgid fsGroup directory), root's files refuse it,
/// the sticky /tmp protects others' files, only root gives files away.
#[test]
fn owners_and_the_kernels_permission_checks() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = fixture();
    let rootfs = f.sys.fs.rootfs().to_path_buf();
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(rootfs.join("root"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(rootfs.join("root/secret"), "s").unwrap();
    // root makes a file in /tmp, and a setgid fsGroup emptyDir.
    assert_eq!(
        sh(
            &f,
            "echo r > /tmp/roots; ls -ln /tmp/roots | awk '{print $3, $4}'"
        )
        .stdout_text(),
        "0 0\n"
    );
    let cache = f.root.empty_dir("pod1", "cache").unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    crate::hostfs::owners::set_volume_group(&cache, 2000, false);
    f.sys.fs.set_identity(crate::hostfs::Identity {
        uid: 1000,
        gid: 3000,
        groups: vec![2000],
        fs_group: Some(2000),
    });
    // The kubernetes.io "security context" task, step by step.
    assert_eq!(
        sh(&f, "ls -ld /cache | awk '{print $1, $3, $4}'").stdout_text(),
        "drwxrwsrwx root 2000\n"
    );
    let o = sh(
        &f,
        "cd /cache && echo hello > testfile && mkdir d && ls -l | tail -n +2 | awk '{print $1, $3, $4, $NF}'",
    );
    assert_eq!(
        o.stdout_text(),
        "drwxr-sr-x 1000 2000 d\n-rw-r--r-- 1000 2000 testfile\n",
        "{}",
        o.stderr_text()
    );
    assert_eq!(
        sh(&f, "stat -c '%u %g %U %G' /cache/testfile").stdout_text(),
        "1000 2000 UNKNOWN UNKNOWN\n"
    );
    // Outside the volume: its own group, root's directories refuse it.
    assert_eq!(
        sh(&f, "echo x > /tmp/mine; stat -c '%u:%g' /tmp/mine").stdout_text(),
        "1000:3000\n"
    );
    let o = sh(&f, "touch /etc/x");
    assert_eq!(
        (o.stderr_text().as_str(), o.exit_code),
        ("touch: /etc/x: Permission denied\n", 1)
    );
    let o = sh(&f, "echo x > /x");
    assert!(
        o.stderr_text()
            .contains("can't create /x: Permission denied"),
        "{}",
        o.stderr_text()
    );
    let o = sh(&f, "mkdir /opt");
    assert_eq!(
        o.stderr_text(),
        "mkdir: can't create directory '/opt': Permission denied\n"
    );
    let o = sh(&f, "cat /root/secret; ls /root");
    assert!(
        o.stderr_text()
            .contains("cat: can't open '/root/secret': Permission denied"),
        "{}",
        o.stderr_text()
    );
    assert!(
        o.stderr_text()
            .contains("ls: can't open '/root': Permission denied"),
        "{}",
        o.stderr_text()
    );
    let o = sh(&f, "cd /root");
    assert_eq!(
        o.stderr_text(),
        "sh: cd: line 1: can't cd to /root: Permission denied\n"
    );
    // The sticky /tmp: root's file stays; its own goes.
    let o = sh(&f, "rm /tmp/roots");
    assert_eq!(
        o.stderr_text(),
        "rm: can't remove '/tmp/roots': Operation not permitted\n"
    );
    assert_eq!(sh(&f, "rm /tmp/mine && echo gone").stdout_text(), "gone\n");
    // Giving away: refused; its own group to another of its groups: fine.
    let o = sh(&f, "chown 0 /cache/testfile");
    assert_eq!(
        o.stderr_text(),
        "chown: /cache/testfile: Operation not permitted\n"
    );
    let o = sh(
        &f,
        "chgrp 3000 /cache/testfile && stat -c %g /cache/testfile",
    );
    assert_eq!(o.stdout_text(), "3000\n", "{}", o.stderr_text());
    let o = sh(&f, "chmod 600 /etc/passwd");
    assert_eq!(
        o.stderr_text(),
        "chmod: /etc/passwd: Operation not permitted\n"
    );
    // An unreadable file of its own stays unreadable to others only.
    assert_eq!(
        sh(
            &f,
            "echo p > /cache/p; chmod 000 /cache/p; cat /cache/p; echo $?"
        )
        .stdout_text(),
        "1\n"
    );
    // Back to root: everything is allowed, and owners can be given.
    f.sys.fs.set_identity(crate::hostfs::Identity::default());
    let o = sh(
        &f,
        "chown -R nobody:www-data /cache/d && ls -ld /cache/d | awk '{print $3, $4}'",
    );
    assert_eq!(o.stdout_text(), "nobody www-data\n", "{}", o.stderr_text());
    let o = sh(
        &f,
        "chown nobody: /tmp && stat -c %U:%G /tmp; chown who /tmp",
    );
    assert_eq!(o.stdout_text(), "nobody:nobody\n");
    assert_eq!(o.stderr_text(), "chown: unknown user who\n");
    // tar keeps owners in its archive and gives them back as root.
    let o = sh(
        &f,
        "cd /cache && tar cf /tmp/a.tar testfile d && tar tvf /tmp/a.tar | awk '{print $2}'",
    );
    assert_eq!(
        o.stdout_text(),
        "1000/3000\nnobody/www-data\n",
        "{}",
        o.stderr_text()
    );
    let o = sh(
        &f,
        "mkdir /tmp/x && tar xf /tmp/a.tar -C /tmp/x && stat -c %u:%g /tmp/x/testfile /tmp/x/d",
    );
    assert_eq!(
        o.stdout_text(),
        "1000:3000\n65534:33\n",
        "{}",
        o.stderr_text()
    );
    let o = sh(
        &f,
        "mkdir /tmp/y && tar xof /tmp/a.tar -C /tmp/y && stat -c %u:%g /tmp/y/testfile",
    );
    assert_eq!(o.stdout_text(), "0:0\n", "{}", o.stderr_text());
    // cp -p keeps owners (root), cp without it makes root's copies.
    let o = sh(
        &f,
        "cp -p /cache/testfile /tmp/p && cp /cache/testfile /tmp/q && stat -c %u /tmp/p /tmp/q",
    );
    assert_eq!(o.stdout_text(), "1000\n0\n", "{}", o.stderr_text());
    // A user's tar into root's directory dies on its first file; what it
    // extracts where it may is its own.
    f.sys.fs.set_identity(crate::hostfs::Identity {
        uid: 1000,
        gid: 3000,
        groups: Vec::new(),
        fs_group: None,
    });
    let o = sh(&f, "tar xf /tmp/a.tar -C /etc");
    assert_eq!(
        (o.stderr_text().as_str(), o.exit_code),
        ("tar: can't open 'testfile': Permission denied\n", 1)
    );
    let o = sh(
        &f,
        "mkdir /tmp/u && tar xf /tmp/a.tar -C /tmp/u && stat -c %u:%g /tmp/u/testfile",
    );
    assert_eq!(o.stdout_text(), "1000:3000\n", "{}", o.stderr_text());
}

/// The umask goes from the shell to what it runs and shapes new modes.
#[test]
fn umask_shapes_new_files() {
    let f = fixture();
    let o = sh(
        &f,
        "umask; umask -S; umask 077; umask; cd /tmp && touch a && mkdir d && echo x > r && cp /etc/passwd p && ls -l a r p | awk '{print $1}'; ls -ld d | awk '{print $1}'; (umask 002; touch g; ls -l g | awk '{print $1}'); umask u=rwx,g=rx,o=; umask; umask 99",
    );
    assert_eq!(
        o.stdout_text(),
        "0022\nu=rwx,g=rx,o=rx\n0077\n-rw-------\n-rw-------\n-rw-------\ndrwx------\n-rw-rw-r--\n0027\n"
    );
    assert_eq!(o.stderr_text(), "sh: umask: line 1: illegal mode: 99\n");
}
