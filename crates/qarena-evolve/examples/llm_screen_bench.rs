//! The language-model screen's variant build with its tensor cache,
//! against a named reference run in the same invocation: building the
//! same genomes from scratch (`qarena_llm::apply`, what the screen did
//! before the cache). The genomes are what an evolution screens: a parent
//! with MSE clipping everywhere, then children that each change one group
//! (a role over a layer range), then the parent again.
//!
//! With `--calibrated`, every gene rounds by GPTQ (calibrated on the first
//! 1,024 tokens of data/llm/text-calib.txt), as a `--calibrated` evolution
//! builds them: cached is the screen's way (tensors from the cache, GPTQ
//! plans kept by the calibration), the reference builds each genome from a
//! calibration of its own (`apply_calibrated`, every plan made again, what
//! `llm kl --calib` does for one variant).
//!
//! ```text
//! cargo run --release -p qarena-evolve --example llm_screen_bench -- [MODEL] [--calibrated]
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use qarena_quant::Strategy;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let calibrated = args.iter().any(|a| a == "--calibrated");
    let arg = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "smollm2".into());
    let path = qarena_llm::source::resolve(&arg);
    let m = qarena_llm::LlmModel::load(&path).unwrap();
    let rounding = if calibrated {
        "rounding = \"error_compensating\"\n"
    } else {
        ""
    };
    let default = format!(
        "[default]\nscheme = \"uint4\"\ngranularity = \"group:128\"\nclip = \"mse\"\n{rounding}"
    );
    let calibration = calibrated.then(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/llm");
        let text = qarena_llm::read_text(&root.join("text-calib.txt")).unwrap();
        let ids = m.tokenizer.encode(&text).unwrap();
        let t = Instant::now();
        let c = qarena_llm::Llama::new(&m)
            .unwrap()
            .calibrate(&ids[..ids.len().min(1024)], 512)
            .unwrap();
        println!(
            "calibration over {} tokens: {:.1} s",
            c.tokens,
            t.elapsed().as_secs_f64()
        );
        c
    });
    let mut genomes =
        vec![Strategy::parse(&format!("name = \"parent\"\n{default}"), "bench").unwrap()];
    let groups = [
        ("mlp", "0-9", "int3", "group:32"),
        ("attention", "10-19", "nf4", "group:64"),
        ("mlp", "20-29", "uint5", "group:128"),
        ("embedding", "", "int8", "channel"),
    ];
    for (k, (role, layers, scheme, granularity)) in groups.iter().enumerate() {
        let layers = if layers.is_empty() {
            String::new()
        } else {
            format!("layers = \"{layers}\"\n")
        };
        let toml = format!(
            "name = \"child{k}\"\n[[rule]]\nrole = \"{role}\"\n{layers}scheme = \"{scheme}\"\ngranularity = \"{granularity}\"\nclip = \"mse\"\n{rounding}{default}"
        );
        genomes.push(Strategy::parse(&toml, "bench").unwrap());
    }
    genomes.push(genomes[0].clone());

    let time = |f: &dyn Fn(&Strategy)| -> Vec<f64> {
        genomes
            .iter()
            .map(|g| {
                let t = Instant::now();
                f(g);
                t.elapsed().as_secs_f64()
            })
            .collect()
    };
    let reference = time(&|g| match &calibration {
        None => {
            qarena_llm::apply(&m, g).unwrap();
        }
        Some(c) => {
            let own = qarena_llm::Calibration::new(c.tokens, c.hessians.clone());
            qarena_llm::apply_calibrated(&m, g, Some(&own)).unwrap();
        }
    });
    let cache = qarena_llm::variant_cache(1 << 29);
    let cached = time(&|g| {
        qarena_llm::apply_calibrated_cached(&m, g, calibration.as_ref(), &cache).unwrap();
    });
    println!("genome      from scratch (reference)   cached");
    for ((g, r), c) in genomes.iter().zip(&reference).zip(&cached) {
        println!("{:<10}  {r:>10.2} s                {c:>7.2} s", g.name());
    }
    let (r, c) = (reference.iter().sum::<f64>(), cached.iter().sum::<f64>());
    let n = genomes.len() as f64;
    println!(
        "mean build {:.2} s cached against {:.2} s from scratch: {:.2}x the reference's speed",
        c / n,
        r / n,
        r / c
    );
    let (hits, misses) = cache.lock().unwrap().hits_and_misses();
    println!("cache: {hits} tensors reused, {misses} quantized");
    if let Some(c) = &calibration {
        let (_, made) = c.plan_hits_and_misses();
        println!("GPTQ plans made (cached run): {made}");
    }
}
