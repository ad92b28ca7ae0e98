//! Shared by the simulation tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Uniform numbers in `[0, 1)` with 32-bit resolution, two per call of
/// the generator: random numbers dominate the run time of these tests in
/// debug builds, and 2⁻³² is far below any probability that matters here.
pub struct Uniforms {
    rng: ChaCha8Rng,
    spare: Option<u32>,
}

impl Uniforms {
    pub fn new(seed: u64) -> Uniforms {
        Uniforms {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    pub fn next(&mut self) -> f64 {
        let bits = match self.spare.take() {
            Some(bits) => bits,
            None => {
                let x: u64 = self.rng.gen();
                self.spare = Some((x >> 32) as u32);
                x as u32
            }
        };
        f64::from(bits) / 4_294_967_296.0
    }

    /// An index in `0..n`.
    #[allow(dead_code)] // used by some of the simulation tests only
    pub fn index(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n - 1)
    }
}
