//! What `#[measure]` expands to calls (through `tailwatch::__private`):
//! a per-function static holding its operation, resolved on the first
//! call from [`Monitor::global`], and the rule that reads any return
//! value's outcome ([`Outcome`] when its type implements it, else a
//! success), chosen at compile time. Not a public API: the names may
//! change with the macro.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::OnceLock;

use super::measured::{AlwaysOk, ByOutcome, ClassifyOutput, Measured};
use super::monitor::Monitor;
use super::operation::Operation;
use super::outcome::Outcome;

/// The operation of one function, resolved once.
#[derive(Debug)]
pub struct OperationSlot {
    name: &'static str,
    operation: OnceLock<Operation>,
}

impl OperationSlot {
    /// For operation `name` of the global monitor.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            operation: OnceLock::new(),
        }
    }

    /// The operation (looked up by name on the first call only).
    #[inline]
    pub fn get(&self) -> &Operation {
        self.operation
            .get_or_init(|| Monitor::global().operation(self.name))
    }
}

/// A return type, seen by the two traits below: [`PickOutcome`] applies
/// to `&Probe<T>` when `T: Outcome` and is found first by method lookup
/// on `&&Probe`; otherwise [`PickAlwaysOk`] on `Probe` (a success).
#[derive(Debug)]
pub struct Probe<T>(PhantomData<fn() -> T>);

/// The probe of `T`.
#[inline]
pub fn probe<T>(_: &T) -> Probe<T> {
    Probe(PhantomData)
}

/// The probe of a future's output.
#[inline]
pub fn probe_output<F: Future>(_: &F) -> Probe<F::Output> {
    Probe(PhantomData)
}

/// `T: Outcome`: its value decides.
pub trait PickOutcome {
    /// The rule.
    fn tailwatch_rule(&self) -> ByOutcome;
}

impl<T: Outcome> PickOutcome for &Probe<T> {
    #[inline]
    fn tailwatch_rule(&self) -> ByOutcome {
        ByOutcome
    }
}

/// Any other type: a success.
pub trait PickAlwaysOk {
    /// The rule.
    fn tailwatch_rule(&self) -> AlwaysOk;
}

impl<T> PickAlwaysOk for Probe<T> {
    #[inline]
    fn tailwatch_rule(&self) -> AlwaysOk {
        AlwaysOk
    }
}

/// Times `future` into `op` with `rule` ([`Operation::measure`] or
/// [`Operation::time`], chosen by type).
#[inline]
pub fn measure<F: Future, C: ClassifyOutput<F::Output>>(
    op: &Operation,
    future: F,
    _rule: C,
) -> Measured<F, C> {
    Measured::new(future, op.start())
}

/// Whether `value` is an error by `rule`.
#[inline]
pub fn is_error<T, C: ClassifyOutput<T>>(value: &T, _rule: C) -> bool {
    C::classify(value) == crate::registry::group::Ended::Error
}
