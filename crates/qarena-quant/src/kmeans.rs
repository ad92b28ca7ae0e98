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

/// k-means++: first centre drawn by weight, each next one with probability
/// proportional to weight times squared distance to the nearest centre.
fn seed_plus_plus(xs: &[f64], ws: &[f64], wsum: &[f64], k: usize, seed: u64) -> Vec<f64> {
    let n = xs.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centroids = Vec::with_capacity(k);
    let r = rng.gen::<f64>() * wsum[n];
    let first = wsum[1..].partition_point(|&c| c <= r).min(n - 1);
    centroids.push(xs[first]);
    let mut d2: Vec<f64> = xs.iter().map(|&x| (x - xs[first]).powi(2)).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().zip(ws).map(|(d, w)| d * w).sum();
        if total <= 0.0 {
            break; // every point already sits on a centre
        }
        let r = rng.gen::<f64>() * total;
        let mut acc = 0.0;
        let mut pick = n - 1;
        for i in 0..n {
            acc += d2[i] * ws[i];
            if acc > r {
                pick = i;
                break;
            }
        }
        // Rounding in `acc` can land on a zero-distance point; take the
        // farthest point instead so centres stay distinct.
        if d2[pick] == 0.0 {
            pick = (0..n)
                .max_by(|&a, &b| d2[a].total_cmp(&d2[b]))
                .expect("n > k >= 1");
        }
        let c = xs[pick];
        centroids.push(c);
        for (d, &x) in d2.iter_mut().zip(xs) {
            let nd = (x - c) * (x - c);
            if nd < *d {
                *d = nd;
            }
        }
    }
    centroids
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
