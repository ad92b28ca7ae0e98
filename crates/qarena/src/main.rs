//! The `qarena` command line: parses arguments and calls the library crates.
fn main() {
    println!("qarena {}", env!("CARGO_PKG_VERSION"));
}
