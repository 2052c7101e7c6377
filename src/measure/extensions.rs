//! Per-monitor state that belongs to the pieces above `measure` (the
//! sampler of `saturation`, the handle cache of the `metrics` facade):
//! the monitor keeps it without knowing its type, so `measure` depends on
//! none of them.

use crate::engine::lock::Mutex;
use std::any::Any;
use std::sync::Arc;

/// A small type map: at most one value per type, created on first use.
/// Only configuration paths use it (registering a sampler, creating a
/// recorder), never a recording path.
#[derive(Default)]
pub(crate) struct Extensions {
    values: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The value of type `T`, created by `init` if there is none yet.
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut values = self.values.lock();
        if let Some(found) = find(&values) {
            return found;
        }
        let value = Arc::new(init());
        values.push(value.clone());
        value
    }

    /// The value of type `T`, if one was created.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        find(&self.values.lock())
    }
}

/// The value of type `T` among `values`.
fn find<T: Any + Send + Sync>(values: &[Arc<dyn Any + Send + Sync>]) -> Option<Arc<T>> {
    let value = values.iter().find(|v| (***v).is::<T>())?;
    Arc::clone(value).downcast::<T>().ok()
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type_created_once() {
        let e = Extensions::default();
        assert!(e.get::<u32>().is_none());
        let a = e.get_or_init(|| 7_u32);
        let b = e.get_or_init(|| 8_u32);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*b, 7);
        let s = e.get_or_init(|| String::from("x"));
        assert_eq!(*s, "x");
        assert_eq!(e.get::<u32>().as_deref(), Some(&7));
    }
}
