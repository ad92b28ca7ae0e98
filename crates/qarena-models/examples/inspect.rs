//! Prints the catalogue of a model and times load, to_bytes and write:
//! `cargo run --release -p qarena-models --example inspect -- MODEL [OUT]`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some(path) = args.first() else {
        return Err("usage: inspect MODEL [OUT]".into());
    };
    let t = Instant::now();
    let model = qarena_models::Model::load(path)?;
    let load = t.elapsed();
    println!("{} ({})", model.description(), model.format());
    for (i, t) in model.catalogue().iter().enumerate() {
        println!(
            "{i:4} {:40} {:20} {:>4} {:?} {} {}",
            t.name,
            t.role.as_str(),
            t.layer.map(|l| l.to_string()).unwrap_or_default(),
            t.shape,
            t.dtype.as_str(),
            if t.is_bias { "bias" } else { "" }
        );
    }
    println!("params {}", model.num_params());
    println!("load {load:?}");
    if let Some(out) = args.get(1) {
        let t = Instant::now();
        model.write(out)?;
        println!("write {:?}", t.elapsed());
        let t = Instant::now();
        let n: usize = (0..model.catalogue().len())
            .map(|i| model.tensor_values(i).len())
            .sum();
        println!("tensor_values of all {n} values {:?}", t.elapsed());
    }
    Ok(())
}
