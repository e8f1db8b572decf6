//! What a container's processes share: its files, its image's userland,
//! the pod's network, its process table (with the memory budget), its
//! host name and environment, the host-disk guard, and the test hooks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::hostfs::ContainerFs;
use crate::network::podnet::PodNetwork;
use crate::process::{MemBudget, ProcessTable};
use crate::shell::userland::Userland;

/// Scales the sleeps of a container's programs (tests shorten them).
pub type SleepHook = Arc<dyn Fn(Duration) -> Duration + Send + Sync>;

/// Everything a process of one container sees of it. Cheap to clone.
#[derive(Clone)]
pub struct Container {
    pub(crate) fs: ContainerFs,
    pub(crate) userland: Arc<Userland>,
    pub(crate) network: Option<PodNetwork>,
    pub(crate) procs: ProcessTable,
    pub(crate) hostname: String,
    /// The container's environment (what `kubectl exec` processes get).
    pub(crate) env: Vec<(String, String)>,
    pub(crate) disk: Arc<DiskGuard>,
    pub(crate) sleep_hook: Option<SleepHook>,
}

impl Container {
    /// A container of `userland` over `fs`, with its own process table and
    /// a memory budget of `memory` bytes inside the node's.
    pub fn new(fs: ContainerFs, userland: Arc<Userland>, hostname: &str) -> Container {
        let memory = MemBudget::new(
            crate::process::DEFAULT_CONTAINER_MEMORY,
            Some(node_memory()),
        );
        Container {
            fs,
            userland,
            network: None,
            procs: ProcessTable::new(memory),
            hostname: hostname.to_string(),
            env: Vec::new(),
            disk: DiskGuard::shared(),
            sleep_hook: None,
        }
    }

    /// Shares the process table of a running container instance (its
    /// memory budget comes with it).
    pub fn with_procs(mut self, procs: ProcessTable) -> Container {
        self.procs = procs;
        self
    }

    pub fn with_env(mut self, env: Vec<(String, String)>) -> Container {
        self.env = env;
        self
    }

    pub fn with_network(mut self, network: PodNetwork) -> Container {
        self.network = Some(network);
        self
    }

    /// Makes every sleep of this container's programs last `hook(d)`.
    #[cfg(any(test, fuzzing))]
    pub fn with_sleep_hook(mut self, hook: SleepHook) -> Container {
        self.sleep_hook = Some(hook);
        self
    }

    #[cfg(test)]
    pub fn with_disk_guard(mut self, disk: Arc<DiskGuard>) -> Container {
        self.disk = disk;
        self
    }

    pub fn userland(&self) -> &Arc<Userland> {
        &self.userland
    }

    /// How long a sleep of `d` really lasts.
    pub(crate) fn sleep_for(&self, d: Duration) -> Duration {
        match &self.sleep_hook {
            Some(hook) => hook(d),
            None => d,
        }
    }
}

/// The node's memory budget, shared by every container of the process.
pub fn node_memory() -> Arc<MemBudget> {
    static NODE: OnceLock<Arc<MemBudget>> = OnceLock::new();
    Arc::clone(NODE.get_or_init(|| MemBudget::new(crate::process::NODE_MEMORY, None)))
}

/// Keeps the host's disk from filling up: writes fail with "No space left
/// on device" once the filesystem holding the data directory would have
/// less than `margin` bytes free.
#[derive(Debug)]
pub struct DiskGuard {
    margin: u64,
    /// (when measured, free bytes then minus what was written since).
    cache: Mutex<Option<(Instant, PathBuf, u64)>>,
    /// A fixed amount of free space instead of measuring (tests); what
    /// is written is taken from it.
    fixed_free: Option<std::sync::atomic::AtomicU64>,
}

/// The free space kept on the host's disk.
pub const DISK_MARGIN: u64 = 512 * 1024 * 1024;

/// How long a measurement of the free space is trusted.
const DISK_RECHECK: Duration = Duration::from_millis(500);

impl DiskGuard {
    pub fn new(margin: u64) -> Arc<DiskGuard> {
        Arc::new(DiskGuard {
            margin,
            cache: Mutex::new(None),
            fixed_free: None,
        })
    }

    /// The guard every container shares.
    pub fn shared() -> Arc<DiskGuard> {
        static SHARED: OnceLock<Arc<DiskGuard>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(|| DiskGuard::new(DISK_MARGIN)))
    }

    /// A guard that believes `free` bytes are free (tests of a full disk).
    #[cfg(test)]
    pub fn with_free(free: u64, margin: u64) -> Arc<DiskGuard> {
        Arc::new(DiskGuard {
            margin,
            cache: Mutex::new(None),
            fixed_free: Some(std::sync::atomic::AtomicU64::new(free)),
        })
    }

    fn measure(path: &Path) -> Option<u64> {
        let mut dir = path;
        // The file may not exist yet: measure its nearest existing parent.
        loop {
            if let Ok(st) = rustix::fs::statvfs(dir) {
                return Some(st.f_bavail.saturating_mul(st.f_frsize));
            }
            dir = dir.parent()?;
        }
    }

    /// Whether `bytes` more may be written at `path`; Err(StorageFull)
    /// when the margin would be crossed.
    pub fn reserve(&self, path: &Path, bytes: u64) -> std::io::Result<()> {
        let full = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        if let Some(free) = &self.fixed_free {
            let now = free.load(std::sync::atomic::Ordering::SeqCst);
            if now.saturating_sub(bytes) < self.margin {
                return Err(full());
            }
            free.fetch_sub(bytes.min(now), std::sync::atomic::Ordering::SeqCst);
            return Ok(());
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = match &*cache {
            Some((at, _, _)) => at.elapsed() > DISK_RECHECK,
            None => true,
        };
        if fresh {
            // Unmeasurable (an odd filesystem): do not block writes.
            let free = Self::measure(path).unwrap_or(u64::MAX);
            *cache = Some((Instant::now(), path.to_path_buf(), free));
        }
        let Some((_, _, free)) = cache.as_mut() else {
            return Ok(());
        };
        if free.saturating_sub(bytes) < self.margin {
            // Measure again before refusing: space may have been freed.
            if !fresh {
                let now = Self::measure(path).unwrap_or(u64::MAX);
                *free = now;
                if now.saturating_sub(bytes) >= self.margin {
                    *free = now.saturating_sub(bytes);
                    return Ok(());
                }
            }
            return Err(full());
        }
        *free = free.saturating_sub(bytes);
        Ok(())
    }
}
