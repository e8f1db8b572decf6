//! Shell builtins: the special ones (`exit`, `export`, `set`, `trap`,
//! `eval`, `.`...) whose errors end a script, and the regular ones (`cd`,
//! `read`, `wait`, `kill`, `type`, `local`...). `echo`, `printf`, `test`
//! run the same code as the applets, inside the shell's process.

use std::sync::Arc;

use crate::process::{ExitStatus, Signal};
use crate::shell::userland::ShellKind;

use super::ast::{CondExpr, is_name};
use super::interp::{Flow, Res, Shell};
use super::vfs::errno;

pub type Builtin = fn(&mut Shell, &[String]) -> Res<i32>;

/// Special builtins: assignments before them persist, errors end a
/// non-interactive shell.
pub fn special(name: &str, _dialect: ShellKind) -> Option<Builtin> {
    Some(match name {
        ":" => |_, _| Ok(0),
        "." => dot,
        "break" => break_cmd,
        "continue" => continue_cmd,
        "eval" => eval,
        "exec" => exec,
        "exit" => exit,
        "export" => export,
        "readonly" => readonly,
        "return" => return_cmd,
        "set" => set,
        "shift" => shift,
        "times" => times,
        "trap" => trap,
        "unset" => unset,
        _ => return None,
    })
}

/// Regular builtins (found before `PATH`).
pub fn regular(name: &str, dialect: ShellKind) -> Option<Builtin> {
    let bash = dialect == ShellKind::Bash;
    Some(match name {
        "cd" => cd,
        "pwd" => pwd,
        "echo" | "printf" | "test" | "[" | "true" | "false" => applet_builtin,
        "[[" if dialect == ShellKind::Ash => applet_builtin,
        "read" => read,
        "wait" => wait,
        "kill" => kill,
        "jobs" => jobs,
        "type" => type_cmd,
        "command" => command,
        "hash" => |_, _| Ok(0),
        "umask" => umask,
        "ulimit" => ulimit,
        "getopts" => getopts,
        "let" if dialect != ShellKind::Dash => let_cmd,
        "local" => local,
        "source" if dialect != ShellKind::Dash => dot,
        "alias" | "unalias" => |_, _| Ok(0),
        "fg" | "bg" => fg_bg,
        "declare" | "typeset" if bash => declare,
        "help" if dialect != ShellKind::Dash => help,
        _ => return None,
    })
}

fn applet_builtin(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    super::applets::run_in_shell(sh, argv)
}

fn number_arg(sh: &Shell, cmd: &str, arg: &str) -> Result<i32, Flow> {
    match arg.parse::<i64>() {
        Ok(n) if n >= 0 || sh.bash() => Ok((n & 0xff) as i32),
        _ => {
            match sh.dialect {
                ShellKind::Bash => sh.msg(Some(cmd), &format!("{arg}: numeric argument required")),
                _ => sh.msg(Some(cmd), &format!("Illegal number: {arg}")),
            }
            Err(Flow::Error(2))
        }
    }
}

fn exit(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let code = match argv.get(1) {
        None => sh.status,
        Some(a) => number_arg(sh, "exit", a)?,
    };
    if sh.interactive && sh.bash() {
        let _ = sh.write_fd(2, b"exit\n");
    }
    Err(Flow::Exit(code))
}

fn return_cmd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let code = match argv.get(1) {
        None => sh.status,
        Some(a) => number_arg(sh, "return", a)?,
    };
    if sh.func_depth == 0 && sh.bash() {
        sh.msg(
            Some("return"),
            "can only `return' from a function or sourced script",
        );
        return Ok(1);
    }
    Err(Flow::Return(code))
}

fn loop_count(sh: &Shell, cmd: &str, argv: &[String]) -> Result<u32, Flow> {
    match argv.get(1) {
        None => Ok(1),
        Some(a) => match a.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => {
                sh.msg(Some(cmd), &format!("Illegal number: {a}"));
                Err(Flow::Error(2))
            }
        },
    }
}

fn break_cmd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let n = loop_count(sh, "break", argv)?;
    if sh.loop_depth == 0 {
        if sh.bash() {
            sh.msg(
                Some("break"),
                "only meaningful in a `for', `while', or `until' loop",
            );
        }
        return Ok(0);
    }
    Err(Flow::Break(n.min(sh.loop_depth)))
}

fn continue_cmd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let n = loop_count(sh, "continue", argv)?;
    if sh.loop_depth == 0 {
        if sh.bash() {
            sh.msg(
                Some("continue"),
                "only meaningful in a `for', `while', or `until' loop",
            );
        }
        return Ok(0);
    }
    Err(Flow::Continue(n.min(sh.loop_depth)))
}

fn eval(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let text = argv[1..].join(" ");
    if text.trim().is_empty() {
        return Ok(0);
    }
    sh.eval_text(&text)
}

fn exec(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    if argv.len() < 2 {
        sh.keep_fds = true;
        return Ok(0);
    }
    sh.run_external(&argv[1..], &[], true)
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\"'\"'"))
}

fn export(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    declare_like(sh, argv, "export", |sh, name| {
        sh.vars.export(name).map_err(|e| sh.var_error(name, e))
    })
}

fn readonly(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    declare_like(sh, argv, "readonly", |sh, name| {
        sh.vars
            .set_readonly(name)
            .map_err(|e| sh.var_error(name, e))
    })
}

fn declare_like(
    sh: &mut Shell,
    argv: &[String],
    cmd: &str,
    mark: fn(&mut Shell, &str) -> Res<()>,
) -> Res<i32> {
    let args: Vec<&String> = argv[1..]
        .iter()
        .filter(|a| *a != "-p" && *a != "-n")
        .collect();
    if args.is_empty() {
        let all = sh.vars.all();
        let mut out = String::new();
        for (k, v) in all {
            let shown = if cmd == "export" {
                v.exported
            } else {
                v.readonly
            };
            if shown {
                let prefix = if sh.bash() {
                    if cmd == "export" {
                        "declare -x"
                    } else {
                        "declare -r"
                    }
                } else {
                    cmd
                };
                out.push_str(&format!(
                    "{prefix} {k}={}\n",
                    if sh.bash() {
                        format!("\"{}\"", v.value)
                    } else {
                        quote(&v.value)
                    }
                ));
            }
        }
        sh.out(out.as_bytes())?;
        return Ok(0);
    }
    for a in args {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        if !is_name(name) {
            match sh.dialect {
                ShellKind::Bash => sh.msg(Some(cmd), &format!("`{a}': not a valid identifier")),
                _ => sh.msg(Some(cmd), &format!("{name}: bad variable name")),
            }
            return if sh.bash() {
                Ok(1)
            } else {
                Err(Flow::Error(2))
            };
        }
        if let Some(v) = value {
            sh.set_var(name, v)?;
        }
        mark(sh, name)?;
    }
    Ok(0)
}

fn declare(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut export = false;
    let mut readonly = false;
    let mut names = Vec::new();
    for a in &argv[1..] {
        if let Some(flags) = a.strip_prefix('-') {
            export |= flags.contains('x');
            readonly |= flags.contains('r');
        } else {
            names.push(a.clone());
        }
    }
    if sh.func_depth > 0 {
        let mut l = vec!["local".to_string()];
        l.extend(names.iter().cloned());
        local(sh, &l)?;
    } else {
        for a in &names {
            if let Some((n, v)) = a.split_once('=') {
                sh.set_var(n, v.to_string())?;
            } else if !sh.vars.is_set(a) {
                sh.set_var(a, String::new())?;
            }
        }
    }
    for a in &names {
        let n = a.split_once('=').map_or(a.as_str(), |p| p.0);
        if export {
            sh.vars.export(n).map_err(|e| sh.var_error(n, e))?;
        }
        if readonly {
            sh.vars.set_readonly(n).map_err(|e| sh.var_error(n, e))?;
        }
    }
    Ok(0)
}

fn local(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    if sh.func_depth == 0 || sh.locals.is_empty() {
        match sh.dialect {
            ShellKind::Bash => {
                sh.msg(Some("local"), "can only be used in a function");
                return Ok(1);
            }
            _ => {
                sh.msg(Some("local"), "not in a function");
                return Err(Flow::Error(2));
            }
        }
    }
    for a in &argv[1..] {
        if a.starts_with('-') {
            continue;
        }
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if !is_name(&name) {
            sh.msg(Some("local"), &format!("{name}: bad variable name"));
            return Err(Flow::Error(2));
        }
        let saved = sh.vars.var(&name).cloned();
        if let Some(frame) = sh.locals.last_mut()
            && !frame.iter().any(|(n, _)| *n == name)
        {
            frame.push((name.clone(), saved));
        }
        match value {
            Some(v) => sh.set_var(&name, v)?,
            // bash: a new local is unset-but-declared; ash keeps the value.
            None if sh.bash() => sh.set_var(&name, String::new())?,
            None => {}
        }
    }
    Ok(0)
}

fn unset(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut functions = false;
    for a in &argv[1..] {
        match a.as_str() {
            "-f" => functions = true,
            "-v" => functions = false,
            name if functions => {
                Arc::make_mut(&mut sh.funcs).remove(name);
            }
            name => {
                if let Err(e) = sh.vars.unset(name) {
                    let f = sh.var_error(name, e);
                    return Err(f);
                }
            }
        }
    }
    Ok(0)
}

fn shift(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let n = match argv.get(1) {
        None => 1,
        Some(a) => match a.parse::<usize>() {
            Ok(n) => n,
            Err(_) => {
                sh.msg(Some("shift"), &format!("Illegal number: {a}"));
                return Err(Flow::Error(2));
            }
        },
    };
    if n > sh.params.len() {
        if sh.bash() {
            return Ok(1);
        }
        sh.msg(Some("shift"), "can't shift that many");
        return Err(Flow::Error(2));
    }
    sh.params.drain(..n);
    Ok(0)
}

fn set(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    if argv.len() == 1 {
        let mut out = String::new();
        for (k, v) in sh.vars.all() {
            out.push_str(&format!("{k}={}\n", quote(&v.value)));
        }
        sh.out(out.as_bytes())?;
        return Ok(0);
    }
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            sh.params = argv[i + 1..].to_vec();
            return Ok(0);
        }
        let (on, flags) = match a.strip_prefix('-') {
            Some(f) => (true, f),
            None => match a.strip_prefix('+') {
                Some(f) => (false, f),
                None => {
                    sh.params = argv[i..].to_vec();
                    return Ok(0);
                }
            },
        };
        if flags.is_empty() {
            // `set -`: turn off -x and -v, the rest are parameters.
            sh.opts.xtrace = false;
            sh.opts.verbose = false;
            sh.params = argv[i + 1..].to_vec();
            return Ok(0);
        }
        for c in flags.chars() {
            if c == 'o' {
                i += 1;
                let Some(name) = argv.get(i) else {
                    let mut out = String::new();
                    for (n, v) in option_list(sh) {
                        out.push_str(&format!("{n:<16}{}\n", if v { "on" } else { "off" }));
                    }
                    sh.out(out.as_bytes())?;
                    return Ok(0);
                };
                if !set_named(sh, name, on) {
                    sh.msg(Some("set"), &format!("illegal option -o {name}"));
                    return Err(Flow::Error(2));
                }
                continue;
            }
            if !set_flag(sh, c, on) {
                sh.msg(
                    Some("set"),
                    &format!("illegal option {}{c}", if on { '-' } else { '+' }),
                );
                return Err(Flow::Error(2));
            }
        }
        i += 1;
    }
    Ok(0)
}

fn option_list(sh: &Shell) -> Vec<(&'static str, bool)> {
    vec![
        ("allexport", sh.opts.allexport),
        ("errexit", sh.opts.errexit),
        ("noglob", sh.opts.noglob),
        ("noclobber", sh.opts.noclobber),
        ("noexec", sh.opts.noexec),
        ("nounset", sh.opts.nounset),
        ("pipefail", sh.opts.pipefail),
        ("verbose", sh.opts.verbose),
        ("xtrace", sh.opts.xtrace),
    ]
}

pub fn set_flag(sh: &mut Shell, c: char, on: bool) -> bool {
    match c {
        'e' => sh.opts.errexit = on,
        'u' => sh.opts.nounset = on,
        'x' => sh.opts.xtrace = on,
        'f' => sh.opts.noglob = on,
        'C' => sh.opts.noclobber = on,
        'v' => sh.opts.verbose = on,
        'a' => sh.opts.allexport = on,
        'n' => sh.opts.noexec = on,
        'm' | 'b' | 'h' | 'B' | 'H' => {}
        _ => return false,
    }
    true
}

fn set_named(sh: &mut Shell, name: &str, on: bool) -> bool {
    match name {
        "errexit" => sh.opts.errexit = on,
        "nounset" => sh.opts.nounset = on,
        "xtrace" => sh.opts.xtrace = on,
        "noglob" => sh.opts.noglob = on,
        "noclobber" => sh.opts.noclobber = on,
        "verbose" => sh.opts.verbose = on,
        "allexport" => sh.opts.allexport = on,
        "noexec" => sh.opts.noexec = on,
        "pipefail" => sh.opts.pipefail = on,
        "vi" | "emacs" | "monitor" | "notify" | "ignoreeof" | "posix" | "nolog" | "debug" => {}
        _ => return false,
    }
    true
}

fn times(sh: &mut Shell, _: &[String]) -> Res<i32> {
    sh.out(b"0m0.00s 0m0.00s\n0m0.00s 0m0.00s\n")?;
    Ok(0)
}

/// A trap condition's canonical name (`EXIT`, `TERM`...).
fn trap_name(spec: &str) -> Option<String> {
    if spec == "0" || spec.eq_ignore_ascii_case("EXIT") {
        return Some("EXIT".to_string());
    }
    Signal::parse(spec).map(|s| s.name().to_string())
}

fn trap(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let args = &argv[1..];
    if args.is_empty() || args == ["-p"] {
        let mut out = String::new();
        for (cond, action) in &sh.traps {
            out.push_str(&format!("trap -- {} {cond}\n", quote(action)));
        }
        sh.out(out.as_bytes())?;
        return Ok(0);
    }
    if args[0] == "-l" {
        let mut out = String::new();
        for s in Signal::ALL {
            out.push_str(&format!("{:2}) {}\n", s.number(), s.name()));
        }
        sh.out(out.as_bytes())?;
        return Ok(0);
    }
    // `trap N...` or `trap SIG` alone resets; else the first is the action.
    let (action, conds) = if args[0].parse::<u32>().is_ok() || args.len() == 1 {
        ("-".to_string(), args)
    } else {
        (args[0].clone(), &args[1..])
    };
    let mut status = 0;
    for c in conds {
        let Some(name) = trap_name(c) else {
            sh.msg(Some("trap"), &format!("{c}: invalid signal specification"));
            status = 1;
            continue;
        };
        if action == "-" {
            sh.traps.remove(&name);
        } else {
            sh.traps.insert(name, action.clone());
        }
    }
    Ok(status)
}

fn dot(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let cmd = argv[0].clone();
    let Some(file) = argv.get(1) else {
        if sh.bash() {
            sh.msg(Some(&cmd), "filename argument required");
            return Ok(2);
        }
        return Ok(0);
    };
    let mut candidates = Vec::new();
    if file.contains('/') {
        candidates.push(file.clone());
    } else {
        let path = sh.vars.get("PATH").unwrap_or("").to_string();
        for d in path.split(':').filter(|d| !d.is_empty()) {
            candidates.push(format!("{}/{file}", d.trim_end_matches('/')));
        }
        if sh.bash() || sh.dialect == ShellKind::Ash {
            candidates.push(file.clone());
        }
    }
    let mem = Arc::clone(sh.mem());
    let mut found = None;
    let mut last_err = None;
    for c in &candidates {
        match sh.vfs().read_all(c, &mem) {
            Ok(data) => {
                found = Some(data);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((bytes, _charge)) = found else {
        let e = last_err.unwrap_or_else(super::vfs::enoent);
        if e.kind() == std::io::ErrorKind::OutOfMemory {
            return Err(sh.oom());
        }
        match sh.dialect {
            ShellKind::Bash => {
                sh.msg(None, &format!("{file}: No such file or directory"));
                return Ok(1);
            }
            ShellKind::Dash => sh.msg(Some(&cmd), &format!("cannot open {file}: No such file")),
            ShellKind::Ash => sh.msg(Some(&cmd), &format!("can't open '{file}': {}", errno(&e))),
        }
        return Err(Flow::Error(2));
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let saved_params = if argv.len() > 2 {
        Some(std::mem::replace(&mut sh.params, argv[2..].to_vec()))
    } else {
        None
    };
    let r = sh.eval_text(&text);
    if let Some(p) = saved_params {
        sh.params = p;
    }
    match r {
        Err(Flow::Return(c)) => Ok(c),
        other => other,
    }
}

fn cd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let args: Vec<&String> = argv[1..]
        .iter()
        .filter(|a| *a != "-L" && *a != "-P")
        .collect();
    let (target, print) = match args.first().map(|s| s.as_str()) {
        None => (sh.vars.get("HOME").unwrap_or("/").to_string(), false),
        Some("-") => (sh.vars.get("OLDPWD").unwrap_or("").to_string(), true),
        Some(t) => (t.to_string(), false),
    };
    if args.len() > 1 && sh.bash() {
        sh.msg(Some("cd"), "too many arguments");
        return Ok(1);
    }
    let vfs = sh.vfs();
    let result = match vfs.metadata(&target) {
        // chdir needs search permission on the directory itself.
        Ok(m) if m.is_dir() && !vfs.allowed(&m, crate::shell::vfs::SEARCH) => {
            Err(crate::shell::vfs::eacces())
        }
        Ok(m) if m.is_dir() => vfs.place(&target, true).map(|p| p.path),
        Ok(_) => Err(std::io::Error::from_raw_os_error(20)),
        Err(e) => Err(e),
    };
    match result {
        Ok(path) => {
            let old = std::mem::replace(&mut sh.cwd, path.clone());
            sh.set_var("OLDPWD", old)?;
            sh.set_var("PWD", path.clone())?;
            if print {
                sh.out(format!("{path}\n").as_bytes())?;
            }
            Ok(0)
        }
        Err(e) => match sh.dialect {
            ShellKind::Bash => {
                sh.msg(Some("cd"), &format!("{target}: {}", errno(&e)));
                Ok(1)
            }
            ShellKind::Dash => {
                sh.msg(Some("cd"), &format!("can't cd to {target}"));
                Ok(2)
            }
            ShellKind::Ash => {
                sh.msg(Some("cd"), &format!("can't cd to {target}: {}", errno(&e)));
                Ok(2)
            }
        },
    }
}

fn pwd(sh: &mut Shell, _: &[String]) -> Res<i32> {
    let line = format!("{}\n", sh.cwd);
    sh.out(line.as_bytes())?;
    Ok(0)
}

/// `read [-r] [-p prompt] [-t secs] [-n count] [-s] [-d delim] [name...]`
fn read(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut raw = false;
    let mut names = Vec::new();
    let mut prompt = None;
    let mut timeout = None;
    let mut count: Option<usize> = None;
    let mut delim = b'\n';
    let mut fd = 0u32;
    let mut i = 1;
    while i < argv.len() {
        let a = &argv[i];
        if names.is_empty() && a.starts_with('-') && a.len() > 1 {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                k += 1;
                if matches!(c, 'r' | 's') {
                    raw |= c == 'r';
                    continue;
                }
                // The other options take a value: the rest of this
                // argument, or the next one.
                let rest: String = chars[k..].iter().collect();
                let value = if rest.is_empty() {
                    i += 1;
                    argv.get(i).cloned()
                } else {
                    Some(rest)
                };
                match c {
                    'p' => prompt = value,
                    't' => timeout = value.and_then(|v| v.parse::<f64>().ok()),
                    'n' => count = value.and_then(|v| v.parse().ok()),
                    'd' => delim = value.and_then(|v| v.bytes().next()).unwrap_or(0),
                    'u' => fd = value.and_then(|v| v.parse().ok()).unwrap_or(0),
                    _ => {
                        sh.msg(Some("read"), &format!("-{c}: invalid option"));
                        return Ok(2);
                    }
                }
                break;
            }
        } else {
            names.push(a.clone());
        }
        i += 1;
    }
    if names.is_empty() {
        names.push("REPLY".to_string());
    }
    if let Some(p) = prompt {
        let _ = sh.write_fd(2, p.as_bytes());
    }
    let input = sh.fds.get_or_null(fd);
    let deadline =
        timeout.map(|t| std::time::Instant::now() + std::time::Duration::from_secs_f64(t.max(0.0)));
    let mut line: Vec<u8> = Vec::new();
    let mut got_delim = false;
    let max = 16 * 1024 * 1024;
    loop {
        let mut b = [0u8; 1];
        let timed_out = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
        let mailbox = sh.proc.mailbox();
        let stop = || mailbox.any() || timed_out();
        let n = match input.read(&mut b, &stop) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if timed_out() {
                    return Ok(if sh.bash() { 142 } else { 1 });
                }
                sh.checkpoint()?;
                continue;
            }
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        if b[0] == delim {
            if !raw && line.last() == Some(&b'\\') {
                line.pop();
                continue;
            }
            got_delim = true;
            break;
        }
        line.push(b[0]);
        if count.is_some_and(|c| line.len() >= c) {
            got_delim = true;
            break;
        }
        if line.len() > max {
            return Err(sh.oom());
        }
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    let text = if raw { text } else { unescape_read(&text) };
    let ifs = sh.vars.get("IFS").unwrap_or(" \t\n").to_string();
    let values = split_read(&text, &ifs, names.len());
    for (i, name) in names.iter().enumerate() {
        let v = values.get(i).cloned().unwrap_or_default();
        sh.set_var(name, v)?;
    }
    Ok(if got_delim || (!line.is_empty() && count.is_some()) {
        0
    } else {
        1
    })
}

fn unescape_read(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a line for `read`: n-1 fields, the last gets the rest.
fn split_read(text: &str, ifs: &str, n: usize) -> Vec<String> {
    let is_ws = |c: char| ifs.contains(c) && c.is_ascii_whitespace();
    let is_delim = |c: char| ifs.contains(c);
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches(is_ws);
    while out.len() + 1 < n && !rest.is_empty() {
        match rest.find(is_delim) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_ws);
                if let Some(c) = rest.chars().next()
                    && is_delim(c)
                    && !is_ws(c)
                {
                    rest = rest[c.len_utf8()..].trim_start_matches(is_ws);
                }
            }
            None => {
                out.push(rest.to_string());
                rest = "";
            }
        }
    }
    if !rest.is_empty() || out.len() < n {
        out.push(rest.trim_end_matches(is_ws).to_string());
    }
    out
}

/// A `%1`, `%%`, `%+` job spec or a PID.
fn job_pid(sh: &Shell, spec: &str) -> Option<u32> {
    if let Some(j) = spec.strip_prefix('%') {
        let job = match j {
            "" | "%" | "+" => sh.jobs.last(),
            "-" => sh.jobs.iter().rev().nth(1),
            n => n
                .parse::<usize>()
                .ok()
                .and_then(|n| sh.jobs.iter().find(|j| j.id == n)),
        }?;
        return Some(job.proc.pid());
    }
    spec.parse().ok()
}

fn wait(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let targets: Vec<&String> = argv[1..]
        .iter()
        .filter(|a| !a.starts_with('-') || a.starts_with("%"))
        .collect();
    let mut status = 0;
    let procs: Vec<Arc<crate::process::Process>> = if targets.is_empty() {
        sh.jobs.iter().map(|j| Arc::clone(&j.proc)).collect()
    } else {
        let mut v = Vec::new();
        for t in &targets {
            match job_pid(sh, t).and_then(|pid| sh.jobs.iter().find(|j| j.proc.pid() == pid)) {
                Some(j) => v.push(Arc::clone(&j.proc)),
                None => {
                    if t.starts_with('%') {
                        sh.msg(Some("wait"), &format!("{t}: no such job"));
                    }
                    status = 127;
                }
            }
        }
        v
    };
    for p in procs {
        loop {
            let mailbox = sh.proc.mailbox();
            match p.wait(&|| mailbox.any()) {
                Some(st) => {
                    status = if targets.is_empty() { 0 } else { st.code() };
                    break;
                }
                None => {
                    // A trapped signal ends `wait` at once (128 + signal).
                    let sig = Signal::ALL.into_iter().find(|s| sh.proc.mailbox().has(*s));
                    sh.checkpoint()?;
                    if let Some(s) = sig
                        && sh.traps.get(s.name()).is_some_and(|a| !a.is_empty())
                    {
                        return Ok(128 + s.number());
                    }
                }
            }
        }
    }
    // Finished jobs are forgotten.
    sh.jobs.retain(|j| j.proc.status().is_none());
    Ok(status)
}

fn kill(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    // Job specs become PIDs; the rest is the kill applet's.
    let mut args = vec![argv[0].clone()];
    for a in &argv[1..] {
        if a.starts_with('%') {
            match job_pid(sh, a) {
                Some(pid) => args.push(pid.to_string()),
                None => {
                    sh.msg(Some("kill"), &format!("{a}: no such job"));
                    return Ok(1);
                }
            }
        } else {
            args.push(a.clone());
        }
    }
    super::applets::run_in_shell(sh, &args)
}

fn jobs(sh: &mut Shell, _: &[String]) -> Res<i32> {
    let mut out = String::new();
    let n = sh.jobs.len();
    for (i, j) in sh.jobs.iter().enumerate() {
        let mark = if i + 1 == n {
            '+'
        } else if i + 2 == n {
            '-'
        } else {
            ' '
        };
        let state = match j.proc.status() {
            None => "Running".to_string(),
            Some(ExitStatus::Exited(0)) => "Done".to_string(),
            Some(ExitStatus::Exited(c)) => format!("Done({c})"),
            Some(st) => st
                .signal()
                .map_or("Done".into(), |s| s.description().to_string()),
        };
        out.push_str(&format!("[{}]{mark}  {state:<24}{}\n", j.id, j.text));
    }
    sh.out(out.as_bytes())?;
    sh.jobs.retain(|j| j.proc.status().is_none());
    Ok(0)
}

fn describe(sh: &Shell, name: &str) -> Option<String> {
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
        "{", "}", "!", "in",
    ];
    if KEYWORDS.contains(&name) {
        return Some(format!("{name} is a shell keyword"));
    }
    if sh.funcs.contains_key(name) {
        return Some(format!("{name} is a function"));
    }
    if special(name, sh.dialect).is_some() {
        return Some(if sh.bash() {
            format!("{name} is a shell builtin")
        } else {
            format!("{name} is a special shell builtin")
        });
    }
    if regular(name, sh.dialect).is_some() {
        return Some(format!("{name} is a shell builtin"));
    }
    match sh.find_program(name) {
        Ok((path, _)) => Some(format!("{name} is {path}")),
        Err(_) => None,
    }
}

fn type_cmd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut status = 0;
    for name in argv[1..].iter().filter(|a| !a.starts_with('-')) {
        match describe(sh, name) {
            Some(d) => sh.out(format!("{d}\n").as_bytes())?,
            None => {
                status = 1;
                match sh.dialect {
                    ShellKind::Bash => sh.msg(Some("type"), &format!("{name}: not found")),
                    _ => sh.out(format!("{name}: not found\n").as_bytes())?,
                }
            }
        }
    }
    Ok(status)
}

fn command(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut i = 1;
    let mut verbose = None;
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "-v" => verbose = Some(false),
            "-V" => verbose = Some(true),
            "-p" => {}
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let rest = &argv[i.min(argv.len())..];
    let Some(name) = rest.first() else {
        return Ok(0);
    };
    match verbose {
        Some(false) => {
            let found = if sh.funcs.contains_key(name)
                || special(name, sh.dialect).is_some()
                || regular(name, sh.dialect).is_some()
            {
                Some(name.clone())
            } else {
                sh.find_program(name).ok().map(|p| p.0)
            };
            match found {
                Some(f) => {
                    sh.out(format!("{f}\n").as_bytes())?;
                    Ok(0)
                }
                None => Ok(1),
            }
        }
        Some(true) => type_cmd(sh, &[&["type".to_string()][..], rest].concat()),
        None => {
            // Skips functions.
            if let Some(b) = special(name, sh.dialect).or_else(|| regular(name, sh.dialect)) {
                return b(sh, rest);
            }
            sh.run_external(rest, &[], false)
        }
    }
}

/// `umask [-S] [MODE]`: the process's file mode creation mask, in octal
/// or as `u=rwx,g=rx,o=rx` (what it leaves).
fn umask(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let symbolic = argv.get(1).is_some_and(|a| a == "-S");
    let operand = argv.iter().skip(1).find(|a| *a != "-S");
    let Some(spec) = operand else {
        let mask = sh.proc.umask();
        let line = if symbolic {
            let allowed = !mask & 0o777;
            let part = |shift: u32| {
                let bits = (allowed >> shift) & 7;
                ["r", "w", "x"]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (4 >> i) != 0)
                    .map(|(_, c)| *c)
                    .collect::<String>()
            };
            format!("u={},g={},o={}\n", part(6), part(3), part(0))
        } else {
            format!("{mask:04o}\n")
        };
        sh.out(line.as_bytes())?;
        return Ok(0);
    };
    let mask = if spec.chars().all(|c| ('0'..='7').contains(&c)) {
        u32::from_str_radix(spec, 8).ok()
    } else {
        // Symbolic: what it names is allowed, the rest masked.
        crate::shell::applets::files::parse_mode(spec, !sh.proc.umask() & 0o777, true)
            .map(|allowed| !allowed & 0o777)
    };
    match mask {
        Some(m) if m <= 0o777 => {
            sh.proc.set_umask(m);
            Ok(0)
        }
        _ => {
            // ash raises an error (status 2); bash returns 1.
            if sh.bash() {
                sh.msg(Some("umask"), &format!("{spec}: octal number out of range"));
                Ok(1)
            } else {
                sh.msg(Some("umask"), &format!("illegal mode: {spec}"));
                Ok(2)
            }
        }
    }
}

fn ulimit(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    if argv.iter().any(|a| a == "-a") {
        let limit_kb = sh.mem().limit() / 1024;
        sh.out(
            format!(
                "core file size (blocks)         (-c) 0\ndata seg size (kb)              (-d) unlimited\nmax memory size (kb)            (-m) {limit_kb}\nopen files                      (-n) 1048576\nmax user processes              (-u) {}\n",
                crate::process::table::MAX_PROCESSES
            )
            .as_bytes(),
        )?;
    } else if argv.len() == 1 || argv.iter().any(|a| a == "-f") {
        sh.out(b"unlimited\n")?;
    } else if argv.iter().any(|a| a == "-n") && argv.len() == 2 {
        sh.out(b"1048576\n")?;
    }
    Ok(0)
}

fn getopts(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let (Some(spec), Some(var)) = (argv.get(1), argv.get(2)) else {
        sh.msg(Some("getopts"), "usage: getopts optstring var [arg]");
        return Ok(2);
    };
    let args: Vec<String> = if argv.len() > 3 {
        argv[3..].to_vec()
    } else {
        sh.params.clone()
    };
    let optind: usize = sh
        .vars
        .get("OPTIND")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // Position inside a bundle of flags (`-ab`), kept in a private var.
    let sub: usize = sh
        .vars
        .get("_GETOPTS_SUB")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let Some(arg) = args.get(optind - 1) else {
        sh.set_var(var, "?".into())?;
        return Ok(1);
    };
    if !arg.starts_with('-') || arg == "-" {
        sh.set_var(var, "?".into())?;
        return Ok(1);
    }
    if arg == "--" {
        sh.set_var("OPTIND", (optind + 1).to_string())?;
        sh.set_var(var, "?".into())?;
        return Ok(1);
    }
    let chars: Vec<char> = arg.chars().collect();
    let c = chars.get(sub).copied().unwrap_or('?');
    let silent = spec.starts_with(':');
    let pos = spec.find(c);
    let takes_arg = pos.is_some_and(|p| spec[p + c.len_utf8()..].starts_with(':'));
    let mut next_ind = optind;
    let mut next_sub = sub + 1;
    if next_sub >= chars.len() {
        next_ind += 1;
        next_sub = 1;
    }
    match pos {
        None => {
            sh.set_var(var, "?".into())?;
            if silent {
                sh.set_var("OPTARG", c.to_string())?;
            } else {
                let _ = sh.write_fd(
                    2,
                    format!("{}: illegal option -- {c}\n", sh.arg0).as_bytes(),
                );
            }
        }
        Some(_) if takes_arg => {
            let value: String = if sub + 1 < chars.len() {
                chars[sub + 1..].iter().collect()
            } else {
                next_ind = optind + 1;
                match args.get(optind) {
                    Some(v) => {
                        next_ind += 1;
                        v.clone()
                    }
                    None => {
                        sh.set_var(var, if silent { ":" } else { "?" }.into())?;
                        if !silent {
                            let _ = sh.write_fd(
                                2,
                                format!("{}: option requires an argument -- {c}\n", sh.arg0)
                                    .as_bytes(),
                            );
                        }
                        sh.set_var("OPTIND", next_ind.to_string())?;
                        return Ok(0);
                    }
                }
            };
            next_ind = if sub + 1 < chars.len() {
                optind + 1
            } else {
                next_ind
            };
            next_sub = 1;
            sh.set_var("OPTARG", value)?;
            sh.set_var(var, c.to_string())?;
        }
        Some(_) => sh.set_var(var, c.to_string())?,
    }
    sh.set_var("OPTIND", next_ind.to_string())?;
    sh.set_var("_GETOPTS_SUB", next_sub.to_string())?;
    Ok(0)
}

fn let_cmd(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let mut v = 0;
    for a in &argv[1..] {
        v = sh.arith(a)?;
    }
    Ok(i32::from(v == 0))
}

fn fg_bg(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    sh.msg(Some(&argv[0]), "job control not enabled");
    Ok(1)
}

fn help(sh: &mut Shell, _: &[String]) -> Res<i32> {
    let text = "Built-in commands:\n------------------\n\t. : [ [[ alias bg break cd command continue echo eval exec\n\texit export false fg getopts hash help jobs kill let local\n\tprintf pwd read readonly return set shift source test times\n\ttrap true type ulimit umask unalias unset wait\n";
    sh.out(text.as_bytes())?;
    Ok(0)
}

impl Shell {
    /// `[[ expr ]]` (bash): Some(result), None for a usage error.
    pub fn cond_expr(&mut self, e: &CondExpr) -> Res<Option<bool>> {
        Ok(Some(match e {
            CondExpr::Not(inner) => match self.cond_expr(inner)? {
                Some(b) => !b,
                None => return Ok(None),
            },
            CondExpr::And(a, b) => {
                if self.cond_expr(a)? != Some(true) {
                    return Ok(Some(false));
                }
                self.cond_expr(b)? == Some(true)
            }
            CondExpr::Or(a, b) => {
                if self.cond_expr(a)? == Some(true) {
                    return Ok(Some(true));
                }
                self.cond_expr(b)? == Some(true)
            }
            CondExpr::Word(w) => !self.expand_string(w)?.is_empty(),
            CondExpr::Unary(op, w) => {
                let v = self.expand_string(w)?;
                let args = vec![op.clone(), v];
                return Ok(super::applets::misc::test_eval(&self.sys, &self.cwd, &args).ok());
            }
            CondExpr::Binary(l, op, r) => {
                let left = self.expand_string(l)?;
                match op.as_str() {
                    "==" | "=" | "!=" => {
                        let p = self.expand_pattern(r)?;
                        let m = p.matches(&left);
                        if op == "!=" { !m } else { m }
                    }
                    "=~" => {
                        let re = self.expand_string(r)?;
                        match regex::Regex::new(&super::applets::text::ere_to_rust(&re)) {
                            Ok(rx) => match rx.captures(&left) {
                                Some(c) => {
                                    let all = c.get(0).map_or("", |m| m.as_str()).to_string();
                                    let _ = self.set_var("BASH_REMATCH", all);
                                    true
                                }
                                None => false,
                            },
                            Err(_) => return Ok(None),
                        }
                    }
                    "<" => left < self.expand_string(r)?,
                    ">" => left > self.expand_string(r)?,
                    _ => {
                        let right = self.expand_string(r)?;
                        let (a, b) =
                            if matches!(op.as_str(), "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge")
                            {
                                (
                                    self.arith(&left)?.to_string(),
                                    self.arith(&right)?.to_string(),
                                )
                            } else {
                                (left, right)
                            };
                        let args = vec![a, op.clone(), b];
                        return Ok(
                            super::applets::misc::test_eval(&self.sys, &self.cwd, &args).ok()
                        );
                    }
                }
            }
        }))
    }
}
