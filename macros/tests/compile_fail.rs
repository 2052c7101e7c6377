//! Misuse of `#[tailwatch::measure]` is a compile error that says what is
//! wrong (`TRYBUILD=overwrite` rewrites the expected messages).

#[test]
fn misuse_is_refused_with_a_clear_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
