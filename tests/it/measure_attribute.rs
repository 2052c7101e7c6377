//! `#[tailwatch::measure]` on sync, async, method and generic functions:
//! names, outcomes from `Result` (with `?` and early returns), any return
//! type, panics, cancellation; all into `Monitor::global()`. Misuse is
//! refused at compile time: `macros/tests/compile_fail.rs`.

use std::time::Duration;

use tailwatch::{Monitor, measure};

#[derive(Debug, PartialEq)]
struct Failed;

fn stats(op: &str) -> (u64, u64, u64) {
    let s = Monitor::global().stats(op).unwrap_or_else(|| {
        panic!(
            "no operation {op}: {:?}",
            Monitor::global()
                .all_stats()
                .iter()
                .map(|s| s.labels.clone())
                .collect::<Vec<_>>()
        )
    });
    (s.count, s.errors, s.cancelled)
}

fn parse(s: &str) -> Result<u32, Failed> {
    s.parse().map_err(|_| Failed)
}

#[measure("attr.sync_result")]
fn sync_result(input: &str) -> Result<u32, Failed> {
    if input.is_empty() {
        return Err(Failed); // early return
    }
    let n = parse(input)?; // `?`
    Ok(n * 2)
}

#[test]
fn a_sync_fn_counts_err_early_returns_and_question_marks_as_errors() {
    assert_eq!(sync_result("21"), Ok(42));
    assert_eq!(sync_result(""), Err(Failed));
    assert_eq!(sync_result("x"), Err(Failed));
    assert_eq!(stats("attr.sync_result"), (3, 2, 0));
}

#[measure]
fn default_name() -> usize {
    7
}

#[test]
fn the_default_name_is_the_module_path_and_the_function() {
    assert_eq!(default_name(), 7);
    // `module_path!()` here is `it::measure_attribute`.
    assert_eq!(stats("it::measure_attribute::default_name"), (1, 0, 0));
}

#[measure(name = "attr.async")]
async fn async_result(fail: bool) -> Result<&'static str, Failed> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if fail {
        Err(Failed)?;
    }
    Ok("done")
}

#[measure("attr.async_slow")]
async fn slow() -> u8 {
    tokio::time::sleep(Duration::from_secs(60)).await;
    1
}

#[tokio::test]
async fn an_async_fn_times_to_completion_and_counts_a_drop_as_cancelled() {
    assert_eq!(async_result(false).await, Ok("done"));
    assert_eq!(async_result(true).await, Err(Failed));
    let (count, errors, _) = stats("attr.async");
    assert_eq!((count, errors), (2, 1));
    let s = Monitor::global().stats("attr.async").unwrap();
    assert!(s.min.unwrap() >= 0.002, "timed to completion: {s:?}");
    // Dropped before it finishes: cancelled, and no longer in flight.
    assert!(
        tokio::time::timeout(Duration::from_millis(5), slow())
            .await
            .is_err()
    );
    assert_eq!(stats("attr.async_slow"), (1, 0, 1));
    assert_eq!(Monitor::global().operation("attr.async_slow").active(), 0);
}

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[measure("attr.method_ref")]
    fn get(&self, i: usize) -> Option<u32> {
        self.items.get(i).copied()
    }

    #[measure("attr.method_mut")]
    fn push(&mut self, v: u32) -> Result<(), Failed> {
        if v == 0 {
            return Err(Failed);
        }
        self.items.push(v);
        Ok(())
    }

    #[measure("attr.method_self")]
    fn into_len(self) -> usize {
        self.items.len()
    }

    #[measure("attr.method_async")]
    async fn sum(&self) -> u32 {
        self.items.iter().sum()
    }
}

#[tokio::test]
async fn methods_by_ref_by_mut_by_value_and_async() {
    let mut s = Store { items: vec![1] };
    assert_eq!(s.get(0), Some(1));
    assert_eq!(s.push(2), Ok(()));
    assert_eq!(s.push(0), Err(Failed));
    assert_eq!(s.sum().await, 3);
    assert_eq!(s.into_len(), 2);
    assert_eq!(stats("attr.method_ref"), (1, 0, 0));
    assert_eq!(stats("attr.method_mut"), (2, 1, 0));
    assert_eq!(stats("attr.method_async"), (1, 0, 0));
    assert_eq!(stats("attr.method_self"), (1, 0, 0));
}

#[measure("attr.generic")]
fn largest<T: PartialOrd + Copy>(items: &[T]) -> Result<T, Failed> {
    let mut it = items.iter().copied();
    let mut best = it.next().ok_or(Failed)?;
    for x in it {
        if x > best {
            best = x;
        }
    }
    Ok(best)
}

#[measure("attr.impl_trait")]
fn evens(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|x| x % 2 == 0)
}

/// A type that does not implement `Outcome`: always a success.
#[derive(Debug, PartialEq)]
struct Report(&'static str);

#[measure("attr.any_type")]
fn report() -> Report {
    Report("fine")
}

#[test]
fn generic_impl_trait_and_any_return_type() {
    assert_eq!(largest(&[3, 9, 2]), Ok(9));
    assert_eq!(largest(&[1.5, 0.5]), Ok(1.5));
    assert_eq!(largest::<u8>(&[]), Err(Failed));
    assert_eq!(stats("attr.generic"), (3, 1, 0));
    assert_eq!(evens(5).count(), 3);
    assert_eq!(stats("attr.impl_trait"), (1, 0, 0));
    assert_eq!(report(), Report("fine"));
    assert_eq!(stats("attr.any_type"), (1, 0, 0));
}

#[measure("attr.panics")]
fn panics(really: bool) -> u8 {
    if really {
        panic!("boom");
    }
    1
}

#[test]
fn a_panic_is_an_error_and_propagates() {
    assert_eq!(panics(false), 1);
    assert!(std::panic::catch_unwind(|| panics(true)).is_err());
    assert_eq!(stats("attr.panics"), (2, 1, 0));
    assert_eq!(Monitor::global().operation("attr.panics").active(), 0);
}
