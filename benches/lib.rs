//! Workload shapes shared by the benchmarks (docs/PERFORMANCE.md): 24-byte keys, 100-byte values, uniformly
//! random or ascending key order.

/// Key `i` as exactly 24 bytes: `key:` and 20 decimal digits, so byte order is numeric order.
pub fn key(i: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..4].copy_from_slice(b"key:");
    out[4..].copy_from_slice(format!("{i:020}").as_bytes());
    out
}

/// The 100-byte value used everywhere.
pub const VALUE: [u8; 100] = [0xab; 100];

/// A deterministic permutation-free random sequence (xorshift64*), for "random" key orders.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}
