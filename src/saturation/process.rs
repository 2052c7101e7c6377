//! Process figures under their standard names, sampled off the request
//! path by the monitor's sampler thread ([`Monitor::sample_process`](crate::Monitor::sample_process)).
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `process_cpu_seconds_total` | counter | user + system CPU time |
//! | `process_cpu_utilization_ratio` | gauge | CPU time over the last 60 s ÷ (elapsed × `process_cpu_limit_cores`) |
//! | `process_cpu_limit_cores` | gauge | the cgroup CPU quota (`cpu.max`, or v1 `cfs_quota_us / cfs_period_us`), else the CPUs available to the process |
//! | `process_resident_memory_bytes` | gauge | resident set size |
//! | `process_memory_limit_bytes` | gauge | the cgroup memory limit (`memory.max`, or v1 `limit_in_bytes`); absent when unlimited |
//! | `process_open_fds` / `process_max_fds` | gauge | open descriptors / their soft limit |
//! | `process_threads` | gauge | threads |
//!
//! Utilisation is of the quota, not of the host: a process limited to 1.5
//! CPUs on a 16-core host that uses 1.5 CPUs is at 1.0. Linux only (read
//! from `/proc` with the `procfs` crate and from `/sys/fs/cgroup`).

use std::path::Path;

/// The CPU quota in cores from a cgroup v2 `cpu.max` (`"150000 100000"` →
/// 1.5); `None` for `"max …"` (no quota) or anything unreadable.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next().unwrap_or("100000").parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// The memory limit from a cgroup `memory.max` / `limit_in_bytes`: `None`
/// for `"max"` or a value so large it means no limit (v1 writes ~2^63).
pub fn parse_memory_max(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < 1 << 60).then_some(v)
}

/// The cgroup limits of the current process: `(cpu cores, memory bytes)`,
/// read under `root` (normally `/sys/fs/cgroup`) for the cgroup path in
/// `proc_cgroup` (the text of `/proc/self/cgroup`).
pub fn cgroup_limits(root: &Path, proc_cgroup: &str) -> (Option<f64>, Option<u64>) {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    // cgroup v2: one line "0::/path".
    if let Some(path) = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().trim_start_matches('/'))
    {
        for dir in [root.join(path), root.to_path_buf()] {
            let cpu = read(&dir.join("cpu.max"));
            let mem = read(&dir.join("memory.max"));
            if cpu.is_some() || mem.is_some() {
                return (
                    cpu.as_deref().and_then(parse_cpu_max),
                    mem.as_deref().and_then(parse_memory_max),
                );
            }
        }
    }
    // cgroup v1.
    let quota = read(&root.join("cpu/cpu.cfs_quota_us"));
    let period = read(&root.join("cpu/cpu.cfs_period_us"));
    let cpu = match (quota, period) {
        (Some(q), Some(p)) => parse_cpu_max(&format!("{} {}", q.trim(), p.trim())),
        _ => None,
    };
    let mem = read(&root.join("memory/memory.limit_in_bytes"))
        .as_deref()
        .and_then(parse_memory_max);
    (cpu, mem)
}

#[cfg(all(target_os = "linux", feature = "process"))]
mod linux {
    use std::path::Path;
    use std::time::Duration;

    use procfs::WithCurrentSystemInfo;
    use procfs::process::{LimitValue, Process};

    use crate::measure::Monitor;
    use crate::saturation::sampler::WindowRate;

    /// What each figure is (`# HELP`).
    const HELP: [(&str, &str); 8] = [
        (
            "process_cpu_seconds_total",
            "User and system CPU time of the process, in seconds.",
        ),
        (
            "process_cpu_utilization_ratio",
            "CPU time of the process over the sliding window, as a fraction of the CPUs it may use (the cgroup quota when there is one).",
        ),
        (
            "process_cpu_limit_cores",
            "CPUs the process may use: the cgroup CPU quota, else the CPUs available.",
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory of the process, in bytes.",
        ),
        (
            "process_memory_limit_bytes",
            "The cgroup memory limit of the process, in bytes (absent when unlimited).",
        ),
        ("process_open_fds", "Open file descriptors of the process."),
        (
            "process_max_fds",
            "Maximum open file descriptors of the process (soft limit).",
        ),
        ("process_threads", "Threads of the process."),
    ];

    /// The window CPU utilisation is computed over.
    const WINDOW: Duration = Duration::from_secs(60);

    pub(super) fn start(monitor: &Monitor) -> Result<(), super::ProcessError> {
        let unreadable = |path| {
            move |e: procfs::ProcError| super::ProcessError::Unreadable {
                path,
                reason: e.to_string(),
            }
        };
        let me = Process::myself().map_err(unreadable("/proc/self"))?;
        me.stat().map_err(unreadable("/proc/self/stat"))?;
        let r = monitor.registry();
        for (name, help) in HELP {
            r.describe(name, help);
        }
        let value = |name: &str| r.value(name, &[]).unwrap_or_default();
        let cpu = value("process_cpu_seconds_total");
        let utilization = value("process_cpu_utilization_ratio");
        let cores = value("process_cpu_limit_cores");
        let rss = value("process_resident_memory_bytes");
        let open = value("process_open_fds");
        let max = value("process_max_fds");
        let threads = value("process_threads");
        let memory_limit = r.clone();
        let cpu_rate = WindowRate::new(WINDOW);
        let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        monitor.sample_as("process".to_owned(), move || {
            let Ok(stat) = me.stat() else { return };
            let tps = procfs::ticks_per_second() as f64;
            let cpu_now = (stat.utime + stat.stime) as f64 / tps;
            cpu.set(cpu_now);
            rss.set(stat.rss_bytes().get() as f64);
            threads.set(stat.num_threads as f64);
            if let Ok(n) = me.fd_count() {
                open.set(n as f64);
            }
            if let Ok(limits) = me.limits() {
                if let LimitValue::Value(n) = limits.max_open_files.soft_limit {
                    max.set(n as f64);
                }
            }
            let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let (quota, mem) = super::cgroup_limits(Path::new("/sys/fs/cgroup"), &proc_cgroup);
            let limit = quota.map_or(host_cores, |q| q.min(host_cores));
            cores.set(limit);
            if let Some(m) = mem {
                if let Ok(v) = memory_limit.value("process_memory_limit_bytes", &[]) {
                    v.set(m as f64);
                }
            }
            if let Some(per_second) = cpu_rate.update(cpu_now) {
                if limit > 0.0 {
                    utilization.set(per_second / limit);
                }
            }
        });
        Ok(())
    }
}

/// Why the process figures cannot be sampled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// Not Linux, or the `process` feature is off.
    #[error("process metrics need Linux and tailwatch's `process` feature (on by default)")]
    Unsupported,
    /// `/proc/self` could not be read.
    #[error("cannot read {path}: {reason}; process metrics need a readable /proc")]
    Unreadable {
        /// The file.
        path: &'static str,
        /// What the OS said.
        reason: String,
    },
}

impl crate::measure::Monitor {
    /// Starts sampling the process figures ([module docs](self)) on the
    /// monitor's sampler thread (again: replaces the previous sampler). The
    /// agent does it when it starts, unless
    /// [`AgentBuilder::process_metrics(false)`](crate::agent::AgentBuilder::process_metrics).
    ///
    /// # Errors
    /// [`ProcessError`] when they cannot be read: not Linux, the `process`
    /// feature off, or `/proc` unreadable.
    pub fn sample_process(&self) -> Result<(), ProcessError> {
        #[cfg(all(target_os = "linux", feature = "process"))]
        {
            linux::start(self)
        }
        #[cfg(not(all(target_os = "linux", feature = "process")))]
        {
            Err(ProcessError::Unsupported)
        }
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn cgroup_files_parse() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max("-1 100000"), None);
        assert_eq!(parse_cpu_max(""), None);
        assert_eq!(parse_memory_max("536870912\n"), Some(512 << 20));
        assert_eq!(parse_memory_max("max"), None);
        assert_eq!(parse_memory_max("9223372036854771712"), None);
    }

    #[test]
    fn cgroup_limits_from_a_fake_hierarchy() {
        let dir = std::env::temp_dir().join(format!("tailwatch-cgroup-{}", std::process::id()));
        let v2 = dir.join("v2");
        std::fs::create_dir_all(v2.join("app.slice")).unwrap();
        std::fs::write(v2.join("app.slice/cpu.max"), "250000 100000\n").unwrap();
        std::fs::write(v2.join("app.slice/memory.max"), "1073741824\n").unwrap();
        assert_eq!(
            cgroup_limits(&v2, "0::/app.slice\n"),
            (Some(2.5), Some(1 << 30))
        );
        // In a container the path is "/" and the files are at the root.
        std::fs::write(v2.join("cpu.max"), "max 100000\n").unwrap();
        assert_eq!(cgroup_limits(&v2, "0::/\n"), (None, None));
        let v1 = dir.join("v1");
        std::fs::create_dir_all(v1.join("cpu")).unwrap();
        std::fs::create_dir_all(v1.join("memory")).unwrap();
        std::fs::write(v1.join("cpu/cpu.cfs_quota_us"), "50000\n").unwrap();
        std::fs::write(v1.join("cpu/cpu.cfs_period_us"), "100000\n").unwrap();
        std::fs::write(
            v1.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(cgroup_limits(&v1, "12:cpu,cpuacct:/\n"), (Some(0.5), None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
