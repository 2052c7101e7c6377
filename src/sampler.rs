//! Sampling off the request path: closures registered on a monitor run on
//! one background thread per monitor, every interval (1 s by default).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often sampled values are refreshed unless configured otherwise.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

type Task = Box<dyn Fn() + Send + Sync>;

/// The sampled closures of a monitor and the thread that runs them.
pub(crate) struct Sampler {
    tasks: Mutex<Vec<Task>>,
    interval: Duration,
    started: std::sync::Once,
}

impl Sampler {
    pub(crate) fn new(interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            tasks: Mutex::new(Vec::new()),
            interval,
            started: std::sync::Once::new(),
        })
    }

    /// Adds `task`, runs it once now (so its values exist at once), and
    /// starts the thread on first use. The thread ends when the monitor
    /// is dropped.
    pub(crate) fn add(self: &Arc<Self>, task: Task) {
        run(&task);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        self.started.call_once(|| {
            let weak: Weak<Self> = Arc::downgrade(self);
            let interval = self.interval;
            let _ = std::thread::Builder::new()
                .name("tailwatch-sampler".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(interval);
                        let Some(sampler) = weak.upgrade() else {
                            return;
                        };
                        sampler.sample_now();
                    }
                });
        });
    }

    /// Runs every task now.
    pub(crate) fn sample_now(&self) {
        for task in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            run(task);
        }
    }
}

/// Runs a task; a panicking sampler closure is skipped, not fatal.
fn run(task: &Task) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
}
