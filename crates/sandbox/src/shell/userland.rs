//! What an image has inside: its shells (busybox `ash`, debian's `dash`
//! and `bash`), its programs and where they live, the wording of their
//! errors (busybox or GNU), its default command, and files such as
//! `/etc/os-release`. One description per image family, chosen from the
//! image name in [`Userland::for_os`]; the images module adds an
//! image's own programs (the postgres image's `psql`, the nginx image's
//! `nginx`) and files (nginx's configuration and pages), so the shell
//! finds everything through the userland's `PATH` and nowhere else.

use std::collections::BTreeMap;
use std::path::Path;

use crate::shell::applets::ProgramFn;

/// A shell dialect: its syntax extensions and message formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellKind {
    /// busybox 1.36 `ash` (`sh` in busybox and alpine).
    Ash,
    /// debian's `/bin/sh`.
    Dash,
    /// GNU bash 5.
    Bash,
}

/// Whose wording a program's errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Busybox,
    Gnu,
}

/// How a program runs.
#[derive(Clone)]
pub enum ProgramKind {
    Shell(ShellKind),
    /// One of the sandbox's applets, by name.
    Applet(&'static str),
    /// A program of the image itself (psql, pg_isready...).
    Image(ProgramFn),
}

impl std::fmt::Debug for ProgramKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgramKind::Shell(k) => write!(f, "Shell({k:?})"),
            ProgramKind::Applet(n) => write!(f, "Applet({n})"),
            ProgramKind::Image(_) => write!(f, "Image"),
        }
    }
}

/// One program: where it is and how it runs.
#[derive(Debug, Clone)]
pub struct Program {
    pub dir: &'static str,
    pub kind: ProgramKind,
}

/// An image's userland.
#[derive(Debug, Clone)]
pub struct Userland {
    /// The image reference it was made for (an image program's version
    /// comes from its tag).
    pub image: String,
    pub flavor: Flavor,
    /// `PATH` when the container's env has none.
    pub path: &'static str,
    /// The image's `CMD` (run when a container has no command).
    pub default_command: Vec<String>,
    programs: BTreeMap<String, Program>,
    /// Files the image has (`/etc/os-release`, `/etc/passwd`...).
    pub(crate) files: Vec<(String, String)>,
    /// Directories the image has beyond the common skeleton.
    pub(crate) dirs: Vec<&'static str>,
    /// Paths the image gives to a user: (path, uid, gid, mode).
    pub(crate) owned: Vec<(&'static str, u32, u32, u32)>,
    /// `/bin` is a link to `/usr/bin` (debian, ubuntu).
    merged_usr: bool,
}

/// The applets of busybox 1.36 the sandbox implements, with their
/// directory in alpine's layout (the busybox image has them all in /bin).
const BUSYBOX_APPLETS: &[(&str, &str)] = &[
    ("[", "/usr/bin"),
    ("[[", "/usr/bin"),
    ("awk", "/usr/bin"),
    ("base64", "/bin"),
    ("basename", "/usr/bin"),
    ("cat", "/bin"),
    ("chgrp", "/bin"),
    ("chmod", "/bin"),
    ("chown", "/bin"),
    ("cp", "/bin"),
    ("cut", "/usr/bin"),
    ("date", "/bin"),
    ("dd", "/bin"),
    ("df", "/bin"),
    ("dirname", "/usr/bin"),
    ("du", "/usr/bin"),
    ("echo", "/bin"),
    ("egrep", "/bin"),
    ("env", "/usr/bin"),
    ("expr", "/usr/bin"),
    ("false", "/bin"),
    ("fgrep", "/bin"),
    ("find", "/usr/bin"),
    ("free", "/usr/bin"),
    ("grep", "/bin"),
    ("gunzip", "/bin"),
    ("gzip", "/bin"),
    ("head", "/usr/bin"),
    ("hostname", "/bin"),
    ("id", "/usr/bin"),
    ("kill", "/bin"),
    ("ln", "/bin"),
    ("ls", "/bin"),
    ("md5sum", "/usr/bin"),
    ("mkdir", "/bin"),
    ("mktemp", "/bin"),
    ("mount", "/bin"),
    ("mv", "/bin"),
    ("nproc", "/usr/bin"),
    ("nslookup", "/usr/bin"),
    ("printenv", "/usr/bin"),
    ("printf", "/usr/bin"),
    ("ps", "/bin"),
    ("pwd", "/bin"),
    ("readlink", "/usr/bin"),
    ("realpath", "/usr/bin"),
    ("rm", "/bin"),
    ("rmdir", "/bin"),
    ("sed", "/bin"),
    ("seq", "/usr/bin"),
    ("sha256sum", "/usr/bin"),
    ("sleep", "/bin"),
    ("sort", "/usr/bin"),
    ("stat", "/bin"),
    ("sync", "/bin"),
    ("tac", "/usr/bin"),
    ("tail", "/usr/bin"),
    ("tar", "/bin"),
    ("tee", "/usr/bin"),
    ("test", "/usr/bin"),
    ("timeout", "/usr/bin"),
    ("touch", "/bin"),
    ("tr", "/usr/bin"),
    ("true", "/bin"),
    ("uname", "/bin"),
    ("uniq", "/usr/bin"),
    ("uptime", "/usr/bin"),
    ("wc", "/usr/bin"),
    ("wget", "/usr/bin"),
    ("which", "/usr/bin"),
    ("whoami", "/usr/bin"),
    ("xargs", "/usr/bin"),
    ("yes", "/usr/bin"),
    ("zcat", "/bin"),
];

/// What a debian or ubuntu base image has of the same programs (coreutils,
/// grep, sed, mawk, findutils, tar, gzip, util-linux's mount...): no
/// procps (`ps`), no wget, no nslookup.
const DEBIAN_PROGRAMS: &[&str] = &[
    "[",
    "awk",
    "base64",
    "basename",
    "cat",
    "chgrp",
    "chmod",
    "chown",
    "cp",
    "cut",
    "date",
    "dd",
    "df",
    "dirname",
    "du",
    "echo",
    "egrep",
    "env",
    "expr",
    "false",
    "fgrep",
    "find",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "hostname",
    "id",
    "kill",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "mount",
    "mv",
    "nproc",
    "printenv",
    "printf",
    "pwd",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "sync",
    "tac",
    "tail",
    "tar",
    "tee",
    "test",
    "timeout",
    "touch",
    "tr",
    "true",
    "uname",
    "uniq",
    "wc",
    "which",
    "whoami",
    "xargs",
    "yes",
    "zcat",
];

const ALPINE_OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n";

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n";

const UBUNTU_OS_RELEASE: &str = "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nVERSION=\"24.04.1 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n";

const BUSYBOX_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nsync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n";

const DEBIAN_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\nsync:x:4:65534:sync:/bin:/bin/sync\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

/// busybox's image's `/etc/group` (buildroot's skeleton: 65534 is `nobody`).
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nlp:x:7:\nmail:x:8:\nkmem:x:9:\nwheel:x:10:root\ncdrom:x:11:\ndialout:x:18:\nfloppy:x:19:\nvideo:x:28:\naudio:x:29:\ntape:x:32:\nwww-data:x:33:\noperator:x:37:\nutmp:x:43:\nplugdev:x:46:\nstaff:x:50:\nlock:x:54:\nnetdev:x:82:\nusers:x:100:\nnobody:x:65534:\n";

/// alpine's (3.20) `/etc/passwd` and `/etc/group`: root is in ten groups.
const ALPINE_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\nlp:x:4:7:lp:/var/spool/lpd:/sbin/nologin\nsync:x:5:0:sync:/sbin:/bin/sync\nshutdown:x:6:0:shutdown:/sbin:/sbin/shutdown\nhalt:x:7:0:halt:/sbin:/sbin/halt\nmail:x:8:12:mail:/var/mail:/sbin/nologin\nnews:x:9:13:news:/usr/lib/news:/sbin/nologin\nuucp:x:10:14:uucp:/var/spool/uucppublic:/sbin/nologin\ncron:x:16:16:cron:/var/spool/cron:/sbin/nologin\nftp:x:21:21::/var/lib/ftp:/sbin/nologin\nsshd:x:22:22:sshd:/dev/null:/sbin/nologin\ngames:x:35:35:games:/usr/games:/sbin/nologin\nntp:x:123:123:NTP:/var/empty:/sbin/nologin\nguest:x:405:100:guest:/dev/null:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
const ALPINE_GROUP: &str = "root:x:0:root\nbin:x:1:root,bin,daemon\ndaemon:x:2:root,bin,daemon\nsys:x:3:root,bin\nadm:x:4:root,daemon\ntty:x:5:\ndisk:x:6:root\nlp:x:7:lp\nkmem:x:9:\nwheel:x:10:root\nfloppy:x:11:root\nmail:x:12:mail\nnews:x:13:news\nuucp:x:14:uucp\ncron:x:16:cron\nconsole:x:17:\naudio:x:18:\ncdrom:x:19:\ndialout:x:20:root\nftp:x:21:\nsshd:x:22:\ninput:x:23:\ntape:x:26:root\nvideo:x:27:root\nnetdev:x:28:\nkvm:x:34:kvm\ngames:x:35:\nshadow:x:42:\nwww-data:x:82:\nusers:x:100:games\nntp:x:123:\nabuild:x:300:\nutmp:x:406:\nping:x:999:\nnogroup:x:65533:\nnobody:x:65534:\n";

/// debian's (bookworm) and ubuntu's base `/etc/group`.
const DEBIAN_GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nlp:x:7:\nmail:x:8:\nnews:x:9:\nuucp:x:10:\nman:x:12:\nproxy:x:13:\nkmem:x:15:\ndialout:x:20:\nfax:x:21:\nvoice:x:22:\ncdrom:x:24:\nfloppy:x:25:\ntape:x:26:\nsudo:x:27:\naudio:x:29:\ndip:x:30:\nwww-data:x:33:\nbackup:x:34:\noperator:x:37:\nlist:x:38:\nirc:x:39:\nsrc:x:40:\nshadow:x:42:\nutmp:x:43:\nvideo:x:44:\nsasl:x:45:\nplugdev:x:46:\nstaff:x:50:\ngames:x:60:\nusers:x:100:\nnogroup:x:65534:\n";

impl Userland {
    fn with(flavor: Flavor, path: &'static str, merged_usr: bool) -> Userland {
        Userland {
            image: String::new(),
            flavor,
            path,
            default_command: Vec::new(),
            programs: BTreeMap::new(),
            files: Vec::new(),
            dirs: Vec::new(),
            owned: Vec::new(),
            merged_usr,
        }
    }

    pub(crate) fn add(&mut self, name: &str, dir: &'static str, kind: ProgramKind) {
        self.programs
            .insert(name.to_string(), Program { dir, kind });
    }

    /// The official `busybox` image: every applet in `/bin`, `sh` is ash.
    #[cfg(any(test, fuzzing))]
    pub fn busybox() -> std::sync::Arc<Userland> {
        std::sync::Arc::new(Self::busybox_like(true))
    }

    fn busybox_like(all_in_bin: bool) -> Userland {
        let mut u = Userland::with(
            Flavor::Busybox,
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            false,
        );
        for (applet, dir) in BUSYBOX_APPLETS {
            u.add(
                applet,
                if all_in_bin { "/bin" } else { dir },
                ProgramKind::Applet(applet),
            );
        }
        u.add("sh", "/bin", ProgramKind::Shell(ShellKind::Ash));
        u.add("ash", "/bin", ProgramKind::Shell(ShellKind::Ash));
        u.add("busybox", "/bin", ProgramKind::Applet("busybox"));
        let (passwd, group) = if all_in_bin {
            (BUSYBOX_PASSWD, GROUP)
        } else {
            (ALPINE_PASSWD, ALPINE_GROUP)
        };
        u.files
            .push(("/etc/passwd".to_string(), passwd.to_string()));
        u.files.push(("/etc/group".to_string(), group.to_string()));
        if all_in_bin {
            u.default_command = vec!["sh".to_string()];
        } else {
            u.default_command = vec!["/bin/sh".to_string()];
            u.files
                .push(("/etc/os-release".to_string(), ALPINE_OS_RELEASE.to_string()));
            u.files
                .push(("/etc/alpine-release".to_string(), "3.20.3\n".to_string()));
        }
        u
    }

    fn debian_like(os_release: &str) -> Userland {
        let mut u = Userland::with(
            Flavor::Gnu,
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            true,
        );
        for program in DEBIAN_PROGRAMS {
            u.add(program, "/usr/bin", ProgramKind::Applet(program));
        }
        u.add("sh", "/usr/bin", ProgramKind::Shell(ShellKind::Dash));
        u.add("dash", "/usr/bin", ProgramKind::Shell(ShellKind::Dash));
        u.add("bash", "/usr/bin", ProgramKind::Shell(ShellKind::Bash));
        u.files
            .push(("/etc/os-release".to_string(), os_release.to_string()));
        u.files
            .push(("/etc/passwd".to_string(), DEBIAN_PASSWD.to_string()));
        u.files
            .push(("/etc/group".to_string(), DEBIAN_GROUP.to_string()));
        u.files
            .push(("/etc/debian_version".to_string(), "12.7\n".to_string()));
        u
    }

    #[cfg(test)]
    pub fn ubuntu() -> std::sync::Arc<Userland> {
        let mut u = Self::debian_like(UBUNTU_OS_RELEASE);
        u.default_command = vec!["/bin/bash".to_string()];
        std::sync::Arc::new(u)
    }

    /// The userland of an image's operating system, by the image's
    /// name and repository (its own programs are added by `images`).
    pub fn for_os(image: &str, repo: &str) -> Userland {
        let alpine = is_alpine(image);
        let mut base = match repo {
            "busybox" => Self::busybox_like(true),
            "alpine" => Self::busybox_like(false),
            "ubuntu" => Self::debian_like(UBUNTU_OS_RELEASE),
            "postgrest/postgrest" => Self::with(
                Flavor::Busybox,
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                false,
            ),
            "kubetutor/msg-api" => Self::busybox_like(false),
            _ if alpine => Self::busybox_like(false),
            _ => Self::debian_like(DEBIAN_OS_RELEASE),
        };
        // Only the OS images' own command is a shell; other images' is
        // their application (not emulated unless an app says so).
        match repo {
            "busybox" | "alpine" | "ubuntu" => {}
            "debian" => base.default_command = vec!["bash".to_string()],
            _ => base.default_command.clear(),
        }
        if repo == "ubuntu" {
            base.default_command = vec!["/bin/bash".to_string()];
            // Since 23.04 the image has a default user (its uid 1000 is
            // what `runAsUser: 1000` finds there).
            base.append_to(
                "/etc/passwd",
                "ubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n",
            );
            base.append_to("/etc/group", "ubuntu:x:1000:\n");
            base.dirs.push("/home/ubuntu");
            base.owned.push(("/home/ubuntu", 1000, 1000, 0o750));
        }
        base.image = image.to_string();
        base
    }

    /// Adds a line to one of the image's files.
    pub(crate) fn append_to(&mut self, path: &str, line: &str) {
        if let Some((_, text)) = self.files.iter_mut().find(|(p, _)| p == path) {
            text.push_str(line);
        }
    }

    /// Finds `name` (no `/`) along `path` (a `PATH` value): its full path
    /// and how it runs.
    pub fn lookup(&self, name: &str, path: &str) -> Option<(String, ProgramKind)> {
        let program = self.programs.get(name)?;
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            if self.dir_matches(program.dir, dir) {
                return Some((
                    format!("{}/{name}", dir.trim_end_matches('/')),
                    program.kind.clone(),
                ));
            }
        }
        None
    }

    fn dir_matches(&self, home: &str, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        if home == dir {
            return true;
        }
        // Merged /usr: /bin and /sbin are /usr/bin and /usr/sbin.
        self.merged_usr
            && (dir.strip_prefix("/usr").is_some_and(|d| d == home)
                || home.strip_prefix("/usr").is_some_and(|h| h == dir))
    }

    /// The program at a full path (`/bin/sh`), if the image has one there.
    pub fn by_path(&self, path: &str) -> Option<ProgramKind> {
        let (dir, name) = path.rsplit_once('/')?;
        let dir = if dir.is_empty() { "/" } else { dir };
        let program = self.programs.get(name)?;
        self.dir_matches(program.dir, dir)
            .then(|| program.kind.clone())
    }

    /// Every program with its full path, sorted by path.
    pub fn programs(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .programs
            .iter()
            .map(|(n, p)| format!("{}/{n}", p.dir))
            .collect();
        all.sort();
        all
    }

    /// Writes the image's files into a fresh writable layer.
    pub fn seed(&self, rootfs: &Path) {
        for dir in &self.dirs {
            let _ = std::fs::create_dir_all(rootfs.join(dir.trim_start_matches('/')));
        }
        for (path, text) in &self.files {
            let target = rootfs.join(path.trim_start_matches('/'));
            if let Some(parent) = target.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if !target.exists() {
                let _ = std::fs::write(&target, text);
            }
        }
        for (path, uid, gid, mode) in &self.owned {
            use std::os::unix::fs::PermissionsExt as _;
            let target = rootfs.join(path.trim_start_matches('/'));
            let owner = crate::hostfs::owners::Owner {
                uid: *uid,
                gid: *gid,
            };
            let _ = crate::hostfs::owners::set(&target, owner);
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode));
        }
    }
}

/// Whether an image's tag names alpine (`python:3.12-alpine`).
pub fn is_alpine(image: &str) -> bool {
    image
        .split('@')
        .next()
        .unwrap_or(image)
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .is_some_and(|(_, t)| t.contains("alpine"))
}
