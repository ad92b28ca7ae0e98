//! One-dimensional k-means for palette (LUT) quantization.
//!
//! Values are sorted once; in 1-D every cluster of an optimal assignment is
//! a contiguous run of the sorted values, bounded by midpoints between
//! neighbouring centroids. So a Lloyd iteration is `k` binary searches plus
//! `k` prefix-sum differences (O(k log n)) instead of O(n k), and converges
//! when the run boundaries stop moving. Seeding is k-means++ from a seeded
//! ChaCha generator, so results depend only on the data and the seed, never
//! on thread scheduling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Lloyd iterations are cheap here, but a cap keeps worst cases bounded.
const MAX_ITERS: usize = 30;

/// Fit at most `k` centroids to `sorted` (ascending, finite). Returns the
/// centroids ascending. When the data has at most `k` distinct values the
/// palette is exactly those values (so palette quantization is idempotent).
#[expect(
    clippy::expect_used,
    reason = "the weights vector grows with the values vector, so it has a last element here"
)]
pub(crate) fn kmeans_1d(sorted: &[f32], k: usize, seed: u64) -> Vec<f64> {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
    // Collapse duplicates into weights: integer tensors (NNUE) have few
    // distinct values, which makes everything below much cheaper.
    let mut xs: Vec<f64> = Vec::with_capacity(sorted.len());
    let mut ws: Vec<f64> = Vec::with_capacity(sorted.len());
    for &v in sorted {
        let v = f64::from(v);
        match xs.last() {
            Some(&last) if last == v => *ws.last_mut().expect("parallel to xs") += 1.0,
            _ => {
                xs.push(v);
                ws.push(1.0);
            }
        }
    }
    if xs.len() <= k {
        return xs;
    }
    let n = xs.len();
    let mut wsum = vec![0.0f64; n + 1];
    let mut xsum = vec![0.0f64; n + 1];
    for i in 0..n {
        wsum[i + 1] = wsum[i] + ws[i];
        xsum[i + 1] = xsum[i] + ws[i] * xs[i];
    }

    let mut centroids = seed_plus_plus(&xs, &ws, &wsum, k, seed);
    centroids.sort_by(f64::total_cmp);

    let mut bounds = vec![0usize; centroids.len() + 1];
    let mut prev = vec![usize::MAX; centroids.len() + 1];
    for _ in 0..MAX_ITERS {
        bounds[0] = 0;
        bounds[centroids.len()] = n;
        for j in 1..centroids.len() {
            let mid = 0.5 * (centroids[j - 1] + centroids[j]);
            bounds[j] = xs.partition_point(|&x| x < mid);
        }
        if bounds == prev {
            break;
        }
        for j in 0..centroids.len() {
            let (a, b) = (bounds[j], bounds[j + 1]);
            let w = wsum[b] - wsum[a];
            // An empty run keeps its centroid: it still sits between its
            // neighbours, so the order (and the midpoint search) stays valid.
            if w > 0.0 {
                centroids[j] = (xsum[b] - xsum[a]) / w;
            }
        }
        std::mem::swap(&mut bounds, &mut prev);
    }
    centroids
}

/// Block length for sampling: block sums let k-means++ find the block of
/// a sample in n/BLOCK steps and then scan one block, instead of a serial
/// prefix scan over all points for every centre.
const BLOCK: usize = 64;

/// k-means++: first centre drawn by weight, each next one with probability
/// proportional to weight times squared distance to the nearest centre.
fn seed_plus_plus(xs: &[f64], ws: &[f64], wsum: &[f64], k: usize, seed: u64) -> Vec<f64> {
    let n = xs.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centroids = Vec::with_capacity(k);
    let r = rng.gen::<f64>() * wsum[n];
    let first = wsum[1..].partition_point(|&c| c <= r).min(n - 1);
    centroids.push(xs[first]);
    let mut d2 = vec![f64::INFINITY; n];
    let mut block = vec![0.0f64; n.div_ceil(BLOCK)];
    let mut total = update(&mut d2, xs, ws, xs[first], &mut block);
    while centroids.len() < k && total > 0.0 {
        let pick = sample(&d2, ws, &block, rng.gen::<f64>() * total);
        let c = xs[pick];
        centroids.push(c);
        total = update(&mut d2, xs, ws, c, &mut block);
    }
    centroids
}

/// Lower every distance to the new centre `c`; refresh the block sums of
/// weight × distance and return their total.
fn update(d2: &mut [f64], xs: &[f64], ws: &[f64], c: f64, block: &mut [f64]) -> f64 {
    let mut total = 0.0;
    for (((d, x), w), b) in d2
        .chunks_mut(BLOCK)
        .zip(xs.chunks(BLOCK))
        .zip(ws.chunks(BLOCK))
        .zip(block.iter_mut())
    {
        // Four independent accumulators: a single running f64 sum is a
        // serial dependency chain that cannot be vectorised.
        let mut acc = [0.0f64; 4];
        let full = d.len() / 4 * 4;
        for i in (0..full).step_by(4) {
            for l in 0..4 {
                let nd = (x[i + l] - c) * (x[i + l] - c);
                let v = d[i + l].min(nd);
                d[i + l] = v;
                acc[l] += v * w[i + l];
            }
        }
        for i in full..d.len() {
            let nd = (x[i] - c) * (x[i] - c);
            d[i] = d[i].min(nd);
            acc[0] += d[i] * w[i];
        }
        *b = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        total += *b;
    }
    total
}

/// Index drawn with probability proportional to `d2 * ws`, given `r`
/// uniform in [0, total). Never returns a point at distance zero (that
/// would duplicate a centre) while any point has a positive distance.
fn sample(d2: &[f64], ws: &[f64], block: &[f64], r: f64) -> usize {
    let mut acc = 0.0;
    // Rounding can leave `r` just above the last partial sum: fall back to
    // the last block with mass.
    let mut bi = block.iter().rposition(|&b| b > 0.0).unwrap_or(0);
    for (i, &b) in block.iter().enumerate() {
        if acc + b > r && b > 0.0 {
            bi = i;
            break;
        }
        acc += b;
    }
    let start = bi * BLOCK;
    let end = (start + BLOCK).min(d2.len());
    let mut last = None;
    for i in start..end {
        let m = d2[i] * ws[i];
        if m > 0.0 {
            last = Some(i);
            acc += m;
            if acc > r {
                return i;
            }
        }
    }
    match last {
        Some(i) => i,
        // The chosen block had no mass after all (only when every point
        // sits on a centre, which the caller rules out): take the farthest.
        None => (0..d2.len())
            .max_by(|&a, &b| d2[a].total_cmp(&d2[b]))
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_are_the_palette() {
        let v = [1.0, 1.0, 2.0, 5.0, 5.0, 5.0];
        assert_eq!(kmeans_1d(&v, 4, 1), vec![1.0, 2.0, 5.0]);
    }

    #[test]
    fn separates_obvious_clusters() {
        let mut v: Vec<f32> = Vec::new();
        for c in [-10.0f32, 0.0, 10.0] {
            for i in 0..50 {
                v.push(c + (i as f32 - 25.0) * 0.01);
            }
        }
        v.sort_by(f32::total_cmp);
        let c = kmeans_1d(&v, 3, 7);
        assert_eq!(c.len(), 3);
        for (got, want) in c.iter().zip([-10.0, 0.0, 10.0]) {
            assert!((got - want).abs() < 0.02, "{got} vs {want}");
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let v: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 7.0)
            .collect();
        let mut s = v.clone();
        s.sort_by(f32::total_cmp);
        assert_eq!(kmeans_1d(&s, 16, 3), kmeans_1d(&s, 16, 3));
    }
}
