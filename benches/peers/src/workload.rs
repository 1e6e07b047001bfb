//! Workload shapes (docs/PERFORMANCE.md): 24-byte keys, 100-byte values, uniformly random or ascending keys,
//! and how big each workload is in the quick and the full mode.

/// Key `i` as exactly 24 bytes: `key:` and 20 decimal digits, so byte order is numeric order.
pub fn key(i: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..4].copy_from_slice(b"key:");
    out[4..].copy_from_slice(format!("{i:020}").as_bytes());
    out
}

/// Scan key `i`: 24 bytes under the `scan:` prefix, which no other key has.
pub fn scan_key(i: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..5].copy_from_slice(SCAN_PREFIX);
    out[5..].copy_from_slice(format!("{i:019}").as_bytes());
    out
}

/// The prefix of the 1,000 keys the scan workload lists.
pub const SCAN_PREFIX: &[u8] = b"scan:";

/// The 100-byte value of the agent workload, the memory measurement and the recovery logs
/// (the byte workloads use [`value_for`]).
pub const VALUE: [u8; 100] = [0xab; 100];

/// Bytes of a value.
pub const VALUE_BYTES: usize = 100;

/// The value stored under `key` by the put, get and scan workloads: 100 pseudo-random bytes
/// seeded by the key (FNV-1a), so no two keys share a value, nothing compresses, and a sampled
/// get can be checked against the key it asked for.
pub fn value_for(key: &[u8]) -> [u8; VALUE_BYTES] {
    let mut out = [0u8; VALUE_BYTES];
    fill_value(key, &mut out);
    out
}

/// Fills `out` with the pseudo-random bytes seeded by `key` ([`value_for`]'s, at any length:
/// the value-size workloads' 4 KiB to 1 MiB values).
pub fn fill_value(key: &[u8], out: &mut [u8]) {
    let seed = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut rng = Rng::new(seed);
    for chunk in out.chunks_mut(8) {
        let bytes = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Keys and their values ([`value_for`]), built before a timer starts.
pub fn pairs(keys: &[[u8; 24]]) -> Vec<([u8; 24], [u8; VALUE_BYTES])> {
    keys.iter().map(|k| (*k, value_for(k))).collect()
}

/// Raw bytes of one entry: key plus value.
pub const ENTRY_BYTES: u64 = 24 + 100;

/// A deterministic random sequence (xorshift64*), for "random" key orders.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any seed works; it is made odd).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `0..n` in a random order (Fisher-Yates with a fixed seed): every engine loads the same keys in
/// the same order.
pub fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut out: Vec<u64> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..out.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        out.swap(i, j);
    }
    out
}

/// How much work each workload does per round. Every phase runs one more round first, a warm-up
/// whose figures are dropped.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Rounds of every workload; the report gives the median.
    pub rounds: usize,
    /// Durable commits per engine per round and thread count (split over the writers).
    pub durable_commits: u64,
    /// No-sync / Batched / Async puts per engine per round, for each key order.
    pub nosync_puts: u64,
    /// Commits of 1,000 puts per engine per round.
    pub batches: u64,
    /// Keys loaded for the read workloads (docs/PERFORMANCE.md: 1M).
    pub read_keys: u64,
    /// Random gets per engine per round (split over the reader threads).
    pub gets: u64,
    /// Individually timed gets per engine per round, for the latency distribution.
    pub latency_gets: u64,
    /// Prefix scans of 1,000 keys per engine per round.
    pub scans: u64,
    /// Agent runs per engine per round.
    pub agent_runs: u64,
    /// Commits in the log whose replay is timed.
    pub recovery_commits: u64,
    /// Entries in the memory measurement.
    pub memory_entries: u64,
    /// Entries put per engine per round in the value-size workloads, for 4 KiB, 64 KiB and
    /// 1 MiB values (fewer for bigger values, so that each case takes seconds, not minutes).
    pub value_entries: [u64; 3],
    /// Operations per engine per round of each mixed get/put workload (split over 8 threads).
    pub mixed_ops: u64,
    /// The second batch of the workloads users will run themselves (`workloads2.rs`); a
    /// `--plan` without it gets the full sizes.
    #[serde(default = "SecondBatch::full")]
    pub second: SecondBatch,
    /// The third batch (`workloads3/`); a `--plan` without it gets the full sizes.
    #[serde(default = "ThirdBatch::full")]
    pub third: ThirdBatch,
}

/// Sizes of the third batch of the workloads users will run themselves (`workloads3/`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ThirdBatch {
    /// Durable commits per round, each timed, with 1 writer and with 8 (split over them).
    pub strict_commits: u64,
    /// Commits without a sync per commit per round, each timed, with 1 writer and with 8.
    pub nosync_commits: u64,
    /// Individually timed gets per round, idle and beside Strict writers.
    pub gets_beside_writers: u64,
    /// Seconds of the sustained write run.
    pub sustained_seconds: u64,
    /// The keys of the one-put-per-commit data set, and of the big data set (commits of 1,000).
    pub data_set_keys: [u64; 2],
    /// Random gets after each cold open.
    pub open_gets: u64,
}

impl ThirdBatch {
    /// The full sizes.
    pub fn full() -> Self {
        ThirdBatch {
            strict_commits: 2_000,
            nosync_commits: 100_000,
            gets_beside_writers: 100_000,
            sustained_seconds: 20,
            data_set_keys: [1_000_000, 10_000_000],
            open_gets: 500_000,
        }
    }

    /// `--quick`.
    pub fn quick() -> Self {
        ThirdBatch {
            strict_commits: 400,
            nosync_commits: 20_000,
            gets_beside_writers: 20_000,
            sustained_seconds: 5,
            data_set_keys: [100_000, 1_000_000],
            open_gets: 100_000,
        }
    }
}

/// Sizes of the second batch of the workloads users will run themselves (`workloads2.rs`),
/// per engine per round.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SecondBatch {
    /// Scans of the 100,000 keys under one prefix of the read set.
    pub scans_100k: u64,
    /// Range scans of 1,000 keys from a random start (not a prefix).
    pub ranges: u64,
    /// Fresh-key puts over 4 threads.
    pub writes_4t: u64,
    /// Fresh keys put, then deleted, one commit each (and put with a TTL, for in-mem).
    pub deletes: u64,
    /// Puts over 1,000 keys (overwrites).
    pub overwrites: u64,
    /// Read-modify-writes of 16 keys over 4 threads.
    pub cas: u64,
    /// Runs begun and ended (in-mem only).
    pub runs: u64,
}

impl SecondBatch {
    /// The full sizes.
    pub fn full() -> Self {
        SecondBatch {
            scans_100k: 5,
            ranges: 500,
            writes_4t: 200_000,
            deletes: 100_000,
            overwrites: 200_000,
            cas: 100_000,
            runs: 100_000,
        }
    }

    /// `--quick`.
    pub fn quick() -> Self {
        SecondBatch {
            scans_100k: 2,
            ranges: 100,
            writes_4t: 40_000,
            deletes: 20_000,
            overwrites: 40_000,
            cas: 20_000,
            runs: 20_000,
        }
    }
}

/// Writes per agent run, of each kind (KV puts, event appends, state CAS, trace spans).
pub const AGENT_OPS: u64 = 100;

impl Plan {
    /// `--quick`: about 5 minutes on a busy 2-core VM (3 rounds after the warm-up), and ~3 more
    /// for the first batch of the `workloads` group (the second's quick size is not timed yet).
    pub fn quick() -> Self {
        Plan {
            rounds: 3,
            durable_commits: 1_000,
            nosync_puts: 40_000,
            batches: 10,
            read_keys: 1_000_000,
            gets: 100_000,
            latency_gets: 20_000,
            scans: 100,
            agent_runs: 10,
            recovery_commits: 200_000,
            memory_entries: 1_000_000,
            value_entries: [5_000, 500, 50],
            mixed_ops: 80_000,
            second: SecondBatch::quick(),
            third: ThirdBatch::quick(),
        }
    }

    /// The full run: ~12 minutes without the `workloads` group, whose first batch adds ~8-11
    /// (663 s on 2026-12-07 with other work using half of the 2-core VM), its second ~8
    /// (476 s on 2026-12-07, other work using 0.75 of the 2 cores) and its third ~25 (1,522 s
    /// on 2026-12-08, alone; the 10M-key data sets take ~16 of them).
    pub fn full() -> Self {
        Plan {
            rounds: 5,
            durable_commits: 4_000,
            nosync_puts: 200_000,
            batches: 40,
            read_keys: 1_000_000,
            gets: 500_000,
            latency_gets: 100_000,
            scans: 500,
            agent_runs: 40,
            recovery_commits: 1_000_000,
            memory_entries: 1_000_000,
            value_entries: [25_000, 2_500, 250],
            mixed_ops: 240_000,
            second: SecondBatch::full(),
            third: ThirdBatch::full(),
        }
    }
}
