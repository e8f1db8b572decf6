//! The environment of the course's shell, in the pane and under
//! `kubetutor shell`: `KUBECONFIG` aimed at the course's cluster with the
//! course namespace as the default, the lab directory as the working
//! directory, and a prompt marker.
//!
//! The namespace default needs a context whose `namespace` is the course's.
//! Rather than copy the learner's kubeconfig (credentials, relative paths,
//! tokens refreshed in place), kubetutor writes a small kubeconfig of its
//! own (0600, `<data-dir>/shell/`) that holds only that context and makes it
//! current, and puts it first in `KUBECONFIG`, before the files kubetutor
//! itself read: kubectl merges them, the first file wins for the context
//! and the current context, and the cluster and user entries still come
//! from where they are. `kubectl config use-context`/`set-context` in the
//! shell then write to kubetutor's file, never to the learner's.

use anyhow::{Context as _, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Where the shell's files live, under the data directory.
pub fn shell_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("shell")
}

/// The prompt marker: the course's shell says so at every prompt.
pub const MARKER: &str = "(kubetutor) ";

/// The cluster the shell is aimed at, as kubetutor chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kubeconfig files kubetutor read (the sandbox's own, or
    /// `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`), in merge order.
    pub files: Vec<PathBuf>,
    /// The context kubetutor uses.
    pub context: String,
    pub namespace: String,
}

/// Which family of shell, for its prompt and start-up files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bash,
    Zsh,
    Fish,
    /// sh, dash, ksh, and anything else: `PS1` and `ENV`.
    Posix,
}

impl Kind {
    fn of(program: &Path) -> Kind {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.trim_start_matches('-');
        match name {
            "bash" => Kind::Bash,
            "zsh" => Kind::Zsh,
            "fish" => Kind::Fish,
            _ => Kind::Posix,
        }
    }
}

/// Everything the course's shell is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellSpec {
    /// `$SHELL`, else `/bin/sh`.
    pub program: PathBuf,
    pub kind: Kind,
    /// Variables set (after the ones removed).
    pub env: Vec<(OsString, OsString)>,
    /// Variables removed from kubetutor's own environment.
    pub remove: Vec<&'static str>,
    /// The lab directory (else kubetutor's working directory).
    pub cwd: PathBuf,
    /// The value of `KUBECONFIG`.
    pub kubeconfig: OsString,
    pub target: Target,
    /// `<data-dir>/shell`, where the start-up files are.
    dir: PathBuf,
}

impl ShellSpec {
    /// The arguments that start the shell: interactive with its prompt
    /// marker, or reading commands (`command`, else standard input).
    pub fn args(&self, interactive: bool, command: Option<&str>) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        match self.kind {
            Kind::Bash if interactive && command.is_none() => {
                args.push("--rcfile".into());
                args.push(self.dir.join("bashrc").into());
            }
            Kind::Fish if interactive && command.is_none() => {
                args.push("--init-command".into());
                args.push(FISH_INIT.into());
            }
            _ => {}
        }
        if let Some(c) = command {
            args.push("-c".into());
            args.push(c.into());
        }
        args
    }

    /// What the pane's title says about the shell.
    pub fn label(&self) -> String {
        format!("{} · ns {}", self.target.context, self.target.namespace)
    }
}

/// Builds the shell's environment for `target` and writes its files: the
/// kubeconfig layer (0600) and the start-up files that put the prompt
/// marker in place after the learner's own.
pub fn prepare(data_dir: &Path, target: &Target, lab: Option<&Path>) -> Result<ShellSpec> {
    let program = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"));
    prepare_with(data_dir, target, lab, program, &|k| std::env::var_os(k))
}

/// [`prepare`] with the shell and the environment given (testable).
pub fn prepare_with(
    data_dir: &Path,
    target: &Target,
    lab: Option<&Path>,
    program: PathBuf,
    getenv: &dyn Fn(&str) -> Option<OsString>,
) -> Result<ShellSpec> {
    let dir = shell_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the shell's directory {}", dir.display()))?;
    let layer = dir.join(layer_name(&target.context, &target.namespace));
    write_private(&layer, layer_kubeconfig(target)?.as_bytes())
        .with_context(|| format!("cannot write the shell's kubeconfig {}", layer.display()))?;
    let mut files = vec![layer];
    files.extend(target.files.iter().cloned());
    let kubeconfig = std::env::join_paths(&files)
        .context("a kubeconfig path holds the path separator; the shell cannot export it")?;
    let kind = Kind::of(&program);
    write_startup_files(&dir, kind)?;
    let cwd = match lab {
        Some(l) if l.is_dir() => l.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
    };
    let mut env: Vec<(OsString, OsString)> = vec![
        ("KUBECONFIG".into(), kubeconfig.clone()),
        // The start-up files put it back if the learner's own changed it.
        ("KUBETUTOR_KUBECONFIG".into(), kubeconfig.clone()),
        ("KUBETUTOR_SHELL".into(), "1".into()),
        ("KUBETUTOR_CONTEXT".into(), target.context.clone().into()),
        (
            "KUBETUTOR_NAMESPACE".into(),
            target.namespace.clone().into(),
        ),
        // `kubetutor status` in the shell reads the same data directory.
        ("KUBETUTOR_DATA_DIR".into(), data_dir.into()),
        ("KUBETUTOR_LAB".into(), cwd.clone().into()),
    ];
    if let Some(path) = path_with_kubetutor(getenv("PATH")) {
        env.push(("PATH".into(), path));
    }
    match kind {
        Kind::Posix => {
            // sh reads `$ENV` when interactive: the learner's own first.
            if let Some(user) = getenv("ENV") {
                env.push(("KUBETUTOR_USER_ENV".into(), user));
            }
            env.push(("ENV".into(), dir.join("shrc").into()));
            env.push(("PS1".into(), format!("{MARKER}$ ").into()));
        }
        Kind::Zsh => {
            let home = getenv("ZDOTDIR")
                .or_else(|| getenv("HOME"))
                .unwrap_or_default();
            env.push(("KUBETUTOR_ZDOTDIR".into(), home));
            env.push(("ZDOTDIR".into(), dir.join("zsh").into()));
        }
        Kind::Bash | Kind::Fish => {}
    }
    Ok(ShellSpec {
        program,
        kind,
        env,
        remove: Vec::new(),
        cwd,
        kubeconfig,
        target: target.clone(),
        dir,
    })
}

/// The file name of the layer for one context and namespace (several
/// kubetutors, or a `kubetutor shell --namespace`, do not overwrite each
/// other's).
fn layer_name(context: &str, namespace: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect()
    };
    format!("kubeconfig-{}-{}", clean(context), clean(namespace))
}

/// The layer: the chosen context, with the course namespace, current.
fn layer_kubeconfig(target: &Target) -> Result<String> {
    use crate::cluster::connection::{ConnectOptions, resolve_files};
    let opts = ConnectOptions {
        kubeconfig: None,
        context: Some(target.context.clone()),
        namespace: Some(target.namespace.clone()),
        // Already accepted (or refused) when kubetutor connected.
        allow_remote: true,
    };
    let resolved = resolve_files(&opts, &target.files)?;
    let named = resolved
        .kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == target.context)
        .and_then(|c| c.context.clone())
        .with_context(|| format!("context `{}` is not in the kubeconfig", target.context))?;
    let mut context = serde_json::to_value(&named)?;
    if let Some(obj) = context.as_object_mut() {
        obj.insert("namespace".into(), target.namespace.clone().into());
    }
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": target.context,
        "contexts": [{"name": target.context, "context": context}],
    });
    Ok(format!(
        "# Written by kubetutor for its shell: the course's context with the course namespace.\n{}\n",
        serde_json::to_string_pretty(&doc)?
    ))
}

/// `PATH` with kubetutor's own directory appended when `kubetutor` is not
/// on it (run with `cargo run`): `kubetutor status` works in the shell.
fn path_with_kubetutor(path: Option<OsString>) -> Option<OsString> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.to_path_buf();
    let mut dirs: Vec<PathBuf> = path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if dirs.iter().any(|d| d.join("kubetutor").is_file())
        || exe.file_stem() != Some(OsStr::new("kubetutor"))
    {
        return None;
    }
    dirs.push(dir);
    std::env::join_paths(dirs).ok()
}

/// Start-up files: the learner's own first, then `KUBECONFIG` and the
/// working directory put back (a `.bashrc` may set either), then the
/// prompt marker.
const BASHRC: &str = r#"# Written by kubetutor: the course's shell (bash).
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
export KUBECONFIG="$KUBETUTOR_KUBECONFIG"
cd "$KUBETUTOR_LAB" 2>/dev/null
case "$PS1" in "(kubetutor) "*) ;; *) PS1="(kubetutor) ${PS1:-\\s-\\v\\\$ }" ;; esac
"#;

const SHRC: &str = r#"# Written by kubetutor: the course's shell (sh).
if [ -n "$KUBETUTOR_USER_ENV" ] && [ -f "$KUBETUTOR_USER_ENV" ]; then . "$KUBETUTOR_USER_ENV"; fi
export KUBECONFIG="$KUBETUTOR_KUBECONFIG"
case "$PS1" in "(kubetutor) "*) ;; *) PS1="(kubetutor) ${PS1:-\$ }" ;; esac
"#;

const ZSHENV: &str = r#"# Written by kubetutor: the course's shell (zsh), then your own .zshenv.
_kubetutor_dir=$ZDOTDIR
ZDOTDIR=$KUBETUTOR_ZDOTDIR
[[ -f $ZDOTDIR/.zshenv ]] && source $ZDOTDIR/.zshenv
KUBETUTOR_ZDOTDIR=$ZDOTDIR
ZDOTDIR=$_kubetutor_dir
unset _kubetutor_dir
"#;

const ZSHRC: &str = r#"# Written by kubetutor: the course's shell (zsh), then your own .zshrc.
ZDOTDIR=$KUBETUTOR_ZDOTDIR
[[ -f $ZDOTDIR/.zshrc ]] && source $ZDOTDIR/.zshrc
export KUBECONFIG=$KUBETUTOR_KUBECONFIG
cd $KUBETUTOR_LAB 2>/dev/null
_kubetutor_prompt() {
  [[ $PROMPT == "(kubetutor) "* ]] || PROMPT="(kubetutor) $PROMPT"
  print -n "\e]2;kubetutor: $KUBETUTOR_CONTEXT · ns $KUBETUTOR_NAMESPACE\a"
}
typeset -ga precmd_functions
precmd_functions+=(_kubetutor_prompt)
"#;

const FISH_INIT: &str = "set -gx KUBECONFIG $KUBETUTOR_KUBECONFIG; \
cd $KUBETUTOR_LAB 2>/dev/null; \
if functions -q fish_prompt; functions -c fish_prompt _kubetutor_prompt; \
else; function _kubetutor_prompt; printf '> '; end; end; \
function fish_prompt; printf '(kubetutor) '; _kubetutor_prompt; end; \
function fish_title; echo \"kubetutor: $KUBETUTOR_CONTEXT · ns $KUBETUTOR_NAMESPACE\"; end";

fn write_startup_files(dir: &Path, kind: Kind) -> Result<()> {
    let files: &[(&str, &str)] = match kind {
        Kind::Bash => &[("bashrc", BASHRC)],
        Kind::Posix => &[("shrc", SHRC)],
        Kind::Zsh => &[("zsh/.zshenv", ZSHENV), ("zsh/.zshrc", ZSHRC)],
        Kind::Fish => &[],
    };
    for (name, text) in files {
        let path = dir.join(name);
        write_private(&path, text.as_bytes()).with_context(|| {
            format!("cannot write the shell's start-up file {}", path.display())
        })?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically, readable by the learner alone.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Unchanged: nothing to do (the pane and `kubetutor shell` both write).
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const KC: &str = r#"apiVersion: v1
kind: Config
current-context: other
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u1
  user: {token: secret}
contexts:
- name: kind-course
  context: {cluster: c1, user: u1, namespace: default}
- name: other
  context: {cluster: c1, user: u1}
"#;

    fn target(dir: &Path) -> Target {
        let kc = dir.join("config");
        std::fs::write(&kc, KC).unwrap();
        Target {
            files: vec![kc],
            context: "kind-course".into(),
            namespace: "storage".into(),
        }
    }

    fn env(spec: &ShellSpec, k: &str) -> Option<OsString> {
        spec.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn the_layer_names_the_context_with_the_course_namespace_and_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path());
        let spec = prepare_with(dir.path(), &t, None, "/bin/bash".into(), &|_| None).unwrap();
        let files: Vec<PathBuf> = std::env::split_paths(&spec.kubeconfig).collect();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1], t.files[0]);
        let layer = std::fs::read_to_string(&files[0]).unwrap();
        assert!(!layer.contains("secret"), "{layer}");
        // It is a kubeconfig kubectl and kube-rs read, merged with the
        // learner's: the course context is current, with its namespace.
        let opts = crate::cluster::connection::ConnectOptions {
            allow_remote: true,
            ..Default::default()
        };
        let r = crate::cluster::connection::resolve_files(&opts, &files).unwrap();
        assert_eq!(r.info.context, "kind-course");
        let ctx = r
            .kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == "kind-course")
            .unwrap();
        assert_eq!(
            ctx.context.as_ref().unwrap().namespace.as_deref(),
            Some("storage")
        );
        assert_eq!(ctx.context.as_ref().unwrap().user.as_deref(), Some("u1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The learner's file is untouched.
        assert_eq!(std::fs::read_to_string(&t.files[0]).unwrap(), KC);
        assert_eq!(env(&spec, "KUBECONFIG"), Some(spec.kubeconfig.clone()));
        assert_eq!(env(&spec, "KUBETUTOR_SHELL").unwrap(), "1");
    }

    #[test]
    fn each_shell_gets_its_prompt_marker() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path());
        let lab = dir.path().join("lab");
        std::fs::create_dir(&lab).unwrap();
        let bash = prepare_with(dir.path(), &t, Some(&lab), "/usr/bin/bash".into(), &|_| {
            None
        })
        .unwrap();
        assert_eq!(bash.kind, Kind::Bash);
        assert_eq!(bash.cwd, lab);
        let args = bash.args(true, None);
        assert_eq!(args[0], "--rcfile");
        assert!(
            std::fs::read_to_string(&args[1])
                .unwrap()
                .contains("(kubetutor) ")
        );
        // Reading commands: no rc file, and -c passes the command.
        assert!(bash.args(false, None).is_empty());
        assert_eq!(
            bash.args(false, Some("ls")),
            vec![OsString::from("-c"), "ls".into()]
        );

        let sh = prepare_with(dir.path(), &t, None, "/bin/sh".into(), &|k| {
            (k == "ENV").then(|| OsString::from("/home/x/.shrc"))
        })
        .unwrap();
        assert_eq!(sh.kind, Kind::Posix);
        assert_eq!(env(&sh, "PS1").unwrap(), "(kubetutor) $ ");
        assert_eq!(env(&sh, "KUBETUTOR_USER_ENV").unwrap(), "/home/x/.shrc");

        let zsh = prepare_with(dir.path(), &t, None, "/bin/zsh".into(), &|k| {
            (k == "HOME").then(|| OsString::from("/home/x"))
        })
        .unwrap();
        assert_eq!(env(&zsh, "KUBETUTOR_ZDOTDIR").unwrap(), "/home/x");
        let zdot = PathBuf::from(env(&zsh, "ZDOTDIR").unwrap());
        assert!(zdot.join(".zshrc").is_file() && zdot.join(".zshenv").is_file());

        let fish = prepare_with(dir.path(), &t, None, "/usr/bin/fish".into(), &|_| None).unwrap();
        assert_eq!(fish.args(true, None)[0], "--init-command");
    }

    #[test]
    fn an_unknown_context_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = target(dir.path());
        t.context = "nope".into();
        let e = prepare_with(dir.path(), &t, None, "/bin/sh".into(), &|_| None).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
