#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! On the shared KataGo net, a genome's predicted cost is the cost the
//! variant builder counts, and genomes sampled under 4.25 bits/weight build.

use std::path::PathBuf;

use qarena_evolve::{Budget, GeneSpace, Genome, Layout};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn net() -> PathBuf {
    let net = qarena_testkit::katago().1;
    assert!(
        net.is_file(),
        "{} missing — set QARENA_KATAGO",
        net.display()
    );
    net
}

#[test]
fn predicted_bits_are_the_built_variants_bits() {
    let net = net();
    let model = qarena_models::Model::load(&net).unwrap();
    let layout = Layout::new(model.catalogue()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let space = GeneSpace::default();
    for i in 0..3 {
        let g = Genome::sample_within(&layout, &space, Budget::BitsPerWeight(4.25), 20, &mut rng)
            .unwrap();
        let predicted = g.bits_per_weight(&layout).unwrap();
        assert!(predicted <= 4.25);
        let s = g.to_strategy(&format!("g{i}")).unwrap();
        let v = qarena_variant::build_variant(
            &net,
            &s,
            &qarena_variant::BuildOptions {
                cache_dir: cache.path().to_path_buf(),
                late_blocks: 2,
                force: false,
            },
            &|_, _| {},
        )
        .unwrap();
        println!(
            "genome {i}: predicted {predicted:.4} bits/w, built {:.4}",
            v.manifest.total.effective_bits
        );
        assert!(
            (v.manifest.total.effective_bits - predicted).abs() < 1e-9,
            "predicted {predicted}, built {}",
            v.manifest.total.effective_bits
        );
    }
}
