//! File descriptors of emulated processes: what fd 0, 1, 2 (and 3–9)
//! are connected to — a pipe, a file on the host, a device (`/dev/null`,
//! `/dev/zero`, `/dev/urandom`), a here-document, or a command
//! substitution's capture. Cloning an [`Fd`] is `dup`: pipes count their
//! ends, files share their offset.

use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::process::{Charge, MemBudget, PipeReader, PipeWriter};

use super::system::DiskGuard;

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An open file on the host.
pub struct FileFd {
    file: Mutex<std::fs::File>,
    pub host: PathBuf,
    pub readable: bool,
    pub writable: bool,
    disk: Arc<DiskGuard>,
}

/// A here-document (or here-string) being read.
pub struct DataFd {
    data: Vec<u8>,
    pos: Mutex<usize>,
    _charge: Option<Charge>,
}

/// The output of a command substitution, held in memory (charged).
pub struct CaptureFd {
    buf: Mutex<(Vec<u8>, Charge)>,
}

impl CaptureFd {
    pub fn new(mem: &Arc<MemBudget>) -> Arc<CaptureFd> {
        Arc::new(CaptureFd {
            buf: Mutex::new((Vec::new(), Charge::new(mem))),
        })
    }

    /// Takes what was captured (and its charge).
    pub fn take(&self) -> (Vec<u8>, Option<Charge>) {
        let mut g = guard(&self.buf);
        let data = std::mem::take(&mut g.0);
        let budget = Arc::clone(g.1.budget());
        let charge = std::mem::replace(&mut g.1, Charge::new(&budget));
        (data, Some(charge))
    }
}

#[derive(Clone)]
pub enum Fd {
    /// `/dev/null`: reads end at once, writes vanish.
    Null,
    /// `/dev/zero`: endless zero bytes.
    Zero,
    /// `/dev/urandom`, `/dev/random`.
    Random,
    /// `/dev/full`: writes fail with ENOSPC.
    Full,
    PipeIn(PipeReader),
    PipeOut(PipeWriter),
    File(Arc<FileFd>),
    Data(Arc<DataFd>),
    Capture(Arc<CaptureFd>),
}

impl Fd {
    pub fn file(
        file: std::fs::File,
        host: PathBuf,
        readable: bool,
        writable: bool,
        disk: Arc<DiskGuard>,
    ) -> Fd {
        Fd::File(Arc::new(FileFd {
            file: Mutex::new(file),
            host,
            readable,
            writable,
            disk,
        }))
    }

    pub fn data(data: Vec<u8>, charge: Option<Charge>) -> Fd {
        Fd::Data(Arc::new(DataFd {
            data,
            pos: Mutex::new(0),
            _charge: charge,
        }))
    }

    /// Reads some bytes (0 at end of file). `stop` is asked while a read
    /// blocks (a pipe with no data yet).
    pub fn read(&self, buf: &mut [u8], stop: &dyn Fn() -> bool) -> io::Result<usize> {
        match self {
            Fd::Null => Ok(0),
            Fd::Zero => {
                buf.fill(0);
                Ok(buf.len())
            }
            Fd::Random => {
                rand::RngCore::fill_bytes(&mut rand::rng(), buf);
                Ok(buf.len())
            }
            Fd::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Fd::PipeIn(r) => r.read(buf, stop),
            Fd::PipeOut(_) | Fd::Capture(_) => Err(io::Error::from_raw_os_error(9)),
            Fd::File(f) => {
                if !f.readable {
                    return Err(io::Error::from_raw_os_error(9));
                }
                guard(&f.file).read(buf)
            }
            Fd::Data(d) => {
                let mut pos = guard(&d.pos);
                let n = (d.data.len() - (*pos).min(d.data.len())).min(buf.len());
                buf[..n].copy_from_slice(&d.data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
        }
    }

    /// Reads one line (through `\n`) without reading past it, so what
    /// follows is left for the next reader (`while read l`).
    pub fn read_line(&self, max: usize, stop: &dyn Fn() -> bool) -> io::Result<(Vec<u8>, bool)> {
        let mut line = Vec::new();
        match self {
            Fd::File(f) if f.readable => {
                let mut file = guard(&f.file);
                let mut chunk = [0u8; 1024];
                loop {
                    let n = file.read(&mut chunk)?;
                    if n == 0 {
                        return Ok((line, false));
                    }
                    if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
                        line.extend_from_slice(&chunk[..i]);
                        let back = (n - i - 1) as i64;
                        file.seek(SeekFrom::Current(-back))?;
                        return Ok((line, true));
                    }
                    line.extend_from_slice(&chunk[..n]);
                    if line.len() > max {
                        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
                    }
                }
            }
            Fd::Data(d) => {
                let mut pos = guard(&d.pos);
                let rest = &d.data[(*pos).min(d.data.len())..];
                match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        line.extend_from_slice(&rest[..i]);
                        *pos += i + 1;
                        Ok((line, true))
                    }
                    None => {
                        line.extend_from_slice(rest);
                        *pos += rest.len();
                        Ok((line, false))
                    }
                }
            }
            _ => {
                let mut b = [0u8; 1];
                loop {
                    if self.read(&mut b, stop)? == 0 {
                        return Ok((line, false));
                    }
                    if b[0] == b'\n' {
                        return Ok((line, true));
                    }
                    line.push(b[0]);
                    if line.len() > max {
                        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
                    }
                }
            }
        }
    }

    /// Writes everything. Errors: BrokenPipe (the reader is gone),
    /// StorageFull (the host disk guard), OutOfMemory (a capture over the
    /// memory budget), Interrupted (`stop` said so while blocked).
    pub fn write_all(&self, data: &[u8], stop: &dyn Fn() -> bool) -> io::Result<()> {
        match self {
            Fd::Null | Fd::Zero | Fd::Random => Ok(()),
            Fd::Full => Err(io::Error::from(io::ErrorKind::StorageFull)),
            Fd::PipeOut(w) => w.write_all(data, stop),
            Fd::PipeIn(_) | Fd::Data(_) => Err(io::Error::from_raw_os_error(9)),
            Fd::File(f) => {
                if !f.writable {
                    return Err(io::Error::from_raw_os_error(9));
                }
                f.disk.reserve(&f.host, data.len() as u64)?;
                guard(&f.file).write_all(data)
            }
            Fd::Capture(c) => {
                let mut g = guard(&c.buf);
                g.1.grow(data.len() as u64)
                    .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
                g.0.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// A process's open file descriptors 0–9.
#[derive(Clone)]
pub struct FdTable {
    fds: Vec<Option<Fd>>,
}

/// The highest fd a script may use (ash allows 0–9).
pub const MAX_FD: u32 = 9;

impl FdTable {
    pub fn new(stdin: Fd, stdout: Fd, stderr: Fd) -> FdTable {
        let mut fds = vec![None; (MAX_FD + 1) as usize];
        fds[0] = Some(stdin);
        fds[1] = Some(stdout);
        fds[2] = Some(stderr);
        FdTable { fds }
    }

    pub fn get(&self, fd: u32) -> Option<&Fd> {
        self.fds.get(fd as usize).and_then(Option::as_ref)
    }

    /// The fd, or `/dev/null` when closed (what a program then sees as
    /// EBADF is quietly nothing here).
    pub fn get_or_null(&self, fd: u32) -> Fd {
        self.get(fd).cloned().unwrap_or(Fd::Null)
    }

    pub fn set(&mut self, fd: u32, f: Option<Fd>) {
        if let Some(slot) = self.fds.get_mut(fd as usize) {
            *slot = f;
        }
    }
}
