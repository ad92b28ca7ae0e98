//! Quantization throughput benchmark.
//!
//! `nnue` (default): a Stockfish-sized feature transformer (1024 × 22528
//! int16-valued weights, fixed seed) quantized to int4 per output channel,
//! against the named reference "memory pass" (copy the same f32 data and
//! sum it), printing MB/s of both and their ratio.
//!
//! `llm`: the tensor shapes of a 0.6B-parameter transformer (28 layers of
//! q/k/v/o and gate/up/down, plus the embedding; 1.19 GB as BF16) filled
//! with BF16-representable random values, one tensor at a time so memory
//! stays bounded, quantized to a 16-entry k-means palette (LUT-4) per output
//! channel. Prints seconds and peak RSS.
//!
//! Run: `cargo run --release -p qarena-quant --example quant_bench -- nnue`
//!  or  `cargo run --release -p qarena-quant --example quant_bench -- llm`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::time::{Duration, Instant};

use qarena_quant::{
    quantize_tensor, Granularity, QuantSpec, Role, Scheme, StorageType, TensorInfo,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) used by this process so far: unlike wall
/// time, it does not grow when other processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
    // `rest` starts at field 3 (state), so utime (14) is index 11.
    match (field(11), field(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Roughly normal values (sum of four uniforms) from a per-chunk seed, so
/// generation is parallel and still reproducible.
fn fill(values: &mut [f32], seed: u64, sigma: f32, round: impl Fn(f32) -> f32 + Sync) {
    values
        .par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(i, c)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
            for x in c {
                let u: f32 = (0..4).map(|_| rng.gen::<f32>()).sum::<f32>() - 2.0;
                *x = round(u * sigma * 1.732);
            }
        });
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("n >= 1")
}

fn nnue() {
    let (rows, cols) = (1024usize, 22528usize);
    let info = TensorInfo {
        name: "ft.weight".into(),
        shape: vec![rows, cols],
        dtype: StorageType::I16,
        role: Role::FeatureTransformer,
        layer: None,
        is_bias: false,
    };
    let mut v = vec![0.0f32; rows * cols];
    fill(&mut v, 42, 120.0, |x| x.round().clamp(-32768.0, 32767.0));
    let mb = (v.len() * 4) as f64 / 1e6;

    let memory = best_of(10, || {
        // The reference: one read and one write of the data plus a sum,
        // i.e. what any quantizer must at least do.
        let copy = v.clone();
        let s: f64 = copy
            .par_chunks(1 << 16)
            .map(|c| c.iter().map(|&x| f64::from(x)).sum::<f64>())
            .sum();
        std::hint::black_box(s);
    });
    let spec = QuantSpec::new(Scheme::Int {
        bits: 4,
        symmetric: true,
    })
    .with_granularity(Granularity::Channel);
    let mut last = None;
    let quant = best_of(10, || {
        last = Some(quantize_tensor(&info, &v, &spec).expect("quantize"));
    });
    let out = last.expect("ran");
    let q_mbs = mb / quant.as_secs_f64();
    let m_mbs = mb / memory.as_secs_f64();
    println!(
        "nnue: {} int16 weights ({:.1} MB as int16, {mb:.1} MB as f32 working data)",
        v.len(),
        (v.len() * 2) as f64 / 1e6
    );
    println!(
        "  memory pass (copy + sum):  {:>8.3} s  {m_mbs:>8.0} MB/s",
        memory.as_secs_f64()
    );
    println!(
        "  int4 per channel:          {:>8.3} s  {q_mbs:>8.0} MB/s",
        quant.as_secs_f64()
    );
    println!("  ratio quantize / memory pass: {:.2}", q_mbs / m_mbs);
    println!(
        "  result: {:.3} bits/weight, SQNR {:.2} dB; threads {}; peak RSS {:.0} MiB",
        out.effective_bits,
        out.metrics.sqnr_db,
        rayon::current_num_threads(),
        peak_rss_mb()
    );
}

fn llm() {
    let (hidden, inter, q_out, kv_out, layers, vocab) = (1024, 3072, 2048, 1024, 28, 151_936);
    let mut shapes: Vec<(String, Role, [usize; 2])> =
        vec![("embed_tokens".into(), Role::Embedding, [vocab, hidden])];
    for l in 0..layers {
        for (n, r, s) in [
            ("q_proj", Role::Attention, [q_out, hidden]),
            ("k_proj", Role::Attention, [kv_out, hidden]),
            ("v_proj", Role::Attention, [kv_out, hidden]),
            ("o_proj", Role::Attention, [hidden, q_out]),
            ("gate_proj", Role::Mlp, [inter, hidden]),
            ("up_proj", Role::Mlp, [inter, hidden]),
            ("down_proj", Role::Mlp, [hidden, inter]),
        ] {
            shapes.push((format!("layers.{l}.{n}"), r, s));
        }
    }
    let params: usize = shapes.iter().map(|s| s.2[0] * s.2[1]).sum();
    let spec = QuantSpec::new(Scheme::Lut { bits: 4 }).with_granularity(Granularity::Channel);
    let (mut gen_t, mut quant_t) = (Duration::ZERO, Duration::ZERO);
    let mut quant_cpu = 0.0;
    let (mut bytes, mut err, mut sig) = (0u64, 0.0f64, 0.0f64);
    for (i, (name, role, shape)) in shapes.iter().enumerate() {
        let info = TensorInfo {
            name: name.clone(),
            shape: shape.to_vec(),
            dtype: StorageType::Bf16,
            role: *role,
            layer: None,
            is_bias: false,
        };
        let t = Instant::now();
        let mut v = vec![0.0f32; info.numel()];
        // Truncate to BF16 precision: the values a BF16 file would hold.
        fill(&mut v, i as u64, 0.02, |x| {
            f32::from_bits(x.to_bits() & 0xffff_0000)
        });
        gen_t += t.elapsed();
        let t = Instant::now();
        let c = cpu_seconds();
        let out = quantize_tensor(&info, &v, &spec).expect("quantize");
        quant_cpu += cpu_seconds() - c;
        quant_t += t.elapsed();
        bytes += out.bytes;
        let n = info.numel() as f64;
        err += out.metrics.mse * n;
        sig += out.metrics.signal_power * n;
    }
    println!(
        "llm: {params} params in {} tensors ({:.2} GB as BF16), LUT-4 per output channel",
        shapes.len(),
        (params * 2) as f64 / 1e9
    );
    println!("  generate: {:.1} s (not counted)", gen_t.as_secs_f64());
    println!(
        "  quantize: {:.1} s wall ({:.0} M weights/s) on {} threads; {:.1} CPU s \
         (= {:.1} s wall on idle cores)",
        quant_t.as_secs_f64(),
        params as f64 / quant_t.as_secs_f64() / 1e6,
        rayon::current_num_threads(),
        quant_cpu,
        quant_cpu / rayon::current_num_threads() as f64
    );
    println!(
        "  result: {:.3} bits/weight, pooled SQNR {:.2} dB; peak RSS {:.0} MiB ({:.2}x the BF16 file)",
        bytes as f64 * 8.0 / params as f64,
        qarena_quant::sqnr_db(sig, err),
        peak_rss_mb(),
        peak_rss_mb() * 1_048_576.0 / (params * 2) as f64
    );
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("nnue") => nnue(),
        Some("llm") => llm(),
        Some(other) => {
            eprintln!("unknown mode '{other}': use nnue or llm");
            std::process::exit(2);
        }
    }
}
