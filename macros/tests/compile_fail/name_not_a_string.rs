#[tailwatch::measure(name = 42)]
fn query() {}

fn main() {}
