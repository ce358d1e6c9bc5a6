//! Python's `random` module where inference-perf's choices must be reproduced: CPython's MT19937
//! seeded by `init_by_array` with the seed's 32-bit words, `randrange` (`_randbelow`, by
//! rejection over `getrandbits`) and `shuffle`. Trace replays put their sessions in
//! inference-perf's order with it, and the Weka replay draws each block's corpus offset.

const N: usize = 624;
const M: usize = 397;

/// CPython's Mersenne Twister.
pub(crate) struct Mt {
    state: [u32; N],
    index: usize,
}

impl Mt {
    fn init_genrand(s: u32) -> Mt {
        let mut state = [0u32; N];
        state[0] = s;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt { state, index: N }
    }

    /// `random.seed(n)` for an integer `n` (its absolute value's 32-bit words).
    pub(crate) fn seeded(n: u64) -> Mt {
        let key: Vec<u32> = match n {
            0 => vec![0],
            n if n >> 32 == 0 => vec![n as u32],
            n => vec![n as u32, (n >> 32) as u32],
        };
        let mut mt = Mt::init_genrand(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = s[i - 1];
            s[i] = (s[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = s[i - 1];
            s[i] =
                (s[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        mt
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `_randbelow(n)` (`randrange(n)`) for `0 < n < 2^32`.
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.next_u32() >> (32 - k);
            if r < n {
                return r;
            }
        }
    }
}

/// `list(range(n))` after `random.seed(seed); random.shuffle(...)`.
pub(crate) fn python_shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut mt = Mt::seeded(seed);
    for i in (1..n).rev() {
        let j = mt.below(u32::try_from(i + 1).unwrap_or(u32::MAX)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_cpythons_shuffle() {
        // python3 -c "import random; o=list(range(10)); random.seed(42); random.shuffle(o); print(o)"
        assert_eq!(python_shuffled(10, 42), PY_10_42);
        assert_eq!(python_shuffled(7, 0), PY_7_0);
        assert_eq!(python_shuffled(5, 1 << 40), PY_5_2_40);
        assert_eq!(python_shuffled(1, 3), vec![0]);
    }

    const PY_10_42: [usize; 10] = [7, 3, 2, 8, 5, 6, 9, 4, 0, 1];
    const PY_7_0: [usize; 7] = [4, 2, 1, 0, 5, 3, 6];
    const PY_5_2_40: [usize; 5] = [1, 4, 3, 2, 0];
}
