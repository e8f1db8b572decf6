//! Memory budgets: what a container's processes may hold in memory (its
//! `resources.limits.memory`, else [`DEFAULT_CONTAINER_MEMORY`]), nested in
//! the node's budget so that all containers together cannot exhaust the
//! host either.
//!
//! Emulated programs charge what they keep (shell variables, expansion
//! results, buffered file contents, sort's lines...) before they build it;
//! a refused charge is an out-of-memory kill of that process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A container without `limits.memory` may use this much (kind's nodes
/// would let it take the host's memory; the sandbox must not).
pub const DEFAULT_CONTAINER_MEMORY: u64 = 256 * 1024 * 1024;

/// What all the node's containers may hold together.
pub const NODE_MEMORY: u64 = 2 * 1024 * 1024 * 1024;

/// A charge was refused: the budget (or its parent's) is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("out of memory")]
pub struct OutOfMemory;

/// A byte budget with an optional parent that every charge also counts in.
#[derive(Debug)]
pub struct MemBudget {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
    parent: Option<Arc<MemBudget>>,
}

impl MemBudget {
    pub fn new(limit: u64, parent: Option<Arc<MemBudget>>) -> Arc<MemBudget> {
        Arc::new(MemBudget {
            limit,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            parent,
        })
    }

    /// A budget with no parent (tests, and the fuzz target).
    #[cfg(any(test, fuzzing))]
    pub fn standalone(limit: u64) -> Arc<MemBudget> {
        MemBudget::new(limit, None)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The most ever charged at once.
    #[cfg(test)]
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn charge(&self, bytes: u64) -> Result<(), OutOfMemory> {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let next = current.checked_add(bytes).ok_or(OutOfMemory)?;
            if next > self.limit {
                return Err(OutOfMemory);
            }
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    break;
                }
                Err(seen) => current = seen,
            }
        }
        if let Some(parent) = &self.parent
            && let Err(e) = parent.charge(bytes)
        {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            return Err(e);
        }
        Ok(())
    }

    fn uncharge(&self, bytes: u64) {
        // Never below zero, whatever a caller's bookkeeping did.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
        if let Some(parent) = &self.parent {
            parent.uncharge(bytes);
        }
    }
}

/// Bytes held against a budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemBudget>,
    bytes: u64,
}

impl Charge {
    /// An empty charge on `budget`.
    pub fn new(budget: &Arc<MemBudget>) -> Charge {
        Charge {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// A charge of `bytes`, if the budget allows it.
    pub fn of(budget: &Arc<MemBudget>, bytes: u64) -> Result<Charge, OutOfMemory> {
        let mut c = Charge::new(budget);
        c.resize(bytes)?;
        Ok(c)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds exactly `bytes` now (more is charged, less given back).
    pub fn resize(&mut self, bytes: u64) -> Result<(), OutOfMemory> {
        if bytes > self.bytes {
            self.budget.charge(bytes - self.bytes)?;
        } else {
            self.budget.uncharge(self.bytes - bytes);
        }
        self.bytes = bytes;
        Ok(())
    }

    /// Holds `more` bytes on top of what it holds.
    pub fn grow(&mut self, more: u64) -> Result<(), OutOfMemory> {
        self.resize(self.bytes.saturating_add(more))
    }

    pub fn budget(&self) -> &Arc<MemBudget> {
        &self.budget
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.uncharge(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_count_in_the_parent_and_are_given_back() {
        let node = MemBudget::new(100, None);
        let a = MemBudget::new(80, Some(Arc::clone(&node)));
        let b = MemBudget::new(80, Some(Arc::clone(&node)));
        let mut ca = Charge::of(&a, 60).unwrap();
        assert_eq!(node.used(), 60);
        // b's own limit allows 50, the node's does not.
        assert_eq!(Charge::of(&b, 50).unwrap_err(), OutOfMemory);
        assert_eq!(b.used(), 0);
        assert_eq!(ca.resize(90), Err(OutOfMemory));
        assert_eq!(ca.bytes(), 60);
        ca.resize(10).unwrap();
        let cb = Charge::of(&b, 50).unwrap();
        drop(ca);
        drop(cb);
        assert_eq!((node.used(), a.used(), b.used()), (0, 0, 0));
        assert_eq!(a.peak(), 60);
    }
}
