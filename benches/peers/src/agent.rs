//! The mixed agent workload for engines with only a key-value API: the closest equivalent of
//! in-mem's run of KV puts, event appends, state compare-and-swap and trace spans, then reading
//! the run back.
//!
//! Per run, under the prefix `agent:<run>:`:
//! - KV put: one commit of a 100 B value.
//! - event append: read the log head, then one commit of the event record (type, 100 B payload,
//!   timestamp), its by-type index entry and the new head (in-mem also hash-chains events with
//!   SHA-256; the peers do not hash).
//! - state CAS: read the cell, check its version, commit the cell with version + 1.
//! - trace span: read the span counter, then one commit of the span record (kind, tool name,
//!   100 B arguments, tag, times), its tag index entry and the counter.
//! - read back: one prefix scan of the run.
//!
//! A read and its commit are one write transaction where the engine has them (redb, LMDB,
//! `SQLite`); fjall and sled read, then commit one atomic batch.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::engines::{AgentTimes, Result, Store};
use crate::workload::{AGENT_OPS, VALUE};

/// Empty index entries still carry one byte (some engines treat empty values specially).
const MARK: &[u8] = &[1];

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())
    })
}

fn counter(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.get(..8)?).ok())
        .map_or(0, u64::from_be_bytes)
}

fn join(prefix: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = prefix.as_bytes().to_vec();
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// One agent run on a key-value engine; see the module header.
pub fn kv_run<S: Store + ?Sized>(store: &S, run: u64) -> Result<AgentTimes> {
    let prefix = format!("agent:{run:08}:");
    let mut times = AgentTimes::default();

    let start = Instant::now();
    for i in 0..AGENT_OPS {
        store.put(0, &join(&prefix, &[b"kv:", &i.to_be_bytes()]), &VALUE)?;
    }
    times.kv = start.elapsed();

    let head = join(&prefix, &[b"evhead"]);
    let start = Instant::now();
    for _ in 0..AGENT_OPS {
        store.update(0, &head, &mut |current| {
            let seq = counter(current).to_be_bytes();
            let record = [
                b"observation".as_slice(),
                &VALUE,
                &now_nanos().to_be_bytes(),
            ]
            .concat();
            let next = (counter(current) + 1).to_be_bytes();
            vec![
                (join(&prefix, &[b"ev:", &seq]), record),
                (
                    join(&prefix, &[b"evtype:observation:", &seq]),
                    MARK.to_vec(),
                ),
                (head.clone(), next.to_vec()),
            ]
        })?;
    }
    times.events = start.elapsed();

    let cell = join(&prefix, &[b"state:counter"]);
    store.put(0, &cell, &[1u64.to_be_bytes(), 0u64.to_be_bytes()].concat())?;
    let mut mismatches = 0;
    let start = Instant::now();
    for i in 0..AGENT_OPS {
        let expected = i + 1;
        store.update(0, &cell, &mut |current| {
            if counter(current) != expected {
                mismatches += 1;
                return Vec::new();
            }
            let value = [(expected + 1).to_be_bytes(), (i + 1).to_be_bytes()].concat();
            vec![(cell.clone(), value)]
        })?;
    }
    times.cas = start.elapsed();
    if mismatches > 0 {
        return Err(format!("{mismatches} compare-and-swaps found a wrong version").into());
    }

    let span_seq = join(&prefix, &[b"spanseq"]);
    let start = Instant::now();
    for _ in 0..AGENT_OPS {
        store.update(0, &span_seq, &mut |current| {
            let id = counter(current).to_be_bytes();
            let t = now_nanos().to_be_bytes();
            let record = [b"tool_call:search".as_slice(), &VALUE, b"tag:bench", &t, &t].concat();
            let next = (counter(current) + 1).to_be_bytes();
            vec![
                (join(&prefix, &[b"span:", &id]), record),
                (join(&prefix, &[b"spantag:bench:", &id]), MARK.to_vec()),
                (span_seq.clone(), next.to_vec()),
            ]
        })?;
    }
    times.spans = start.elapsed();

    let start = Instant::now();
    let rows = store.scan(0, prefix.as_bytes())?;
    times.read_back = start.elapsed();
    let expected = 5 * AGENT_OPS as usize + 3;
    if rows.len() != expected {
        return Err(format!(
            "read back {} rows of the run; expected {expected}",
            rows.len()
        )
        .into());
    }
    Ok(times)
}
