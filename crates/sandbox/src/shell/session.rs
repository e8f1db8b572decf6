//! A shell process from its command line: `sh -c SCRIPT [NAME ARGS]`,
//! `sh FILE [ARGS]`, or `sh` reading commands from stdin — line by line,
//! with a prompt when it is interactive (a terminal, or `-i`), so input
//! that arrives over time runs as it arrives.

use crate::process::ExitStatus;
use crate::shell::userland::ShellKind;

use super::Launch;
use super::interp::{Flow, MAX_SHELL_DEPTH, Res, Shell};
use super::parse::{Script, parse_at};

/// What a shell reads its commands from.
enum Source {
    Command(String),
    File(String),
    Stdin,
}

/// The longest line an interactive shell reads.
const MAX_LINE: usize = 1024 * 1024;

/// Runs a shell process to its end.
pub fn shell_main(l: Launch, dialect: ShellKind) -> ExitStatus {
    let name = l.argv.first().cloned().unwrap_or_else(|| "sh".into());
    if l.shell_depth > MAX_SHELL_DEPTH {
        let f = l.fds.get_or_null(2);
        let _ = f.write_all(
            format!("{name}: can't fork: Resource temporarily unavailable\n").as_bytes(),
            &|| false,
        );
        return ExitStatus::Exited(2);
    }
    let argv = l.argv.clone();
    let tty = l.tty.clone();
    let mut sh = match Shell::new(l.sys, l.proc, dialect, l.fds, &l.env, l.cwd, l.shell_depth) {
        Ok(sh) => sh,
        Err(_) => return ExitStatus::OomKilled,
    };
    sh.arg0 = if dialect == ShellKind::Bash {
        "bash".to_string()
    } else {
        name.clone()
    };
    let mut interactive_flag = false;
    let mut source = None;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        if a.starts_with("--") {
            // bash's long options (--login, --norc, --noprofile).
            i += 1;
            continue;
        }
        let Some(flags) = a.strip_prefix('-').or_else(|| a.strip_prefix('+')) else {
            break;
        };
        if flags.is_empty() {
            i += 1;
            break;
        }
        let on = a.starts_with('-');
        for c in flags.chars() {
            match c {
                'c' if on => {
                    i += 1;
                    match argv.get(i) {
                        Some(script) => source = Some(Source::Command(script.clone())),
                        None => {
                            let msg = match dialect {
                                ShellKind::Bash => {
                                    format!("{}: -c: option requires an argument\n", sh.arg0)
                                }
                                ShellKind::Dash => {
                                    format!("{}: 0: -c requires an argument\n", sh.arg0)
                                }
                                ShellKind::Ash => format!("{}: -c requires an argument\n", sh.arg0),
                            };
                            let _ = sh.write_fd(2, msg.as_bytes());
                            return ExitStatus::Exited(2);
                        }
                    }
                }
                'i' => interactive_flag = on,
                's' | 'l' => {}
                c => {
                    if !super::builtins::set_flag(&mut sh, c, on) {
                        let _ = sh
                            .write_fd(2, format!("{}: illegal option -{c}\n", sh.arg0).as_bytes());
                        return ExitStatus::Exited(2);
                    }
                }
            }
        }
        i += 1;
    }
    let rest: Vec<String> = argv[i.min(argv.len())..].to_vec();
    match source {
        Some(Source::Command(_)) => {
            if let Some((first, params)) = rest.split_first() {
                // ash names its messages after it (`NAME: line 2: ...`).
                sh.arg0 = first.clone();
                sh.script = Some(first.clone());
                sh.params = params.to_vec();
            }
        }
        _ => {
            if let Some((file, params)) = rest.split_first() {
                source = Some(Source::File(file.clone()));
                sh.params = params.to_vec();
            } else {
                source = Some(Source::Stdin);
            }
        }
    }
    let r = match source {
        Some(Source::Command(text)) => run_script(&mut sh, &text),
        Some(Source::File(file)) => {
            let mem = std::sync::Arc::clone(sh.mem());
            match sh.vfs().read_all(&file, &mem) {
                Ok((bytes, _charge)) => {
                    sh.script = Some(file.clone());
                    sh.arg0 = file;
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    run_script(&mut sh, &text)
                }
                Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Err(sh.oom()),
                Err(e) => {
                    let why = super::vfs::errno(&e);
                    let (msg, code) = match dialect {
                        ShellKind::Ash => (format!("{}: can't open '{file}': {why}\n", sh.arg0), 2),
                        ShellKind::Dash => (
                            format!("{}: 0: cannot open {file}: No such file\n", sh.arg0),
                            2,
                        ),
                        ShellKind::Bash => (format!("bash: {file}: {why}\n"), 127),
                    };
                    let _ = sh.write_fd(2, msg.as_bytes());
                    Ok(code)
                }
            }
        }
        _ => {
            sh.interactive = interactive_flag || tty.is_some();
            sh.tty = tty;
            repl(&mut sh)
        }
    };
    sh.finish(r)
}

/// Runs a script one command line at a time (a syntax error ends it
/// after the lines before it ran).
pub fn run_script(sh: &mut Shell, text: &str) -> Res<i32> {
    let mut script = Script::new(text, sh.bash());
    let mut status = 0;
    let mut next = script.next_command();
    while let Some(current) = next {
        next = script.next_command();
        match current {
            Ok(list) => {
                // The script's last command, a lone program, replaces
                // the shell (ash's exec of the last command): `sh -c
                // 'sleep 3600'` is `sleep 3600` in `ps`, and its signals.
                if next.is_none() && !sh.traps.contains_key("EXIT") && lone_simple(&list) {
                    sh.exec_final = true;
                }
                status = sh.run_list(&list)?;
            }
            Err(e) => {
                sh.syntax_error(&e);
                return Err(Flow::Exit(2));
            }
        }
    }
    Ok(status)
}

/// A list of one simple command, run in the foreground.
pub fn lone_simple(list: &crate::shell::ast::List) -> bool {
    matches!(list.as_slice(), [item] if !item.background
        && item.and_or.rest.is_empty()
        && !item.and_or.first.bang
        && matches!(item.and_or.first.commands.as_slice(), [crate::shell::ast::Command::Simple(_)]))
}

/// The prompt with its escapes expanded (`\w`, `\u`, `\h`, `\$`...).
pub fn prompt(sh: &Shell, ps: &str) -> String {
    let home = sh.vars.get("HOME").unwrap_or("/root");
    let cwd = if sh.cwd == home {
        "~".to_string()
    } else if let Some(rest) = sh.cwd.strip_prefix(&format!("{home}/")) {
        format!("~/{rest}")
    } else {
        sh.cwd.clone()
    };
    let mut out = String::new();
    let mut chars = ps.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('w') => out.push_str(&cwd),
                Some('W') => out.push_str(if sh.cwd == "/" {
                    "/"
                } else if cwd == "~" {
                    "~"
                } else {
                    sh.cwd.rsplit('/').next().unwrap_or("")
                }),
                Some('u') => out.push_str("root"),
                Some('h') => out.push_str(sh.sys.hostname.split('.').next().unwrap_or("")),
                Some('H') => out.push_str(&sh.sys.hostname),
                Some('$') => out.push('#'),
                Some('n') => out.push('\n'),
                Some('s') => out.push_str(&sh.arg0),
                Some('\\') => out.push('\\'),
                Some('[' | ']') => {}
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else if c == '$'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_' || *n == '{')
        {
            let braced = chars.peek() == Some(&'{');
            if braced {
                chars.next();
            }
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if braced && chars.peek() == Some(&'}') {
                chars.next();
            }
            out.push_str(&sh.param_get(&name).unwrap_or_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads commands from stdin and runs each as soon as it is complete.
fn repl(sh: &mut Shell) -> Res<i32> {
    let mut buf = String::new();
    let mut first_line = 1u32;
    let mut line_count = 0u32;
    loop {
        if sh.interactive {
            let ps = if buf.is_empty() { "PS1" } else { "PS2" };
            let text = sh.vars.get(ps).unwrap_or("").to_string();
            let p = prompt(sh, &text);
            let _ = sh.write_fd(2, p.as_bytes());
        }
        let input = sh.fds.get_or_null(0);
        let read = {
            let mailbox = sh.proc.mailbox();
            input.read_line(MAX_LINE, &|| mailbox.any())
        };
        let (line, had_newline) = match read {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => match sh.checkpoint() {
                Err(Flow::Interrupted) => {
                    buf.clear();
                    let _ = sh.write_fd(2, b"\n");
                    continue;
                }
                Err(f) => return Err(f),
                Ok(()) => continue,
            },
            Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => return Err(sh.oom()),
            Err(_) => (Vec::new(), false),
        };
        if line.is_empty() && !had_newline {
            // End of input.
            if sh.interactive && sh.bash() {
                let _ = sh.write_fd(2, b"exit\n");
            }
            if !buf.trim().is_empty() {
                match parse_at(&buf, sh.bash(), first_line) {
                    Ok(list) => return sh.run_list(&list),
                    Err(e) => {
                        sh.syntax_error(&e);
                        return Ok(2);
                    }
                }
            }
            return Ok(sh.status);
        }
        buf.push_str(&String::from_utf8_lossy(&line));
        buf.push('\n');
        line_count += 1;
        match parse_at(&buf, sh.bash(), first_line) {
            Err(e) if e.incomplete => continue,
            Err(e) => {
                sh.syntax_error(&e);
                buf.clear();
                first_line += line_count;
                line_count = 0;
                if !sh.interactive {
                    return Err(Flow::Exit(2));
                }
                sh.status = 2;
            }
            Ok(list) => {
                buf.clear();
                first_line += line_count;
                line_count = 0;
                match sh.run_list(&list) {
                    Ok(c) => sh.status = c,
                    Err(Flow::Interrupted) if sh.interactive => {
                        sh.status = 130;
                        let _ = sh.write_fd(2, b"\n");
                    }
                    Err(Flow::Error(c)) if sh.interactive => sh.status = c,
                    Err(Flow::Break(_) | Flow::Continue(_)) => {}
                    Err(f) => return Err(f),
                }
            }
        }
    }
}
