//! Quantized tensors kept between variants of one model: an evolution's
//! child differs from its parent in a group or two, so a screen that keeps
//! what it quantized redoes only those tensors.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// Values by key up to a budget of floats, the oldest dropped first. One
/// cache serves one model (and one calibration, for error-compensating
/// rounding): the key names the tensor and the spec, not the data.
#[derive(Debug)]
pub struct TensorCache<K, V> {
    map: HashMap<K, (Arc<V>, usize)>,
    order: VecDeque<K>,
    floats: usize,
    budget: usize,
    hits: u64,
    misses: u64,
}

impl<K: Hash + Eq + Clone, V> TensorCache<K, V> {
    /// A cache that holds at most `budget` floats; 0 keeps nothing.
    pub fn new(budget: usize) -> TensorCache<K, V> {
        TensorCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            floats: 0,
            budget,
            hits: 0,
            misses: 0,
        }
    }

    /// The value under `key`, counted as a hit or a miss.
    pub fn get(&mut self, key: &K) -> Option<Arc<V>> {
        let found = self.map.get(key).map(|(v, _)| Arc::clone(v));
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Whether `key` has a value, without counting a lookup.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Keeps `value`, `floats` large, under `key`, then drops the oldest
    /// entries until the cache is within its budget (a value larger than
    /// the whole budget is not kept).
    pub fn insert(&mut self, key: K, value: Arc<V>, floats: usize) {
        if let Some((_, old)) = self.map.insert(key.clone(), (value, floats)) {
            self.floats -= old;
        } else {
            self.order.push_back(key);
        }
        self.floats += floats;
        while self.floats > self.budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, n)) = self.map.remove(&old) {
                self.floats -= n;
            }
        }
    }

    /// Lookups that found their value and lookups that did not.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Floats held.
    pub fn floats(&self) -> usize {
        self.floats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_first_and_the_budget_holds() {
        let mut c: TensorCache<u32, Vec<f32>> = TensorCache::new(10);
        c.insert(1, Arc::new(vec![0.0; 4]), 4);
        c.insert(2, Arc::new(vec![0.0; 4]), 4);
        assert!(c.get(&1).is_some());
        c.insert(3, Arc::new(vec![0.0; 4]), 4);
        assert!(c.get(&1).is_none(), "the oldest went");
        assert!(c.get(&2).is_some() && c.get(&3).is_some());
        assert_eq!(c.floats(), 8);
        // Replacing a key counts its size once.
        c.insert(3, Arc::new(vec![0.0; 2]), 2);
        assert_eq!(c.floats(), 6);
        // Asking whether a key is held is not a lookup: the counts below
        // are the gets'.
        assert!(c.contains(&3) && !c.contains(&1));
        // Larger than the budget: not kept, and nothing else is either.
        c.insert(4, Arc::new(vec![0.0; 11]), 11);
        assert!(c.get(&4).is_none());
        assert_eq!(c.floats(), 0);
        assert_eq!(c.hits_and_misses(), (3, 2));
        let mut none: TensorCache<u32, Vec<f32>> = TensorCache::new(0);
        none.insert(1, Arc::new(vec![1.0]), 1);
        assert!(none.get(&1).is_none());
    }
}
