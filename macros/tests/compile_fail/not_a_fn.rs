#[tailwatch::measure]
struct Config;

fn main() {}
