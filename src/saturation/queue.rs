//! [`Queue`]: a queue's depth (`queue_depth{queue}`), kept by the caller
//! or sampled.

use crate::engine::counter::Gauge;
use crate::measure::Monitor;

/// Items waiting in a queue.
pub const QUEUE_DEPTH: &str = "queue_depth";

/// A queue's depth: pushed and popped explicitly, or set. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Queue {
    depth: Gauge,
}

impl Queue {
    /// One item in.
    pub fn push(&self) {
        self.depth.increment();
    }

    /// One item out.
    pub fn pop(&self) {
        self.depth.decrement();
    }

    /// Sets the depth (from a single writer).
    pub fn set(&self, depth: i64) {
        self.depth.set(depth);
    }

    /// Items in the queue now.
    pub fn depth(&self) -> i64 {
        self.depth.value()
    }
}

/// A queue's depth, as [`Monitor::queue_stats`] and `/stats` give it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueStats {
    /// The queue's name.
    pub queue: String,
    /// Items in the queue now.
    pub depth: i64,
}

impl Monitor {
    /// The queue `name`, created on first use.
    pub fn queue(&self, name: &str) -> Queue {
        self.registry()
            .describe(QUEUE_DEPTH, "Items waiting in the queue.");
        Queue {
            depth: self
                .registry()
                .gauge(QUEUE_DEPTH, &[("queue", name)])
                .unwrap_or_default(),
        }
    }

    /// A queue whose depth `depth` reports (a channel's `len`), sampled.
    /// Registering `name` again replaces its sampler.
    pub fn queue_sampled(
        &self,
        name: &str,
        depth: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Queue {
        let queue = self.queue(name);
        let q = queue.clone();
        self.sample_as(format!("queue\0{name}"), move || q.set(depth()));
        queue
    }

    /// Every queue's depth, by name.
    pub fn queue_stats(&self) -> Vec<QueueStats> {
        let mut queues: Vec<QueueStats> = self
            .registry()
            .gauges()
            .into_iter()
            .filter(|(id, _)| id.name() == QUEUE_DEPTH)
            .filter_map(|(id, g)| {
                Some(QueueStats {
                    queue: id.label("queue")?.to_owned(),
                    depth: g.value(),
                })
            })
            .collect();
        queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        queues
    }
}
