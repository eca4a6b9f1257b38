#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    print!("{}", common::activities_csv(0, n));
}
