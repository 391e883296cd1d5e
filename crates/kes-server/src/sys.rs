//! What the server asks of the operating system about its own process:
//! statistics for `/v1/status` (spec §2.2) and the `kes_system_*` metrics
//! (§8.8), read from Linux `/proc` and `/sys`, and locking its memory
//! ([`lock_memory`], §8.4).
//!
//! No `unsafe` is needed here: `mlockall` and `getrlimit` come through
//! `nix`'s safe wrappers.
//!
//! Rust has no garbage-collected heap to ask, so the memory figures are
//! estimates from the kernel's view of the process:
//! * `mem_stack_used` = `VmStk` of `/proc/self/status` (the main thread's
//!   stack; other threads' stacks are anonymous mappings counted in RSS);
//! * `mem_heap_used` = `VmRSS − VmStk` (resident memory other than the main
//!   stack, i.e. heap plus resident code and data);
//! * `mem_heap_objects` = 0 (not tracked);
//! * `num_threads` = `Threads` (OS threads; tokio tasks are not counted).
//!
//! On other systems, or when `/proc` is unreadable, the memory and thread
//! figures are 0.

use std::time::Duration;

/// A snapshot of process statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SysStats {
    /// Time since the server started (passed in by the caller).
    pub uptime: Duration,
    /// Logical CPUs of the machine.
    pub num_cpu: u64,
    /// CPUs the process may use (affinity and cgroup quota).
    pub num_cpu_used: u64,
    /// OS threads of the process.
    pub num_threads: u64,
    /// Estimated heap bytes: resident set minus the main stack.
    pub mem_heap_used: u64,
    /// Heap objects; always 0 (not tracked).
    pub mem_heap_objects: u64,
    /// Stack bytes of the main thread (`VmStk`).
    pub mem_stack_used: u64,
}

impl SysStats {
    /// Collects the statistics now; `uptime` is the server's age.
    pub fn collect(uptime: Duration) -> Self {
        let num_cpu_used = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let num_cpu = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|s| count_cpu_list(&s))
            .unwrap_or(num_cpu_used)
            .max(num_cpu_used);
        let mut stats = SysStats {
            uptime,
            num_cpu,
            num_cpu_used,
            ..SysStats::default()
        };
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            stats.apply_proc_status(&status);
        }
        stats
    }

    /// Fills the thread and memory fields from `/proc/self/status` text.
    fn apply_proc_status(&mut self, status: &str) {
        let mut rss = 0;
        let mut stack = 0;
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "VmRSS" => rss = parse_kb(value),
                "VmStk" => stack = parse_kb(value),
                "Threads" => self.num_threads = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        self.mem_stack_used = stack;
        self.mem_heap_used = rss.saturating_sub(stack);
    }
}

/// Why memory could not be locked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MlockError {
    /// Without `CAP_IPC_LOCK` and with a finite `RLIMIT_MEMLOCK`, locking is
    /// not attempted: with `MCL_FUTURE` every page mapped later counts
    /// against the limit, and once it is reached allocations fail and the
    /// process aborts.
    #[error(
        "not permitted: the process lacks CAP_IPC_LOCK and its locked-memory limit (RLIMIT_MEMLOCK) is {limit} bytes"
    )]
    NotPermitted {
        /// The soft limit in bytes.
        limit: u64,
    },
    /// The system call failed (`EPERM`, `ENOMEM`, ...).
    #[error("mlockall failed: {0}")]
    Failed(String),
}

/// Locks every current and future page of the process in RAM
/// (`mlockall(MCL_CURRENT | MCL_FUTURE)`, as Go KES does at start-up), so
/// key material is never written to swap. Attempted only when the process
/// has `CAP_IPC_LOCK` or an unlimited `RLIMIT_MEMLOCK`; see
/// [`MlockError::NotPermitted`] for why.
pub fn lock_memory() -> Result<(), MlockError> {
    use nix::sys::mman::{MlockAllFlags, mlockall};
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit};
    let privileged = std::fs::read_to_string("/proc/self/status")
        .ok()
        .is_some_and(|s| has_ipc_lock(&s));
    if !privileged {
        let (soft, _) = getrlimit(Resource::RLIMIT_MEMLOCK)
            .map_err(|e| MlockError::Failed(format!("getrlimit(RLIMIT_MEMLOCK): {e}")))?;
        if soft != RLIM_INFINITY {
            return Err(MlockError::NotPermitted { limit: soft });
        }
    }
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
        .map_err(|e| MlockError::Failed(e.to_string()))
}

/// Whether the effective capabilities (`CapEff` of `/proc/self/status`)
/// include `CAP_IPC_LOCK` (bit 14).
fn has_ipc_lock(status: &str) -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// `"1234 kB"` → 1263616 bytes; anything else → 0.
fn parse_kb(value: &str) -> u64 {
    value
        .strip_suffix("kB")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map_or(0, |n| n.saturating_mul(1024))
}

/// Counts the CPUs of a kernel CPU list like `0-3,8,10-11`.
fn count_cpu_list(s: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
                n += b.checked_sub(a)? + 1;
            }
            None => {
                part.parse::<u64>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0-3,8,10-11\n"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("3-1"), None);
    }

    #[test]
    fn proc_status_fields() {
        let mut s = SysStats::default();
        s.apply_proc_status("Name:\tkes\nVmRSS:\t    2048 kB\nVmStk:\t     132 kB\nThreads:\t5\n");
        assert_eq!(s.num_threads, 5);
        assert_eq!(s.mem_stack_used, 132 * 1024);
        assert_eq!(s.mem_heap_used, (2048 - 132) * 1024);
    }

    #[test]
    fn ipc_lock_capability() {
        assert!(has_ipc_lock("Name:\tkes\nCapEff:\t000001ffffffffff\n"));
        assert!(has_ipc_lock("CapEff:\t0000000000004000\n"));
        assert!(!has_ipc_lock("CapEff:\t0000000000000000\n"));
        assert!(!has_ipc_lock("CapEff:\t000001ffffffbfff\n"));
        assert!(!has_ipc_lock("Name:\tkes\n"));
    }

    #[test]
    fn collect_reports_something_sensible() {
        let s = SysStats::collect(Duration::from_secs(3));
        assert_eq!(s.uptime, Duration::from_secs(3));
        assert!(s.num_cpu >= s.num_cpu_used && s.num_cpu_used >= 1);
        if cfg!(target_os = "linux") {
            assert!(s.num_threads >= 1);
            assert!(s.mem_heap_used > 0);
        }
    }
}
