//! A container's processes: PID 1 (its main process), `kubectl exec`
//! sessions and what they start. The kubelet and the exec handler share
//! one table per container instance; `ps` lists it, `kill` signals
//! through it, and its memory budget bounds what they all hold.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::memory::MemBudget;
use super::signal::{ExitStatus, Mailbox, Signal};

/// How many processes one container may have at once (a fork bomb in a
/// shell loop meets `can't fork` instead of the host's limits).
pub const MAX_PROCESSES: usize = 256;

/// No free process slot (`fork: Resource temporarily unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Resource temporarily unavailable")]
pub struct TooManyProcesses;

/// No process has that PID (`kill: can't kill pid 42: No such process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("No such process")]
pub struct NoSuchProcess;

/// One process. Its thread keeps an `Arc` to look at its signals; others
/// keep one to signal it or wait for it.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    ppid: u32,
    cmdline: Mutex<String>,
    started: Instant,
    mailbox: Mailbox,
    /// PID 1: signals whose default action would end it are ignored, as
    /// the kernel does for a namespace's init.
    init: bool,
    /// The file mode creation mask, inherited from the parent (`umask`).
    umask: AtomicU32,
    exit: Mutex<Option<ExitStatus>>,
    exited: Condvar,
    exited_async: Notify,
    table: std::sync::Weak<Inner>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ppid(&self) -> u32 {
        self.ppid
    }

    pub fn is_init(&self) -> bool {
        self.init
    }

    /// The mask new files' modes go through (022 unless changed).
    pub fn umask(&self) -> u32 {
        self.umask.load(Ordering::Relaxed)
    }

    pub fn set_umask(&self, mask: u32) {
        self.umask.store(mask & 0o777, Ordering::Relaxed);
    }

    /// The command line `ps` shows.
    pub fn cmdline(&self) -> String {
        guard(&self.cmdline).clone()
    }

    /// Replaces the command line (`exec`).
    pub fn set_cmdline(&self, text: &str) {
        *guard(&self.cmdline) = text.to_string();
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Delivers a signal.
    pub fn signal(&self, sig: Signal) {
        self.mailbox.send(sig);
    }

    /// Records how the process ended, wakes its waiters and leaves the
    /// table. The first status recorded wins.
    pub fn finish(&self, status: ExitStatus) {
        if guard(&self.exit).is_some() {
            return;
        }
        // The table first: whoever wakes up on the exit sees it updated.
        if let Some(table) = self.table.upgrade() {
            if self.init && status == ExitStatus::OomKilled {
                table.main_oom.store(true, Ordering::SeqCst);
            }
            guard(&table.procs).remove(&self.pid);
        }
        {
            let mut exit = guard(&self.exit);
            if exit.is_some() {
                return;
            }
            *exit = Some(status);
        }
        self.exited.notify_all();
        self.exited_async.notify_waiters();
    }

    /// The exit status, once the process has ended.
    pub fn status(&self) -> Option<ExitStatus> {
        *guard(&self.exit)
    }

    /// Waits for the process to end (blocking), or until `stop()` says
    /// the waiter has a signal to act on (None then).
    pub fn wait(&self, stop: &dyn Fn() -> bool) -> Option<ExitStatus> {
        let mut exit = guard(&self.exit);
        loop {
            if let Some(status) = *exit {
                return Some(status);
            }
            if stop() {
                return None;
            }
            exit = match self.exited.wait_timeout(exit, Duration::from_millis(25)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Waits for the process to end.
    pub async fn wait_async(&self) -> ExitStatus {
        loop {
            let notified = self.exited_async.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(status) = self.status() {
                return status;
            }
            notified.await;
        }
    }
}

/// A container's processes start with the runtime's umask.
pub const DEFAULT_UMASK: u32 = 0o022;

#[derive(Debug)]
struct Inner {
    procs: Mutex<BTreeMap<u32, Arc<Process>>>,
    next_pid: AtomicU32,
    memory: Arc<MemBudget>,
    main_oom: AtomicBool,
}

/// What `ps` shows of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub cmdline: String,
    pub running_for: Duration,
}

/// The processes of one container instance, and its memory budget (its
/// cgroup). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessTable(Arc<Inner>);

impl ProcessTable {
    /// A table whose processes may hold `memory` bytes together.
    pub fn new(memory: Arc<MemBudget>) -> ProcessTable {
        ProcessTable(Arc::new(Inner {
            procs: Mutex::new(BTreeMap::new()),
            next_pid: AtomicU32::new(1),
            memory,
            main_oom: AtomicBool::new(false),
        }))
    }

    pub fn memory(&self) -> &Arc<MemBudget> {
        &self.0.memory
    }

    /// Adds a process started by `ppid` (0: by the runtime). The first one
    /// registered with `init` gets PID 1.
    pub fn register(
        &self,
        ppid: u32,
        cmdline: &str,
        init: bool,
    ) -> Result<Arc<Process>, TooManyProcesses> {
        let mut procs = guard(&self.0.procs);
        if procs.len() >= MAX_PROCESSES {
            return Err(TooManyProcesses);
        }
        let pid = if init && !procs.contains_key(&1) {
            self.0.next_pid.fetch_max(2, Ordering::SeqCst);
            1
        } else {
            loop {
                let pid = self.0.next_pid.fetch_add(1, Ordering::SeqCst).max(2);
                if !procs.contains_key(&pid) {
                    break pid;
                }
            }
        };
        // Inherited across fork and exec, as the kernel does.
        let umask = procs.get(&ppid).map_or(DEFAULT_UMASK, |p| p.umask());
        let p = Arc::new(Process {
            pid,
            ppid,
            umask: AtomicU32::new(umask),
            cmdline: Mutex::new(cmdline.to_string()),
            started: Instant::now(),
            mailbox: Mailbox::default(),
            init: pid == 1,
            exit: Mutex::new(None),
            exited: Condvar::new(),
            exited_async: Notify::new(),
            table: Arc::downgrade(&self.0),
        });
        procs.insert(pid, Arc::clone(&p));
        Ok(p)
    }

    pub fn get(&self, pid: u32) -> Option<Arc<Process>> {
        guard(&self.0.procs).get(&pid).cloned()
    }

    /// The running processes, by PID.
    pub fn list(&self) -> Vec<ProcInfo> {
        guard(&self.0.procs)
            .values()
            .map(|p| ProcInfo {
                pid: p.pid,
                ppid: p.ppid,
                cmdline: p.cmdline(),
                running_for: p.started.elapsed(),
            })
            .collect()
    }

    /// Signals one process.
    pub fn signal(&self, pid: u32, sig: Signal) -> Result<(), NoSuchProcess> {
        self.get(pid).ok_or(NoSuchProcess)?.signal(sig);
        Ok(())
    }

    /// Signals every process (the runtime stopping the container: all
    /// of them get SIGKILL when the grace period is over).
    pub fn signal_all(&self, sig: Signal) {
        let procs: Vec<Arc<Process>> = guard(&self.0.procs).values().cloned().collect();
        for p in procs {
            p.signal(sig);
        }
    }

    /// Whether PID 1 ended OOM-killed (the kubelet's reason `OOMKilled`).
    pub fn main_oom_killed(&self) -> bool {
        self.0.main_oom.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_signals_and_exit() {
        let t = ProcessTable::new(MemBudget::standalone(1 << 20));
        let exec = t.register(0, "sh", false).unwrap();
        let main = t.register(0, "sleep 3600", true).unwrap();
        assert_eq!(main.pid(), 1);
        assert!(exec.pid() >= 2);
        let child = t.register(exec.pid(), "cat", false).unwrap();
        assert_ne!(child.pid(), exec.pid());
        assert_eq!(t.list().len(), 3);
        t.signal(child.pid(), Signal::Term).unwrap();
        assert!(child.mailbox().has(Signal::Term));
        assert_eq!(t.signal(999, Signal::Term), Err(NoSuchProcess));
        child.finish(ExitStatus::Signaled(Signal::Term));
        assert_eq!(
            child.wait(&|| false),
            Some(ExitStatus::Signaled(Signal::Term))
        );
        assert!(t.get(child.pid()).is_none());
        main.finish(ExitStatus::OomKilled);
        assert!(t.main_oom_killed());
        assert_eq!(exec.wait(&|| true), None);
    }

    #[tokio::test]
    async fn async_wait() {
        let t = ProcessTable::new(MemBudget::standalone(1 << 20));
        let p = t.register(0, "x", false).unwrap();
        let q = Arc::clone(&p);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            q.finish(ExitStatus::Exited(3));
        });
        assert_eq!(p.wait_async().await, ExitStatus::Exited(3));
    }
}
