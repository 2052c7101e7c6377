//! Locks that cannot be poisoned: a thread that panicked while holding one
//! leaves the data as it was, and every later caller keeps serving (losing
//! a half-made update matters less than a monitoring library that stops).
//! Call sites see a guard, never a `PoisonError` (tokio's
//! `loom/std/mutex.rs` does the same).

use std::sync::{MutexGuard, PoisonError, RwLockReadGuard, RwLockWriteGuard};

/// A `std::sync::Mutex` whose [`lock`](Self::lock) ignores poisoning.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// The guard, whether or not a holder panicked.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `std::sync::RwLock` whose [`read`](Self::read) and
/// [`write`](Self::write) ignore poisoning.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T: ?Sized>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    /// A read guard, whether or not a writer panicked.
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The write guard, whether or not a holder panicked.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::{Mutex, RwLock};

    #[test]
    fn a_panic_while_holding_a_lock_does_not_stop_later_callers() {
        let m = Mutex::new(1);
        let l = RwLock::new(1);
        std::thread::scope(|s| {
            let _ = s
                .spawn(|| {
                    let (_a, _b) = (m.lock(), l.write());
                    panic!("a holder panics");
                })
                .join();
        });
        *m.lock() += 1;
        *l.write() += 1;
        assert_eq!((*m.lock(), *l.read()), (2, 2));
    }
}
