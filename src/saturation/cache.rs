//! [`Cache`]: a cache's lookups by result
//! (`cache_requests_total{cache, result}`), and its hit ratio.

use crate::engine::counter::Counter;
use crate::measure::Monitor;

/// Cache lookups by result.
pub const CACHE_REQUESTS: &str = "cache_requests_total";

/// A cache's lookups, counted by result. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Cache {
    hits: Counter,
    misses: Counter,
}

impl Cache {
    /// A lookup that found its entry.
    pub fn hit(&self) {
        self.hits.increment();
    }

    /// A lookup that did not.
    pub fn miss(&self) {
        self.misses.increment();
    }

    /// A lookup, `hit` or not.
    pub fn lookup(&self, hit: bool) {
        if hit { self.hit() } else { self.miss() }
    }

    /// `(hits, misses)` since creation.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.value(), self.misses.value())
    }

    /// `hits / (hits + misses)` since creation; `None` before any lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let (h, m) = self.counts();
        (h + m > 0).then(|| h as f64 / (h + m) as f64)
    }
}

/// A cache's figures, as [`Monitor::cache_stats`] and `/stats` give them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// The cache's name.
    pub cache: String,
    /// Lookups that hit, since start.
    pub hits: u64,
    /// Lookups that missed, since start.
    pub misses: u64,
    /// `hits / (hits + misses)`; `None` before any lookup.
    pub hit_ratio: Option<f64>,
}

impl Monitor {
    /// The cache `name`, created on first use.
    pub fn cache(&self, name: &str) -> Cache {
        let r = self.registry();
        r.describe(CACHE_REQUESTS, "Cache lookups by result.");
        let counter = |result| {
            r.counter(CACHE_REQUESTS, &[("cache", name), ("result", result)])
                .unwrap_or_default()
        };
        Cache {
            hits: counter("hit"),
            misses: counter("miss"),
        }
    }

    /// Every cache's hits, misses and hit ratio, by name.
    pub fn cache_stats(&self) -> Vec<CacheStats> {
        let mut by_cache: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for (id, c) in self.registry().counters() {
            if id.name() != CACHE_REQUESTS {
                continue;
            }
            let (Some(cache), Some(result)) = (id.label("cache"), id.label("result")) else {
                continue;
            };
            let e = by_cache.entry(cache.to_owned()).or_default();
            match result {
                "hit" => e.0 += c.value(),
                _ => e.1 += c.value(),
            }
        }
        by_cache
            .into_iter()
            .map(|(cache, (hits, misses))| CacheStats {
                cache,
                hits,
                misses,
                hit_ratio: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            })
            .collect()
    }
}
