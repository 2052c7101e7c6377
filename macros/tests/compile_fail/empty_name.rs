#[tailwatch::measure("  ")]
fn query() {}

fn main() {}
