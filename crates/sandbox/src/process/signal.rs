//! Signals and exit statuses of emulated processes, and the per-process
//! mailbox that delivers signals to a process's thread.
//!
//! Emulated programs cannot be interrupted asynchronously: they look at
//! their mailbox at their blocking points (sleeps, pipe reads and writes,
//! loop iterations) and act on what is pending there.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The signals a learner sends (`kill -TERM`, ctrl-C) or the kubelet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Hup,
    Int,
    Quit,
    Kill,
    Usr1,
    Usr2,
    Pipe,
    Alrm,
    Term,
    Chld,
    Cont,
    Stop,
    Tstp,
    Winch,
}

impl Signal {
    /// Every signal, in number order (what `kill -l` lists).
    pub const ALL: [Signal; 14] = [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Kill,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Pipe,
        Signal::Alrm,
        Signal::Term,
        Signal::Chld,
        Signal::Cont,
        Signal::Stop,
        Signal::Tstp,
        Signal::Winch,
    ];

    /// The Linux x86-64 number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Hup => 1,
            Signal::Int => 2,
            Signal::Quit => 3,
            Signal::Kill => 9,
            Signal::Usr1 => 10,
            Signal::Usr2 => 12,
            Signal::Pipe => 13,
            Signal::Alrm => 14,
            Signal::Term => 15,
            Signal::Chld => 17,
            Signal::Cont => 18,
            Signal::Stop => 19,
            Signal::Tstp => 20,
            Signal::Winch => 28,
        }
    }

    /// The name without `SIG` (`TERM`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hup => "HUP",
            Signal::Int => "INT",
            Signal::Quit => "QUIT",
            Signal::Kill => "KILL",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
            Signal::Pipe => "PIPE",
            Signal::Alrm => "ALRM",
            Signal::Term => "TERM",
            Signal::Chld => "CHLD",
            Signal::Cont => "CONT",
            Signal::Stop => "STOP",
            Signal::Tstp => "TSTP",
            Signal::Winch => "WINCH",
        }
    }

    pub fn from_number(n: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == n)
    }

    /// `TERM`, `SIGTERM`, `term` or `15`.
    pub fn parse(text: &str) -> Option<Signal> {
        if let Ok(n) = text.parse::<i32>() {
            return Signal::from_number(n);
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Signal::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the default action ends the process (CHLD, CONT and WINCH
    /// are ignored by default; STOP/TSTP stop nothing here: there is no job
    /// control).
    pub fn terminates_by_default(self) -> bool {
        !matches!(
            self,
            Signal::Chld | Signal::Cont | Signal::Winch | Signal::Stop | Signal::Tstp
        )
    }

    /// What a shell prints when a job dies of it (`Terminated`, `Killed`).
    pub fn description(self) -> &'static str {
        match self {
            Signal::Hup => "Hangup",
            Signal::Int => "Interrupt",
            Signal::Quit => "Quit",
            Signal::Kill => "Killed",
            Signal::Usr1 => "User defined signal 1",
            Signal::Usr2 => "User defined signal 2",
            Signal::Pipe => "Broken pipe",
            Signal::Alrm => "Alarm clock",
            Signal::Term => "Terminated",
            Signal::Chld => "Child exited",
            Signal::Cont => "Continued",
            Signal::Stop => "Stopped (signal)",
            Signal::Tstp => "Stopped",
            Signal::Winch => "Window changed",
        }
    }

    fn bit(self) -> u32 {
        1 << self.number()
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit N` (0..=255).
    Exited(i32),
    /// Ended by a signal (status 128 + its number).
    Signaled(Signal),
    /// Killed by the OOM killer: its container's memory limit was reached
    /// (SIGKILL, status 137; the kubelet's reason `OOMKilled`).
    OomKilled,
}

impl ExitStatus {
    /// The shell's `$?` / the container's exit code.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s.number(),
            ExitStatus::OomKilled => 128 + Signal::Kill.number(),
        }
    }

    /// The signal that ended the process, if one did.
    pub fn signal(self) -> Option<Signal> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::OomKilled => Some(Signal::Kill),
        }
    }
}

#[derive(Debug, Default)]
struct Pending {
    bits: u32,
    /// Set once: the OOM killer chose this process.
    oom: bool,
}

/// A process's pending signals. Senders set bits and wake the process if
/// it sleeps here; the process takes them at its checkpoints.
#[derive(Debug, Default)]
pub struct Mailbox {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Mailbox {
    fn guard(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers `sig`.
    pub fn send(&self, sig: Signal) {
        self.guard().bits |= sig.bit();
        self.wake.notify_all();
    }

    /// Marks the process as chosen by the OOM killer (and kills it).
    pub fn oom_kill(&self) {
        {
            let mut p = self.guard();
            p.oom = true;
            p.bits |= Signal::Kill.bit();
        }
        self.wake.notify_all();
    }

    pub fn is_oom_killed(&self) -> bool {
        self.guard().oom
    }

    /// Whether `sig` is pending (without taking it).
    pub fn has(&self, sig: Signal) -> bool {
        self.guard().bits & sig.bit() != 0
    }

    /// Whether anything is pending.
    pub fn any(&self) -> bool {
        self.guard().bits != 0
    }

    /// Takes one pending signal, KILL first, then by number.
    pub fn take(&self) -> Option<Signal> {
        let mut p = self.guard();
        if p.bits & Signal::Kill.bit() != 0 {
            // KILL stays pending: whatever checks next must die too.
            return Some(Signal::Kill);
        }
        let sig = Signal::ALL.into_iter().find(|s| p.bits & s.bit() != 0)?;
        p.bits &= !sig.bit();
        Some(sig)
    }

    /// Sleeps up to `d`, returning early (true) when a signal is pending.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now().checked_add(d);
        let mut p = self.guard();
        loop {
            if p.bits != 0 {
                return true;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(end) if end <= now => return false,
                Some(end) => end - now,
                // Longer than the machine will live: wait in long slices.
                None => Duration::from_secs(3600),
            };
            p = match self.wake.wait_timeout(p, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn names_numbers_and_statuses() {
        assert_eq!(Signal::parse("SIGTERM"), Some(Signal::Term));
        assert_eq!(Signal::parse("kill"), Some(Signal::Kill));
        assert_eq!(Signal::parse("2"), Some(Signal::Int));
        assert_eq!(Signal::parse("nope"), None);
        assert_eq!(ExitStatus::Signaled(Signal::Term).code(), 143);
        assert_eq!(ExitStatus::OomKilled.code(), 137);
        assert_eq!(ExitStatus::Exited(256 + 3).code(), 3);
        assert!(!Signal::Chld.terminates_by_default());
    }

    #[test]
    fn a_signal_wakes_a_sleeper_and_kill_stays_pending() {
        let mb = Arc::new(Mailbox::default());
        let sender = Arc::clone(&mb);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(Signal::Term);
        });
        assert!(mb.sleep(Duration::from_secs(60)));
        t.join().unwrap();
        assert_eq!(mb.take(), Some(Signal::Term));
        assert_eq!(mb.take(), None);
        assert!(!mb.sleep(Duration::from_millis(1)));
        mb.oom_kill();
        assert_eq!(mb.take(), Some(Signal::Kill));
        assert_eq!(mb.take(), Some(Signal::Kill));
        assert!(mb.is_oom_killed());
    }
}
