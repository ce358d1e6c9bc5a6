//! Exact ways of dividing work over weighted shards.

/// The order in which shards take requests of one global sequence: a cycle of length Σw in which
/// shard i appears exactly wᵢ times, spread evenly (smooth weighted round robin). Request j of the
/// global schedule belongs to `cycle[j % cycle.len()]`, so the shards' union is exactly the
/// global schedule. Empty when every weight is 0.
pub fn stripe_cycle(weights: &[u32]) -> Vec<u32> {
    let total: u64 = weights.iter().map(|&w| w as u64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, &w) in weights.iter().enumerate() {
            current[i] += w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total as i64;
        cycle.push(best as u32);
    }
    cycle
}

/// Splits `total` into integer parts proportional to `weights` by the largest remainder method;
/// ties go to the lower index. The parts sum to `total` (when any weight is non-zero).
pub fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<u64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = total as u128 * w as u128;
        parts.push((exact / sum) as u64);
        remainders.push((exact % sum, i));
    }
    let assigned: u64 = parts.iter().sum();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((total - assigned) as usize) {
        parts[i] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_cycle_gives_each_shard_its_weight_evenly() {
        let c = stripe_cycle(&[1, 2, 0]);
        assert_eq!(c.len(), 3);
        assert_eq!(c.iter().filter(|&&s| s == 0).count(), 1);
        assert_eq!(c.iter().filter(|&&s| s == 1).count(), 2);
        assert!(!c.contains(&2));
        let c = stripe_cycle(&[1, 1]);
        assert_eq!(c, vec![0, 1]);
        assert!(stripe_cycle(&[0, 0]).is_empty());
        // Evenness: with weights 3:1 the lone shard is not bunched with itself.
        let c = stripe_cycle(&[3, 1]);
        assert_eq!(c.iter().filter(|&&s| s == 1).count(), 1);
    }

    #[test]
    fn largest_remainder_sums_and_is_proportional() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(largest_remainder(7, &[1, 2, 0]), vec![2, 5, 0]);
        assert_eq!(largest_remainder(5, &[0, 0]), vec![0, 0]);
        assert_eq!(largest_remainder(100, &[1, 3]), vec![25, 75]);
        for total in 0..50u64 {
            let parts = largest_remainder(total, &[3, 5, 7, 0, 1]);
            assert_eq!(parts.iter().sum::<u64>(), total);
            assert_eq!(parts[3], 0);
        }
    }
}
