//! A container's files as its programs see them: paths resolved through
//! the mount table (symlinks followed as container paths, so a link to
//! `/data/x` reaches the volume and never the host), read-only mounts
//! refusing writes, the device files of `/dev`, owners and the kernel's
//! permission checks for a non-root user (root passes them, as with
//! CAP_DAC_OVERRIDE), and errors worded as the C library words them.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use crate::hostfs::owners::{self, Owner};
use crate::hostfs::{FsError, absolute, normalize};
use crate::process::{Charge, MemBudget};

use super::io::Fd;
use super::system::Container;

/// How many symlinks one lookup follows (Linux's ELOOP limit).
const MAX_LINKS: usize = 40;

/// The device files every container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Random,
    Full,
    Tty,
    /// `/dev/stdin`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`.
    Fd(u32),
}

/// Names in `/dev` (with their major, minor numbers).
pub const DEV_NODES: &[(&str, u32, u32)] = &[
    ("full", 1, 7),
    ("null", 1, 3),
    ("random", 1, 8),
    ("tty", 5, 0),
    ("urandom", 1, 9),
    ("zero", 1, 5),
];

/// The device a container path names, if any.
pub fn device(container_path: &str) -> Option<Device> {
    Some(match container_path {
        "/dev/null" => Device::Null,
        "/dev/zero" => Device::Zero,
        "/dev/random" | "/dev/urandom" => Device::Random,
        "/dev/full" => Device::Full,
        "/dev/tty" => Device::Tty,
        "/dev/stdin" => Device::Fd(0),
        "/dev/stdout" => Device::Fd(1),
        "/dev/stderr" => Device::Fd(2),
        p => {
            let n = p.strip_prefix("/dev/fd/")?.parse().ok()?;
            Device::Fd(n)
        }
    })
}

/// What kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDevice,
    Fifo,
    Other,
}

/// A file's metadata (a device's is made up, as the kernel's would be).
#[derive(Debug, Clone)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits (and setuid/sticky), without the type.
    pub mode: u32,
    pub len: u64,
    pub nlink: u64,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    pub ino: u64,
    pub blocks: u64,
    pub dev: u64,
    /// (major, minor) of a device.
    pub rdev: (u32, u32),
    /// The owner the container sees (see [`owners`]).
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    fn from_std(m: &std::fs::Metadata, host: &std::path::Path) -> Meta {
        let ft = m.file_type();
        // A symlink cannot carry the owner attribute: root's.
        let owner = if ft.is_symlink() {
            Owner::ROOT
        } else {
            owners::get(host)
        };
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Other
        };
        Meta {
            kind,
            mode: m.permissions().mode() & 0o7777,
            len: m.len(),
            nlink: m.nlink(),
            mtime: m.mtime(),
            atime: m.atime(),
            ctime: m.ctime(),
            ino: m.ino(),
            blocks: m.blocks(),
            dev: m.dev(),
            rdev: (0, 0),
            uid: owner.uid,
            gid: owner.gid,
        }
    }

    fn device(major: u32, minor: u32) -> Meta {
        Meta {
            kind: Kind::CharDevice,
            mode: 0o666,
            len: 0,
            nlink: 1,
            mtime: 0,
            atime: 0,
            ctime: 0,
            ino: u64::from(major * 256 + minor),
            blocks: 0,
            dev: 5,
            rdev: (major, minor),
            uid: 0,
            gid: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// `drwxr-xr-x`.
    pub fn mode_string(&self) -> String {
        let kind = match self.kind {
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::CharDevice => 'c',
            Kind::Fifo => 'p',
            _ => '-',
        };
        let mut s = String::with_capacity(10);
        s.push(kind);
        for (shift, special, lower, upper) in [
            (6, 0o4000, 's', 'S'),
            (3, 0o2000, 's', 'S'),
            (0, 0o1000, 't', 'T'),
        ] {
            let bits = (self.mode >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            let x = bits & 1 != 0;
            s.push(match (self.mode & special != 0, x) {
                (true, true) => lower,
                (true, false) => upper,
                (false, true) => 'x',
                (false, false) => '-',
            });
        }
        s
    }
}

/// Where a container path is on the host, after its symlinks.
#[derive(Debug, Clone)]
pub struct Place {
    pub host: PathBuf,
    pub read_only: bool,
    /// The container path, normalised, symlinks resolved.
    pub path: String,
}

/// The C library's message for an error (`No such file or directory`).
pub fn errno_text(e: &io::Error) -> String {
    use io::ErrorKind as K;
    if let Some(code) = e.raw_os_error() {
        let text = match code {
            1 => "Operation not permitted",
            2 => "No such file or directory",
            9 => "Bad file descriptor",
            13 => "Permission denied",
            16 => "Resource busy",
            17 => "File exists",
            18 => "Invalid cross-device link",
            20 => "Not a directory",
            21 => "Is a directory",
            22 => "Invalid argument",
            28 => "No space left on device",
            30 => "Read-only file system",
            36 => "File name too long",
            39 => "Directory not empty",
            40 => "Symbolic link loop",
            _ => "",
        };
        if !text.is_empty() {
            return text.to_string();
        }
    }
    match e.kind() {
        K::NotFound => "No such file or directory",
        K::PermissionDenied => "Permission denied",
        K::AlreadyExists => "File exists",
        K::NotADirectory => "Not a directory",
        K::IsADirectory => "Is a directory",
        K::DirectoryNotEmpty => "Directory not empty",
        K::ReadOnlyFilesystem => "Read-only file system",
        K::InvalidInput => "Invalid argument",
        K::StorageFull => "No space left on device",
        K::ResourceBusy => "Resource busy",
        K::CrossesDevices => "Invalid cross-device link",
        K::OutOfMemory => "Out of memory",
        K::BrokenPipe => "Broken pipe",
        _ => {
            return e
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or("I/O error")
                .to_string();
        }
    }
    .to_string()
}

/// GNU's capitalisation is the same; kept apart for clarity at call sites.
pub fn errno(e: &io::Error) -> String {
    errno_text(e)
}

fn fs_err(e: FsError) -> io::Error {
    match e {
        FsError::Io { kind, .. } => io::Error::from(kind),
        FsError::Escape { .. } => io::Error::from(io::ErrorKind::PermissionDenied),
        FsError::SymlinkLoop { .. } => io::Error::from_raw_os_error(40),
        FsError::InvalidName(_) => io::Error::from(io::ErrorKind::InvalidInput),
    }
}

pub fn enoent() -> io::Error {
    io::Error::from_raw_os_error(2)
}

pub fn erofs() -> io::Error {
    io::Error::from_raw_os_error(30)
}

pub fn eacces() -> io::Error {
    io::Error::from_raw_os_error(13)
}

pub fn eperm() -> io::Error {
    io::Error::from_raw_os_error(1)
}

/// Rights asked of a file (the mode's bits).
pub const READ: u32 = 4;
pub const WRITE: u32 = 2;
pub const SEARCH: u32 = 1;

/// The directory holding a container path (`/` for `/x`).
fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

/// A container's files from one working directory.
pub struct Vfs<'a> {
    pub sys: &'a Container,
    pub cwd: &'a str,
    /// The calling process's umask, for the modes of what it creates.
    pub umask: u32,
}

impl<'a> Vfs<'a> {
    pub fn new(sys: &'a Container, cwd: &'a str) -> Vfs<'a> {
        Vfs {
            sys,
            cwd,
            umask: crate::process::table::DEFAULT_UMASK,
        }
    }

    /// The same files, as a process with `umask` sees them.
    pub fn with_umask(mut self, umask: u32) -> Vfs<'a> {
        self.umask = umask;
        self
    }

    pub fn abs(&self, path: &str) -> String {
        absolute(self.cwd, path)
    }

    pub fn is_mount_point(&self, container_path: &str) -> bool {
        self.sys
            .fs
            .mounts()
            .iter()
            .any(|m| m.container_path == container_path)
    }

    /// The host path of a container path whose parent has no symlinks.
    fn host_of(&self, path: &str) -> io::Result<(PathBuf, bool)> {
        if path == "/" || self.is_mount_point(path) {
            let r = self.sys.fs.resolve("/", path).map_err(fs_err)?;
            return Ok((r.host, r.read_only));
        }
        let (parent, name) = match path.rsplit_once('/') {
            Some(("", n)) => ("/", n),
            Some((p, n)) => (p, n),
            None => ("/", path),
        };
        let r = self.sys.fs.resolve("/", parent).map_err(fs_err)?;
        Ok((r.host.join(name), r.read_only))
    }

    /// Resolves `path`, following symlinks (the last one too if `follow`).
    pub fn place(&self, path: &str, follow: bool) -> io::Result<Place> {
        if path.is_empty() {
            return Err(enoent());
        }
        let mut pending: Vec<String> = normalize(&self.abs(path)).into_iter().rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                done.pop();
                continue;
            }
            if name == "." || name.is_empty() {
                continue;
            }
            let cpath = format!(
                "/{}",
                done.iter()
                    .chain([&name])
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("/")
            );
            let last = pending.is_empty();
            if !last || follow {
                let (host, _) = self.host_of(&cpath)?;
                if let Ok(meta) = std::fs::symlink_metadata(&host)
                    && meta.file_type().is_symlink()
                {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(40));
                    }
                    let target = std::fs::read_link(&host)?;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        done.clear();
                    }
                    pending.extend(
                        target
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .rev(),
                    );
                    continue;
                } else if !last
                    && std::fs::metadata(&host).is_ok_and(|m| !m.is_dir())
                    && !self.is_mount_point(&cpath)
                {
                    return Err(io::Error::from_raw_os_error(20));
                }
            }
            done.push(name);
        }
        let path = format!("/{}", done.join("/"));
        self.check_search(&path)?;
        let (host, read_only) = self.host_of(&path)?;
        Ok(Place {
            host,
            read_only,
            path,
        })
    }

    fn is_root(&self) -> bool {
        self.sys.fs.identity().uid == 0
    }

    /// Whether the container's user has the rights `want` (`READ`,
    /// `WRITE`, `SEARCH` bits) on a file: the owner's, the group's (its
    /// group or a supplementary one) or the others' bits. Root has every
    /// right but running a file no one may run.
    pub fn allowed(&self, meta: &Meta, want: u32) -> bool {
        let who = self.sys.fs.identity();
        if who.uid == 0 {
            return want & SEARCH == 0 || meta.is_dir() || meta.mode & 0o111 != 0;
        }
        let bits = if meta.uid == who.uid {
            meta.mode >> 6
        } else if meta.gid == who.gid || who.groups.contains(&meta.gid) {
            meta.mode >> 3
        } else {
            meta.mode
        } & 7;
        bits & want == want
    }

    /// EACCES unless the user has `want` on `path` (symlinks followed).
    pub fn access(&self, path: &str, want: u32) -> io::Result<()> {
        let meta = self.metadata(path)?;
        if self.allowed(&meta, want) {
            Ok(())
        } else {
            Err(eacces())
        }
    }

    /// The kernel's checks before an entry is added, removed or renamed
    /// at `place`: EROFS on a read-only mount; for a non-root user, write
    /// and search on its directory, and in a sticky directory (`/tmp`)
    /// only the entry's owner or the directory's may remove it (EPERM).
    pub fn check_entry(&self, place: &Place) -> io::Result<()> {
        if place.read_only {
            return Err(erofs());
        }
        if self.is_root() {
            return Ok(());
        }
        let dir = self.metadata(parent_of(&place.path))?;
        if !self.allowed(&dir, WRITE | SEARCH) {
            return Err(eacces());
        }
        if dir.mode & 0o1000 != 0
            && let Ok(m) = std::fs::symlink_metadata(&place.host)
        {
            let owner = if m.file_type().is_symlink() {
                Owner::ROOT
            } else {
                owners::get(&place.host)
            };
            let uid = self.sys.fs.identity().uid;
            if owner.uid != uid && dir.uid != uid {
                return Err(eperm());
            }
        }
        Ok(())
    }

    /// Changing a file's mode, times or owner: its owner or root (EPERM).
    pub fn check_owner(&self, meta: &Meta) -> io::Result<()> {
        let uid = self.sys.fs.identity().uid;
        if uid == 0 || uid == meta.uid {
            Ok(())
        } else {
            Err(eperm())
        }
    }

    /// Gives a just-created entry to its creator: the user, with the
    /// directory's group when the directory is setgid (an fsGroup volume).
    pub fn adopt(&self, place: &Place) {
        let who = self.sys.fs.identity();
        // A new entry is never a mount point: its directory on the host is
        // its directory in the container.
        let dir = place
            .host
            .parent()
            .and_then(|d| std::fs::metadata(d).ok().map(|m| (d, m)));
        let gid = match dir {
            Some((d, m)) if m.permissions().mode() & 0o2000 != 0 => owners::get(d).gid,
            _ => who.gid,
        };
        // Best effort: an owner that cannot be kept shows as root.
        let _ = owners::set(&place.host, Owner { uid: who.uid, gid });
    }

    /// A new entry created with `mode` (what `open`/`mkdir` asked for,
    /// before the umask): its owner as [`Vfs::adopt`] gives it, its mode
    /// through the process's umask whatever the sandbox's own umask is.
    pub fn adopt_mode(&self, place: &Place, mode: u32) {
        self.adopt(place);
        let mode = mode & 0o7777 & !self.umask;
        // A setgid directory's new subdirectories stay setgid.
        let setgid = std::fs::metadata(&place.host)
            .map(|m| m.permissions().mode() & 0o2000)
            .unwrap_or(0);
        let _ =
            std::fs::set_permissions(&place.host, std::fs::Permissions::from_mode(mode | setgid));
    }

    /// Search permission on every directory above a resolved path, as the
    /// kernel checks during a lookup (root passes).
    fn check_search(&self, path: &str) -> io::Result<()> {
        if self.is_root() {
            return Ok(());
        }
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let dir = if i == 0 { "/" } else { prefix.as_str() };
            let (host, _) = self.host_of(dir)?;
            if let Ok(m) = std::fs::metadata(&host)
                && !self.allowed(&Meta::from_std(&m, &host), SEARCH)
            {
                return Err(eacces());
            }
            prefix.push('/');
            prefix.push_str(part);
        }
        Ok(())
    }

    /// Metadata, following symlinks (`stat`).
    pub fn metadata(&self, path: &str) -> io::Result<Meta> {
        self.meta(path, true)
    }

    /// Metadata of the link itself (`lstat`).
    pub fn symlink_metadata(&self, path: &str) -> io::Result<Meta> {
        self.meta(path, false)
    }

    fn meta(&self, path: &str, follow: bool) -> io::Result<Meta> {
        let p = self.place(path, follow)?;
        if let Some(dev) = device(&p.path) {
            let (major, minor) = match dev {
                Device::Fd(_) => (136, 0),
                _ => DEV_NODES
                    .iter()
                    .find(|(n, _, _)| format!("/dev/{n}") == p.path)
                    .map_or((1, 3), |(_, a, b)| (*a, *b)),
            };
            return Ok(Meta::device(major, minor));
        }
        let m = if follow {
            std::fs::metadata(&p.host)
        } else {
            std::fs::symlink_metadata(&p.host)
        };
        m.map(|m| Meta::from_std(&m, &p.host))
    }

    /// Names in a directory (mount points and `/dev` nodes included),
    /// sorted.
    pub fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        let p = self.place(path, true)?;
        let meta = std::fs::metadata(&p.host)?;
        if !meta.is_dir() {
            return Err(io::Error::from_raw_os_error(20));
        }
        if !self.allowed(&Meta::from_std(&meta, &p.host), READ) {
            return Err(eacces());
        }
        let mut names: Vec<String> = std::fs::read_dir(&p.host)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for m in self.sys.fs.mount_points_in(&p.path) {
            if !names.contains(&m) {
                names.push(m);
            }
        }
        if p.path == "/dev" {
            for (n, _, _) in DEV_NODES {
                if !names.iter().any(|x| x == n) {
                    names.push((*n).to_string());
                }
            }
            for n in ["stdin", "stdout", "stderr", "fd"] {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens a file for reading (a device, or a regular file).
    pub fn open_read(&self, path: &str) -> io::Result<Fd> {
        let p = self.place(path, true)?;
        if let Some(dev) = device(&p.path) {
            return Ok(match dev {
                Device::Null | Device::Tty | Device::Fd(_) => Fd::Null,
                Device::Zero | Device::Full => Fd::Zero,
                Device::Random => Fd::Random,
            });
        }
        let meta = std::fs::metadata(&p.host)?;
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(21));
        }
        if !self.allowed(&Meta::from_std(&meta, &p.host), READ) {
            return Err(eacces());
        }
        let file = std::fs::File::open(&p.host)?;
        Ok(Fd::file(
            file,
            p.host,
            true,
            false,
            Arc::clone(&self.sys.disk),
        ))
    }

    /// Opens a file for writing: `append`, else truncate; created if
    /// missing (unless `must_exist`).
    pub fn open_write(&self, path: &str, append: bool, read: bool) -> io::Result<Fd> {
        let p = self.place(path, true)?;
        if let Some(dev) = device(&p.path) {
            return Ok(match dev {
                Device::Full => Fd::Full,
                _ => Fd::Null,
            });
        }
        if p.host.is_dir() || self.is_mount_point(&p.path) {
            return Err(io::Error::from_raw_os_error(21));
        }
        if p.read_only {
            return Err(erofs());
        }
        let existing = std::fs::metadata(&p.host).ok();
        match &existing {
            Some(m) if !self.allowed(&Meta::from_std(m, &p.host), WRITE) => return Err(eacces()),
            Some(_) => {}
            None => self.check_entry(&p)?,
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .read(read)
            .append(append)
            .truncate(!append && !read)
            .open(&p.host)?;
        if existing.is_none() {
            self.adopt_mode(&p, 0o666);
        }
        Ok(Fd::file(
            file,
            p.host,
            read,
            true,
            Arc::clone(&self.sys.disk),
        ))
    }

    /// Reads a whole file, its size charged to `mem` first.
    pub fn read_all(&self, path: &str, mem: &Arc<MemBudget>) -> io::Result<(Vec<u8>, Charge)> {
        let p = self.place(path, true)?;
        if let Some(dev) = device(&p.path) {
            return match dev {
                Device::Zero | Device::Random | Device::Full => {
                    Err(io::Error::from(io::ErrorKind::OutOfMemory))
                }
                _ => Ok((Vec::new(), Charge::new(mem))),
            };
        }
        let meta = std::fs::metadata(&p.host)?;
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(21));
        }
        if !self.allowed(&Meta::from_std(&meta, &p.host), READ) {
            return Err(eacces());
        }
        let charge =
            Charge::of(mem, meta.len()).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok((std::fs::read(&p.host)?, charge))
    }

    /// The host place of a path to be changed (created, removed...), or
    /// EROFS on a read-only mount.
    pub fn writable(&self, path: &str, follow: bool) -> io::Result<Place> {
        let p = self.place(path, follow)?;
        self.check_entry(&p)?;
        Ok(p)
    }

    /// The parent directory of a path to create must exist.
    pub fn parent_exists(&self, place: &Place) -> bool {
        self.metadata(parent_of(&place.path))
            .is_ok_and(|m| m.is_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostfs::{ContainerFs, MountKind, SandboxRoot};

    #[test]
    fn symlinks_are_container_paths_and_devices_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let mut fs = ContainerFs::new(root.container_rootfs("p", "c").unwrap());
        let vol = root.volume("pv").unwrap();
        fs.mount("/data", &vol, false, MountKind::Volume, "pv")
            .unwrap();
        fs.mount(
            "/ro",
            root.empty_dir("p", "ro").unwrap(),
            true,
            MountKind::Tmpfs,
            "ro",
        )
        .unwrap();
        let sys = Container::new(fs, crate::shell::userland::Userland::busybox(), "h");
        std::fs::write(vol.join("f"), "x").unwrap();
        let rootfs = root.container_rootfs("p", "c").unwrap();
        std::os::unix::fs::symlink("/data/f", rootfs.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/../../../../etc/passwd", rootfs.join("evil")).unwrap();
        let v = Vfs::new(&sys, "/");
        assert_eq!(v.place("/link", true).unwrap().host, vol.join("f"));
        assert_eq!(v.place("/link", false).unwrap().host, rootfs.join("link"));
        // Escapes end at the container's root.
        assert!(v.place("/evil", true).unwrap().host.starts_with(&rootfs));
        assert_eq!(v.metadata("/dev/null").unwrap().kind, Kind::CharDevice);
        assert!(v.list_dir("/").unwrap().contains(&"data".to_string()));
        assert_eq!(
            v.open_write("/ro/x", false, false).err().map(|e| errno(&e)),
            Some("Read-only file system".to_string())
        );
        assert_eq!(
            errno(&v.metadata("/nope").unwrap_err()),
            "No such file or directory"
        );
    }
}
