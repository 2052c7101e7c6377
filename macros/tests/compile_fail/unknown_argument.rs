#[tailwatch::measure(label = "db")]
fn query() {}

fn main() {}
