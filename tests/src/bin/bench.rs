//! `cargo xtask bench`: runs the simulator benchmarks and writes target/bench/*.json.
fn main() {}
