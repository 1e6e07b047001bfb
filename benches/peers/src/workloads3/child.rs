//! The third batch's child process: one engine, answering the parent's requests
//! (`workloads3/mod.rs`) one line each until its standard input closes.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ask, Group, Sustained};
use crate::bench::{rate, timed_threads};
use crate::engines::{Engine, Result, Store};
use crate::memory::resident_bytes;
use crate::reads::{Answer, CHECK_EVERY, check, load};
use crate::workload::{Plan, Rng, key, shuffled, value_for};
use crate::workloads::{Opened, serve};

/// Keys checked after a sustained run or a data set's load.
const SAMPLED_KEYS: u64 = 64;

/// A child's state between requests.
struct Child {
    engine: Engine,
    plan: Plan,
    scratch: std::path::PathBuf,
    /// The store the timed commits go to (opened at the first).
    commits: Option<Opened>,
    read_set: Option<Opened>,
}

/// The child: answers requests until its standard input closes.
pub fn child(name: &str, plan: &str, scratch: &Path) -> Result<()> {
    let (_group, engine): (Group, Engine) = Group::parse(name)?;
    std::fs::create_dir_all(scratch)?;
    let mut me = Child {
        engine,
        plan: serde_json::from_str(plan)?,
        scratch: scratch.to_path_buf(),
        commits: None,
        read_set: None,
    };
    serve(|ask: Ask| me.run(ask))
}

/// Nanoseconds of `d`, saturated to `u32` (4.3 s).
fn nanos(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}

/// A fresh key for writer `t` of one request (distinct from the read set's and from every other
/// request's keys): `key` formats any `u64`.
fn fresh_key(request: u64, t: usize, n: u64) -> [u8; 24] {
    key((1 << 62) | (request << 40) | ((t as u64) << 32) | n)
}

impl Child {
    fn run(&mut self, ask: Ask) -> Result<Answer> {
        match ask {
            Ask::Commits {
                writers,
                commits,
                round,
            } => self.commits(writers, commits, round),
            Ask::Load => {
                let opened = Opened::new(self.engine, &self.scratch)?;
                let seconds = load(&*opened.store, &self.plan)?;
                self.read_set = Some(opened);
                // Let compactions and flushes that loading started finish (as `reads.rs` does).
                std::thread::sleep(Duration::from_secs(2));
                Ok(Answer {
                    loaded_seconds: Some(seconds),
                    ..Answer::default()
                })
            }
            Ask::Gets {
                writers,
                gets,
                round,
            } => self.gets(writers, gets, round),
            Ask::Sustained { seconds } => self.sustained(seconds),
            Ask::LoadDataSet {
                dir,
                keys,
                per_commit,
            } => self.load_data_set(&dir, keys, per_commit),
            Ask::OpenDataSet { dir, keys, gets } => self.open_data_set(&dir, keys, gets),
        }
    }

    /// `commits` one-put commits of fresh keys over `writers` threads, each commit timed.
    fn commits(&mut self, writers: usize, commits: u64, round: usize) -> Result<Answer> {
        if self.commits.is_none() {
            self.commits = Some(Opened::new(self.engine, &self.scratch)?);
        }
        let store = &*self.commits.as_ref().ok_or("no store")?.store;
        let per_writer = commits.div_ceil(writers as u64);
        let request = ((round as u64) << 4) | writers as u64;
        let data: Vec<Vec<([u8; 24], [u8; 100])>> = (0..writers)
            .map(|t| {
                (0..per_writer)
                    .map(|n| {
                        let k = fresh_key(request, t, n);
                        (k, value_for(&k))
                    })
                    .collect()
            })
            .collect();
        let samples = Mutex::new(Vec::with_capacity(data.len() * data[0].len()));
        let elapsed = timed_threads(writers, |t| {
            let mut mine = Vec::with_capacity(data[t].len());
            for (k, v) in &data[t] {
                let start = Instant::now();
                store.put(t, k, v)?;
                mine.push(nanos(start.elapsed()));
            }
            samples.lock().map_err(|_| "poisoned")?.extend(mine);
            Ok(())
        })?;
        for (k, v) in data.iter().filter_map(|d| d.last()) {
            if store.get(0, k)?.as_deref() != Some(v.as_slice()) {
                return Err("a committed put was not read back".into());
            }
        }
        Ok(Answer {
            rate: Some(rate(per_writer * writers as u64, elapsed)),
            samples: samples.into_inner().map_err(|_| "poisoned")?,
            ..Answer::default()
        })
    }

    /// `gets` individually timed gets of the read set on one thread, with `writers` threads
    /// committing fresh keys (one put a commit) until the gets are done.
    fn gets(&self, writers: usize, gets: u64, round: usize) -> Result<Answer> {
        let store = &*self
            .read_set
            .as_ref()
            .ok_or("the read set is not loaded")?
            .store;
        let mut rng = Rng::new(0x6e75 ^ ((round as u64) << 16) ^ writers as u64);
        let keys: Vec<[u8; 24]> = (0..gets)
            .map(|_| key(rng.below(self.plan.read_keys)))
            .collect();
        let done = AtomicBool::new(false);
        let committed = AtomicU64::new(0);
        let request = (1 << 20) | ((round as u64) << 4) | writers as u64;
        let (samples, checked, writing) = std::thread::scope(|s| {
            let write = |t: usize| -> Result<()> {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    let k = fresh_key(request, t, n);
                    store.put(t, &k, &value_for(&k))?;
                    n += 1;
                }
                committed.fetch_add(n, Ordering::Relaxed);
                Ok(())
            };
            let handles: Vec<_> = (1..=writers).map(|t| s.spawn(move || write(t))).collect();
            // Let the writers reach their loop before the first timed get.
            if writers > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            let started = Instant::now();
            let outcome = timed_gets(store, &keys);
            let writing = started.elapsed();
            done.store(true, Ordering::Relaxed);
            for h in handles {
                h.join().map_err(|_| "a writer panicked")??;
            }
            outcome.map(|(samples, checked)| (samples, checked, writing))
        })?;
        check(&checked)?;
        let writer_rate = rate(committed.load(Ordering::Relaxed), writing);
        Ok(Answer {
            rate: Some(rate(gets, writing)),
            samples,
            detail: Some(json!({ "writer_rate": writer_rate })),
            ..Answer::default()
        })
    }

    /// One writer putting fresh keys, in a scrambled order, into a new store for `seconds`.
    fn sustained(&self, seconds: u64) -> Result<Answer> {
        // A bijection of the put's number (odd multiplier): keys in no order, never repeated.
        let key_of = |n: u64| key(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1);
        let making = {
            let start = Instant::now();
            for n in 0..100_000 {
                let k = key_of(n);
                std::hint::black_box((k, value_for(&k)));
            }
            start.elapsed().as_secs_f64() * 1e9 / 100_000.0
        };
        let opened = Opened::new(self.engine, &self.scratch)?;
        let store = &*opened.store;
        let until = Duration::from_secs(seconds);
        let mut per_second: Vec<u64> = Vec::new();
        let mut latencies: Vec<u32> = Vec::with_capacity(4 << 20);
        let start = Instant::now();
        let mut n = 0u64;
        let ended = loop {
            let k = key_of(n);
            let v = value_for(&k);
            let before = Instant::now();
            store.put(0, &k, &v)?;
            let after = Instant::now();
            latencies.push(nanos(after - before));
            n += 1;
            let at = after - start;
            if at >= until {
                break at;
            }
            let second = usize::try_from(at.as_secs())?;
            if per_second.len() <= second {
                per_second.resize(second + 1, 0);
            }
            per_second[second] += 1;
        };
        for i in (0..SAMPLED_KEYS).map(|s| s * n / SAMPLED_KEYS) {
            let k = key_of(i);
            if store.get(0, &k)?.as_deref() != Some(value_for(&k).as_slice()) {
                return Err("a sustained put was not read back".into());
            }
        }
        store.settle()?;
        let disk_bytes = disk_bytes(opened.path())?;
        latencies.sort_unstable();
        let at = |p: f64| f64::from(crate::report::percentile(&latencies, p)) / 1e3;
        let summary = Sustained {
            engine: self.engine.name().to_string(),
            puts: n,
            seconds: ended.as_secs_f64(),
            per_second,
            latency_us: [
                at(0.5),
                at(0.99),
                at(0.999),
                at(0.9999),
                f64::from(latencies.last().copied().unwrap_or(0)) / 1e3,
            ],
            making_ns: making,
            disk_bytes,
        };
        Ok(Answer {
            detail: Some(serde_json::to_value(summary)?),
            ..Answer::default()
        })
    }

    /// Puts `keys` fresh keys in a random order into a new store in `dir`, then closes it.
    fn load_data_set(&self, dir: &Path, keys: u64, per_commit: u64) -> Result<Answer> {
        std::fs::create_dir_all(dir)?;
        let entries: Vec<([u8; 24], [u8; 100])> = shuffled(keys, 0xda7a)
            .into_iter()
            .map(|i| {
                let k = key(i);
                (k, value_for(&k))
            })
            .collect();
        let before = resident_bytes()?;
        let store = self.engine.open(dir)?;
        let start = Instant::now();
        for chunk in entries.chunks(usize::try_from(per_commit)?) {
            if let [(k, v)] = chunk {
                store.put(0, k, v)?;
            } else {
                let items: Vec<(&[u8], &[u8])> = chunk
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                store.put_batch(0, &items)?;
            }
        }
        store.settle()?;
        let load_seconds = start.elapsed().as_secs_f64();
        let after = resident_bytes()?;
        let sampled: Vec<_> = (0..SAMPLED_KEYS)
            .map(|s| &entries[usize::try_from(s * keys / SAMPLED_KEYS).unwrap_or(0)].0)
            .map(|k| Ok((k, store.get(0, k)?.ok_or("a loaded key was missing")?)))
            .collect::<Result<_>>()?;
        check(&sampled)?;
        drop(store);
        let disk = disk_bytes(dir)?;
        Ok(Answer {
            detail: Some(json!({
                "load_seconds": load_seconds,
                "resident_per_entry": per_entry(after.saturating_sub(before), keys),
                "disk_per_entry": per_entry(disk, keys),
            })),
            ..Answer::default()
        })
    }

    /// Opens the data set in `dir` (this process has not opened it before), gets one key, then
    /// makes `gets` random gets.
    fn open_data_set(&self, dir: &Path, keys: u64, gets: u64) -> Result<Answer> {
        let mut rng = Rng::new(0x0be7);
        let wanted: Vec<[u8; 24]> = (0..=gets).map(|_| key(rng.below(keys))).collect();
        let before = resident_bytes()?;
        let start = Instant::now();
        let store = self.engine.open(dir)?;
        let first = store.get(0, &wanted[0])?;
        let open_seconds = start.elapsed().as_secs_f64();
        let first = first.ok_or("the first get after the open found nothing")?;
        check(&[(&wanted[0], first)])?;
        let resident = resident_bytes()?.saturating_sub(before);
        let mut checked = Vec::new();
        let start = Instant::now();
        for (i, k) in wanted[1..].iter().enumerate() {
            let got = std::hint::black_box(store.get(0, k)?).ok_or("a loaded key was missing")?;
            if i.is_multiple_of(CHECK_EVERY) {
                checked.push((k, got));
            }
        }
        let elapsed = start.elapsed();
        check(&checked)?;
        Ok(Answer {
            detail: Some(json!({
                "open_seconds": open_seconds,
                "resident_per_entry": per_entry(resident, keys),
                "gets_per_second": rate(gets, elapsed),
            })),
            ..Answer::default()
        })
    }
}

/// Sampled `(key, value)` pairs to check after a timer.
type Checked<'k> = Vec<(&'k [u8; 24], Vec<u8>)>;

/// Gets every key of `keys` on this thread, each timed; keeps one value in [`CHECK_EVERY`].
fn timed_gets<'k>(store: &dyn Store, keys: &'k [[u8; 24]]) -> Result<(Vec<u32>, Checked<'k>)> {
    let mut samples = Vec::with_capacity(keys.len());
    let mut checked = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let start = Instant::now();
        let got = store.get(0, k)?;
        samples.push(nanos(start.elapsed()));
        let got = std::hint::black_box(got).ok_or("a loaded key was missing")?;
        if i.is_multiple_of(CHECK_EVERY) {
            checked.push((k, got));
        }
    }
    Ok((samples, checked))
}

/// `bytes / entries`.
fn per_entry(bytes: u64, entries: u64) -> f64 {
    // Byte counts here stay far below 2^52: the conversions are exact.
    #[allow(clippy::cast_precision_loss)]
    let out = bytes as f64 / entries.max(1) as f64;
    out
}

/// The disk space (allocated blocks) of every file under `dir`.
fn disk_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}
