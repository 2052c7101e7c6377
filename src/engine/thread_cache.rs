//! Small per-thread, direct-mapped caches: a repeated lookup (a metric by
//! name and labels, an operation by name, an HTTP route) finds its handle
//! in the calling thread's slot, with no lock and no shared cache line.
//!
//! Best effort by design: while the thread's storage is being torn down,
//! or if a lookup re-enters the cache (a clock or recorder that records),
//! the cache is skipped and the caller takes its slow path.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Slots of every per-thread cache.
pub(crate) const SLOTS: usize = 64;

/// A cache's storage, declared with `thread_local!` at each use.
pub(crate) type Slots<T> = RefCell<Vec<Option<T>>>;

/// `f` applied to the entry in `slot`; `None` when the slot is empty, `f`
/// declines it, or the cache is unavailable.
#[inline]
pub(crate) fn get<T: 'static, R>(
    cache: &'static LocalKey<Slots<T>>,
    slot: usize,
    f: impl FnOnce(&T) -> Option<R>,
) -> Option<R> {
    cache
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            c.get(slot % SLOTS)?.as_ref().and_then(f)
        })
        .ok()
        .flatten()
}

/// Stores `value` in `slot`, replacing what was there.
pub(crate) fn put<T: 'static>(cache: &'static LocalKey<Slots<T>>, slot: usize, value: T) {
    let _ = cache.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.is_empty() {
                c.resize_with(SLOTS, || None);
            }
            c[slot % SLOTS] = Some(value);
        }
    });
}
