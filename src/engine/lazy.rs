//! [`LazyBox`]: a heap value created on first use and shared without a
//! lock, which its owner can also free while the container lives on.
//!
//! `once_cell::race::OnceBox` does the first two and frees only with the
//! container. An exited thread's stripe of every series must be given back
//! while the series lives, so this is the one place in tailwatch with
//! `unsafe` code: an `AtomicPtr` to a `Box`, installed by compare-exchange,
//! and [`LazyBox::take`], whose caller promises that nobody can reach the
//! value any more (for a stripe: the writer slot protocol of `slot.rs`,
//! checked by the loom model in `shard.rs`).
#![allow(unsafe_code)]

use std::ptr;

use crate::engine::sync::{AtomicPtr, Ordering};

/// A lazily created `Box<T>` behind an atomic pointer.
pub(crate) struct LazyBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: a `LazyBox<T>` hands out `&T` to any thread and moves the `T`
// between threads when it is taken or dropped: as for `Box<T>` shared
// through an `Arc`.
unsafe impl<T: Send + Sync> Send for LazyBox<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for LazyBox<T> {}

impl<T> LazyBox<T> {
    pub(crate) fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, if created.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in
        // `get_or_init` (published with release ordering, read with
        // acquire), and is freed only by `take`, whose caller guarantees
        // that no reference from here is alive or can still be created.
        unsafe { p.as_ref() }
    }

    /// The value, created by `init` if it is not yet (if two threads race,
    /// one box wins and the other is dropped).
    #[inline(always)]
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> Box<T>) -> &T {
        match self.get() {
            Some(v) => v,
            None => self.init(init),
        }
    }

    #[cold]
    fn init(&self, init: impl FnOnce() -> Box<T>) -> &T {
        let new = Box::into_raw(init());
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `new` is the live box we just published (see `get`).
            Ok(_) => unsafe { &*new },
            Err(current) => {
                // SAFETY: `new` was never published; we still own it.
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: `current` is non-null (the exchange failed on it)
                // and published by another `init` (see `get`).
                unsafe { &*current }
            }
        }
    }

    /// Whether the value exists (no reference is made).
    pub(crate) fn is_set(&self) -> bool {
        !self.ptr.load(Ordering::Relaxed).is_null()
    }

    /// Takes the value out, leaving the box empty.
    ///
    /// # Safety
    /// No reference obtained from [`get`](Self::get) or
    /// [`get_or_init`](Self::get_or_init) may be alive, and none may be
    /// obtained concurrently with this call (a later call sees the empty
    /// box and creates a new value).
    pub(crate) unsafe fn take(&self) -> Option<Box<T>> {
        let p = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null pointer is a published `Box::into_raw`, and the
        // caller guarantees nobody else uses it; swapping null out means no
        // other `take` frees it twice.
        (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
    }
}

impl<T> Drop for LazyBox<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reference into the box can be alive.
        drop(unsafe { self.take() });
    }
}

impl<T> Default for LazyBox<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn creates_once_takes_and_drops_each_value_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let b = Arc::new(LazyBox::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (b, d) = (b.clone(), drops.clone());
                std::thread::spawn(move || {
                    std::ptr::from_ref(b.get_or_init(|| Box::new(Tracked(d)))) as usize
                })
            })
            .collect();
        let addrs: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(addrs.iter().all(|&a| a == addrs[0]), "two values won");
        // Every losing box was dropped.
        let losers = drops.load(Ordering::Relaxed);
        assert!(losers <= 3);
        // SAFETY: the threads are joined; no reference is alive.
        let taken = unsafe { b.take() };
        assert!(taken.is_some() && !b.is_set());
        drop(taken);
        assert_eq!(drops.load(Ordering::Relaxed), losers + 1);
        b.get_or_init(|| Box::new(Tracked(drops.clone())));
        drop(b);
        assert_eq!(drops.load(Ordering::Relaxed), losers + 2);
    }
}
