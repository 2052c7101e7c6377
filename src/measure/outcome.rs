//! [`Outcome`]: whether a measured result is an error, and [`Ended`]: how a
//! measured piece of work ended.

/// Classifies what a measured future or closure returned.
///
/// `Result::Err` is an error; every other implementation here is a
/// success. Implement it (one line: the default says "not an error") for
/// your own return types, or for a type that carries its own failure:
///
/// ```
/// struct Reply { status: u16 }
/// impl tailwatch::Outcome for Reply {
///     fn is_error(&self) -> bool {
///         self.status >= 500
///     }
/// }
/// struct Rows(Vec<u32>);
/// impl tailwatch::Outcome for Rows {} // always a success
/// ```
///
/// To time something whose output does not implement it, use
/// [`Operation::time`](crate::Operation::time) (always a success unless
/// cancelled or panicking) or a [`Timer`](crate::Timer).
pub trait Outcome {
    /// Whether this result counts as an error (`outcome="error"`).
    fn is_error(&self) -> bool {
        false
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn is_error(&self) -> bool {
        self.is_err()
    }
}

impl<T: Outcome + ?Sized> Outcome for Box<T> {
    fn is_error(&self) -> bool {
        (**self).is_error()
    }
}

/// `None` is an answer ("not found"), not a failure.
impl<T> Outcome for Option<T> {}

macro_rules! successes {
    ($($t:ty),* $(,)?) => { $(impl Outcome for $t {})* };
}

successes!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &str,
    std::time::Duration
);

impl<T> Outcome for Vec<T> {}
impl<K, V, S> Outcome for std::collections::HashMap<K, V, S> {}
impl<K, V> Outcome for std::collections::BTreeMap<K, V> {}
