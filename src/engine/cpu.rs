//! The CPU the calling thread runs on, to spread threads that share
//! stripes (`slot.rs`) so that the ones running at the same moment write
//! different cache lines.
#![allow(unsafe_code)]

/// The current CPU's number; 0 where it cannot be known. A thread may
/// move right after: callers use it only to pick which stripe to
/// `fetch_add` into, where any answer is correct and a stale one is merely
/// contended.
#[inline(always)]
pub(crate) fn current() -> usize {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sched_getcpu` has no preconditions and touches no memory
        // of ours (glibc answers from the thread's rseq area, no syscall).
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(all(test, not(tailwatch_loom), target_os = "linux"))]
mod tests {
    #[test]
    fn is_one_of_the_machines_cpus() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let cpus = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        for _ in 0..1000 {
            assert!(super::current() < cpus);
        }
    }
}
