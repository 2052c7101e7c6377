//! The deadpool adapter against a real PostgreSQL (Debian's `postgresql`),
//! started by the test on a temporary data directory on loopback: pool
//! size, idle, in use, waiters and acquire waits from real connections.
//!
//! Runs when PostgreSQL is installed; required when
//! TAILWATCH_REQUIRE_SERVERS=1 (CI); otherwise one `SKIPPED:` line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tailwatch::export::{self, Buckets, Format};
use tailwatch::{Monitor, saturation::ResourceStats};
use tokio_postgres::NoTls;

use crate::common;
use common::{available, free_port, promtool_check, temp_dir, wait_stats};

/// Where PostgreSQL's server programs are: on `PATH`, or Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest first).
fn bindir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("pg_ctl").is_file()));
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|bin| bin.join("pg_ctl").is_file())
            .collect();
        versions.sort_by_key(|bin| {
            let v = bin.parent().and_then(Path::file_name);
            v.and_then(|v| v.to_str()?.parse::<u32>().ok())
        });
        versions.pop()
    })
}

/// A PostgreSQL server on loopback in a temporary directory; stopped and
/// removed on drop. As root it runs as the `postgres` user (the server
/// refuses to run as root).
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    addr: SocketAddr,
}

impl Postgres {
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}): {}\nserver log: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn start(bin: PathBuf) -> Self {
        let dir = temp_dir("postgres");
        let as_postgres = is_root();
        if as_postgres {
            let id = |flag| {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "running as root needs a `postgres` user"
                );
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            };
            std::os::unix::fs::chown(&dir, Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let addr = free_port();
        let pg = Postgres {
            bin,
            dir,
            as_postgres,
            addr,
        };
        let data = pg.dir.join("data");
        let data = data.to_str().unwrap();
        pg.run(
            "initdb",
            &[
                "-D",
                data,
                "-U",
                "tailwatch",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -F -c max_connections=20",
            addr.port(),
            pg.dir.display()
        );
        let log = pg.dir.join("log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        pg
    }

    fn config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.addr.port())
            .user("tailwatch")
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(10));
        c
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w"])
            .arg("stop")
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn pool(config: tokio_postgres::Config, max_size: usize, wait: Option<Duration>) -> Pool {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(wait)
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap()
}

fn figures(m: &Monitor, resource: &str) -> ResourceStats {
    m.sample_now();
    m.resource_stats()
        .into_iter()
        .find(|r| r.resource == resource)
        .unwrap_or_else(|| panic!("no resource {resource}"))
}

/// (in use, idle, size, waiting, capacity)
fn counts(r: &ResourceStats) -> (i64, Option<i64>, Option<i64>, Option<i64>, i64) {
    (r.in_use, r.idle, r.size, r.waiting, r.capacity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_adapter_against_a_real_postgresql() {
    let bin = bindir();
    if !available(bin.is_some(), "PostgreSQL", "apt-get install postgresql") {
        return;
    }
    let server = Postgres::start(bin.unwrap());
    // Sampled only when the test asks (sample_now), so the figures read
    // are the pool's at that moment.
    let m = Monitor::builder()
        .sample_interval(Duration::from_secs(3600))
        .build()
        .unwrap();

    let pg = pool(server.config(), 4, None);
    let db = m.deadpool("pg", &pg);
    assert_eq!(
        counts(&figures(&m, "pg")),
        (0, Some(0), Some(0), Some(0), 4)
    );

    // k = 3 of n = 4 connections held, each used for a real query.
    let mut held = Vec::new();
    for _ in 0..3 {
        let client = db.get().await.expect("a connection to the test server");
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
        held.push(client);
    }
    let r = figures(&m, "pg");
    assert_eq!(counts(&r), (3, Some(0), Some(3), Some(0), 4));
    assert_eq!(r.utilization, Some(0.75));
    assert_eq!(wait_stats(&m, "pg").count, 3, "each get is a wait");

    // One back to the pool: still open, now idle.
    held.pop();
    assert_eq!(
        counts(&figures(&m, "pg")),
        (2, Some(1), Some(3), Some(0), 4)
    );

    // Exhausted: 4 held, two callers wait ~150 ms for a connection.
    held.push(db.get().await.unwrap());
    held.push(db.get().await.unwrap());
    assert_eq!(
        counts(&figures(&m, "pg")),
        (4, Some(0), Some(4), Some(0), 4)
    );
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let client = db.get().await.unwrap();
                let pid: i32 = client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .await
                    .unwrap()
                    .get(0);
                pid
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while figures(&m, "pg").waiting != Some(2) {
        assert!(Instant::now() < deadline, "the waiters never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiting_since = Instant::now();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let waited_at_least = waiting_since.elapsed();
    held.truncate(2);
    for w in waiters {
        w.await.unwrap();
    }
    let waits = wait_stats(&m, "pg");
    assert_eq!(waits.count, 7, "{waits:?}");
    let max = waits.max.unwrap();
    assert!(
        max >= waited_at_least.as_secs_f64() * 0.99,
        "longest wait {max} s, the waiters waited at least {waited_at_least:?}"
    );
    assert_eq!(
        counts(&figures(&m, "pg")),
        (2, Some(2), Some(4), Some(0), 4)
    );

    // A real query measured as an operation next to the pool.
    let client = db.get().await.unwrap();
    m.measure("db.sleep", client.query_one("SELECT pg_sleep(0.05)", &[]))
        .await
        .unwrap();
    drop(client);
    let sleep = m.stats("db.sleep").unwrap();
    assert!(sleep.min.unwrap() >= 0.049, "{sleep:?}");

    // Every family present, promtool clean, /stats shape.
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    for line in [
        "resource_in_use{resource=\"pg\"} 2",
        "resource_idle{resource=\"pg\"} 2",
        "resource_waiting{resource=\"pg\"} 0",
        "resource_capacity{resource=\"pg\"} 4",
        "resource_wait_seconds_count{resource=\"pg\"} 8",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    if let Some(report) = promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}\n{text}");
    }

    // Exhausted with a wait timeout: the timed-out get is a wait too and
    // holds nothing.
    let small = m.deadpool(
        "small",
        &pool(server.config(), 1, Some(Duration::from_millis(100))),
    );
    let only = small.get().await.unwrap();
    let started = Instant::now();
    let err = small.get().await.expect_err("the pool is exhausted");
    assert!(matches!(err, PoolError::Timeout(_)), "{err:?}");
    let waits = wait_stats(&m, "small");
    assert_eq!(waits.count, 2);
    assert!(waits.max.unwrap() >= 0.099 && started.elapsed() >= Duration::from_millis(99));
    assert_eq!(figures(&m, "small").in_use, 1);
    drop(only);

    // A server that refuses: the error reaches the caller, the failed
    // attempt is recorded as a wait, nothing counts as in use.
    let mut refused = server.config();
    refused.port(free_port().port());
    let down = m.deadpool("down", &pool(refused, 2, None));
    let err = down.get().await.expect_err("nothing listens there");
    assert!(matches!(err, PoolError::Backend(_)), "{err:?}");
    assert_eq!(wait_stats(&m, "down").count, 1);
    assert_eq!(
        counts(&figures(&m, "down")),
        (0, Some(0), Some(0), Some(0), 2)
    );

    // The pool dropped: the sampler holds it weakly, the gauges fall to 0.
    drop(db);
    drop(pg);
    assert_eq!(
        counts(&figures(&m, "pg")),
        (0, Some(0), Some(0), Some(0), 0)
    );
}
