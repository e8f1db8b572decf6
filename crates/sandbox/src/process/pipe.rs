//! Pipes between emulated processes, and between them and the sandbox's
//! async side (exec sessions, container logs): a bounded byte queue with
//! Unix semantics. A reader blocks until data arrives and sees EOF once
//! every writer is gone; a writer blocks while the pipe is full and gets
//! `BrokenPipe` once every reader is gone. Both ends can be used from a
//! process thread (blocking, interruptible by its signals) or from async
//! code (awaiting).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// What a pipe holds at most before writers wait (Linux's default).
pub const PIPE_CAPACITY: usize = 64 * 1024;

/// How often a blocked thread looks at its signals.
const POLL: Duration = Duration::from_millis(25);

enum Chunk {
    Data(Vec<u8>),
    /// A terminal's end-of-file (ctrl-D): one read returns 0, the pipe
    /// stays open.
    Eof,
}

struct State {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already read.
    offset: usize,
    bytes: usize,
    readers: usize,
    writers: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    notify: Notify,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    /// One read attempt: Some(n) (0 = EOF) or None (would block).
    fn try_read(&self, buf: &mut [u8]) -> Option<usize> {
        let mut st = self.lock();
        let offset = st.offset;
        let n = match st.chunks.front() {
            Some(Chunk::Eof) => {
                st.chunks.pop_front();
                drop(st);
                self.wake();
                return Some(0);
            }
            Some(Chunk::Data(d)) => {
                let n = (d.len() - offset).min(buf.len());
                buf[..n].copy_from_slice(&d[offset..offset + n]);
                if offset + n == d.len() {
                    st.chunks.pop_front();
                    st.offset = 0;
                } else {
                    st.offset += n;
                }
                n
            }
            None if st.writers == 0 => return Some(0),
            None => return None,
        };
        st.bytes -= n;
        drop(st);
        self.wake();
        Some(n)
    }

    /// Writes what fits: Ok(n) (n may be 0 when full) or BrokenPipe.
    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        let mut st = self.lock();
        if st.readers == 0 {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        let n = self.capacity.saturating_sub(st.bytes).min(data.len());
        if n == 0 {
            return Ok(0);
        }
        let offset = st.offset;
        match st.chunks.back_mut() {
            // Small writes join the last chunk (`echo` in a loop).
            Some(Chunk::Data(last)) if last.len() - offset.min(last.len()) < 4096 => {
                last.extend_from_slice(&data[..n])
            }
            _ => st.chunks.push_back(Chunk::Data(data[..n].to_vec())),
        }
        st.bytes += n;
        drop(st);
        self.wake();
        Ok(n)
    }
}

/// The reading end. Cloning it adds a reader.
pub struct PipeReader(Arc<Shared>);

/// The writing end. Cloning it adds a writer; the reader sees EOF once
/// every clone is dropped.
pub struct PipeWriter(Arc<Shared>);

/// A new pipe of [`PIPE_CAPACITY`] bytes.
pub fn pipe() -> (PipeWriter, PipeReader) {
    pipe_with_capacity(PIPE_CAPACITY)
}

/// A new pipe holding at most `capacity` bytes.
pub fn pipe_with_capacity(capacity: usize) -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            chunks: VecDeque::new(),
            offset: 0,
            bytes: 0,
            readers: 1,
            writers: 1,
        }),
        changed: Condvar::new(),
        notify: Notify::new(),
        capacity: capacity.max(1),
    });
    (PipeWriter(Arc::clone(&shared)), PipeReader(shared))
}

fn interrupted() -> io::Error {
    io::Error::from(io::ErrorKind::Interrupted)
}

impl PipeReader {
    /// Reads at least one byte, blocking; Ok(0) at EOF; `Interrupted`
    /// once `stop()` says the reading process has a signal to act on.
    pub fn read(&self, buf: &mut [u8], stop: &dyn Fn() -> bool) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(n) = self.0.try_read(buf) {
                return Ok(n);
            }
            if stop() {
                return Err(interrupted());
            }
            let st = self.0.lock();
            if st.chunks.is_empty() && st.writers > 0 {
                let _ = self.0.changed.wait_timeout(st, POLL);
            }
        }
    }

    /// Reads without blocking: None when nothing is there yet.
    pub fn try_read(&self, buf: &mut [u8]) -> Option<usize> {
        if buf.is_empty() {
            return Some(0);
        }
        self.0.try_read(buf)
    }

    /// Reads at least one byte; 0 at EOF.
    pub async fn read_async(&self, buf: &mut [u8]) -> usize {
        if buf.is_empty() {
            return 0;
        }
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(n) = self.0.try_read(buf) {
                return n;
            }
            notified.await;
        }
    }
}

impl PipeWriter {
    /// Writes everything, blocking while the pipe is full.
    pub fn write_all(&self, mut data: &[u8], stop: &dyn Fn() -> bool) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.0.try_write(data)?;
            data = &data[n..];
            if n == 0 {
                if stop() {
                    return Err(interrupted());
                }
                let st = self.0.lock();
                if st.bytes >= self.0.capacity && st.readers > 0 {
                    let _ = self.0.changed.wait_timeout(st, POLL);
                }
            }
        }
        Ok(())
    }

    /// Writes everything, awaiting room.
    #[cfg(test)]
    pub async fn write_all_async(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let n = self.0.try_write(data)?;
            data = &data[n..];
            if n == 0 {
                notified.await;
            }
        }
        Ok(())
    }

    /// Writes what fits once there is room: cancel-safe (nothing is
    /// written unless it returns), for a session loop that must keep
    /// draining output while stdin waits.
    pub async fn write_some_async(&self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let n = self.0.try_write(data)?;
            if n > 0 {
                return Ok(n);
            }
            notified.await;
        }
    }

    /// Queues a terminal end-of-file: the next read past the data before
    /// it returns 0 (what ctrl-D does on a terminal).
    pub fn send_eof(&self) {
        self.0.lock().chunks.push_back(Chunk::Eof);
        self.0.wake();
    }
}

impl Clone for PipeReader {
    fn clone(&self) -> Self {
        self.0.lock().readers += 1;
        PipeReader(Arc::clone(&self.0))
    }
}

impl Clone for PipeWriter {
    fn clone(&self) -> Self {
        self.0.lock().writers += 1;
        PipeWriter(Arc::clone(&self.0))
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.readers = st.readers.saturating_sub(1);
        if st.readers == 0 {
            // Nobody will read it: let the memory go now.
            st.chunks.clear();
            st.bytes = 0;
            st.offset = 0;
        }
        drop(st);
        self.0.wake();
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.0.lock().writers -= 1;
        self.0.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    #[test]
    fn data_then_eof_when_writers_are_gone() {
        let (w, r) = pipe();
        let w2 = w.clone();
        w.write_all(b"hello ", &never).unwrap();
        w2.write_all(b"world", &never).unwrap();
        drop(w);
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf, &never).unwrap();
        assert_eq!(&buf[..n], b"hello world");
        assert_eq!(r.try_read(&mut buf), None, "a writer is left");
        drop(w2);
        assert_eq!(r.read(&mut buf, &never).unwrap(), 0);
    }

    #[test]
    fn a_full_pipe_blocks_until_read_and_a_gone_reader_breaks_it() {
        let (w, r) = pipe_with_capacity(4);
        let t = std::thread::spawn(move || {
            w.write_all(b"abcdefgh", &never).unwrap();
            w
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        while got.len() < 8 {
            let n = r.read(&mut buf, &never).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcdefgh");
        let w = t.join().unwrap();
        drop(r);
        let e = w.write_all(b"x", &never).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn blocked_reads_end_when_the_process_is_signalled() {
        let (_w, r) = pipe();
        let mut buf = [0u8; 4];
        let e = r.read(&mut buf, &|| true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    }

    #[test]
    fn terminal_eof_is_one_zero_read() {
        let (w, r) = pipe();
        w.write_all(b"ls\n", &never).unwrap();
        w.send_eof();
        w.write_all(b"pwd\n", &never).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&mut buf, &never).unwrap(), 3);
        assert_eq!(r.read(&mut buf, &never).unwrap(), 0);
        assert_eq!(r.read(&mut buf, &never).unwrap(), 4);
    }

    #[tokio::test]
    async fn async_ends_meet_a_thread() {
        let (w, r) = pipe_with_capacity(8);
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 5];
            loop {
                let n = r.read(&mut buf, &never).unwrap();
                if n == 0 {
                    break all;
                }
                all.extend_from_slice(&buf[..n]);
            }
        });
        w.write_all_async(&[7u8; 100]).await.unwrap();
        drop(w);
        assert_eq!(t.join().unwrap(), vec![7u8; 100]);

        let (w, r) = pipe();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            w.write_all(b"late", &never).unwrap();
        });
        let mut buf = [0u8; 8];
        let n = r.read_async(&mut buf).await;
        assert_eq!(&buf[..n], b"late");
        t.join().unwrap();
        assert_eq!(r.read_async(&mut buf).await, 0);
    }
}
