//! Small per-thread, direct-mapped caches: a repeated lookup (a metric by
//! name and labels, an operation by name, an HTTP route) finds its handle
//! in the calling thread's slot, with no lock and no shared cache line.
//!
//! One mechanism for every such cache: an entry belongs to an *owner* (a
//! registry, a monitor, a layer, a recorder: [`next_owner`] numbers them,
//! as addresses can be reused), sits in the slot its key's hash picks, and
//! is checked by the caller's predicate; a miss runs the caller's slow path,
//! which says whether its result may be cached.
//!
//! Best effort by design: while the thread's storage is being torn down,
//! or if a lookup re-enters the cache (a clock or recorder that records),
//! the cache is skipped and the caller takes its slow path.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;

/// Slots of every per-thread cache.
pub(crate) const SLOTS: usize = 64;

/// A cache's storage, declared with [`thread_cache!`].
pub(crate) type Slots<V> = RefCell<Vec<Option<(u64, V)>>>;

/// Declares a per-thread cache of `V`s: `thread_cache! { static NAME: V; }`.
macro_rules! thread_cache {
    ($(#[$attr:meta])* static $name:ident: $v:ty;) => {
        $(#[$attr])*
        static $name: $crate::engine::thread_cache::ThreadCache<$v> = {
            ::std::thread_local! {
                static SLOTS: $crate::engine::thread_cache::Slots<$v> =
                    const { ::std::cell::RefCell::new(::std::vec::Vec::new()) };
            }
            $crate::engine::thread_cache::ThreadCache::new(&SLOTS)
        };
    };
}
pub(crate) use thread_cache;

/// A new owner id, unique in the process (never 0).
pub(crate) fn next_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A per-thread cache of `V`s (see the module docs).
#[derive(Debug)]
pub(crate) struct ThreadCache<V: 'static> {
    slots: &'static LocalKey<Slots<V>>,
}

impl<V: 'static> ThreadCache<V> {
    pub(crate) const fn new(slots: &'static LocalKey<Slots<V>>) -> Self {
        Self { slots }
    }

    /// `hit` applied to `owner`'s entry in the slot of `hash`; else the
    /// result of `miss`, whose entry (if it gives one) replaces the slot's.
    #[inline]
    pub(crate) fn get_or<R>(
        &self,
        owner: u64,
        hash: u64,
        hit: impl FnOnce(&V) -> Option<R>,
        miss: impl FnOnce() -> (R, Option<V>),
    ) -> R {
        let slot = hash as usize % SLOTS;
        let found = self
            .slots
            .try_with(|c| {
                let c = c.try_borrow().ok()?;
                match c.get(slot)? {
                    Some((o, v)) if *o == owner => hit(v),
                    _ => None,
                }
            })
            .ok()
            .flatten();
        if let Some(r) = found {
            return r;
        }
        let (r, entry) = miss();
        if let Some(value) = entry {
            let _ = self.slots.try_with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    if c.is_empty() {
                        c.resize_with(SLOTS, || None);
                    }
                    c[slot] = Some((owner, value));
                }
            });
        }
        r
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::next_owner;

    thread_cache! {
        static CACHE: (&'static str, u32);
    }

    fn lookup(owner: u64, key: &'static str, misses: &mut u32) -> u32 {
        let hash = key.len() as u64;
        CACHE.get_or(
            owner,
            hash,
            |&(k, v)| (k == key).then_some(v),
            || {
                *misses += 1;
                (*misses, Some((key, *misses)))
            },
        )
    }

    #[test]
    fn entries_are_per_owner_per_key_and_per_thread() {
        let (a, b) = (next_owner(), next_owner());
        let mut misses = 0;
        assert_eq!(lookup(a, "x", &mut misses), 1);
        assert_eq!(lookup(a, "x", &mut misses), 1, "a hit");
        assert_eq!(lookup(b, "x", &mut misses), 2, "another owner misses");
        assert_eq!(
            lookup(b, "y", &mut misses),
            3,
            "another key in the slot misses"
        );
        assert_eq!(lookup(b, "y", &mut misses), 3);
        std::thread::spawn(move || {
            let mut misses = 10;
            assert_eq!(lookup(b, "y", &mut misses), 11, "another thread misses");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_miss_that_gives_no_entry_is_not_cached() {
        let owner = next_owner();
        let mut runs = 0;
        for _ in 0..3 {
            CACHE.get_or(
                owner,
                7,
                |_| Some(0),
                || {
                    runs += 1;
                    (0, None)
                },
            );
        }
        assert_eq!(runs, 3);
    }
}
