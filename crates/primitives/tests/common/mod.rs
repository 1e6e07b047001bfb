//! Test helpers: forging records below every API, the way someone with write access to the
//! data directory could, to show that the checks on read (hash chains, record decoding) catch
//! what the write path never produces.

use std::path::Path;
use std::sync::Arc;

use in_mem_core_types::{AgentId, Key, Namespace, RunId, Timestamp, TypeTag, Value, Version};
use in_mem_durability::{CommitBody, DataDir, OpRef, StdFs, WaitFor, Wal, WalOptions, WriteRef};

/// Appends one commit that puts `records` (type tag, key below the run's namespace, value)
/// into the run's data of the default agent, straight into the log of the closed database at
/// `dir`. The next open replays it like any other commit.
pub fn forge(dir: &Path, run: RunId, records: &[(TypeTag, Vec<u8>, Value)]) {
    let namespace = Namespace::for_run(AgentId::default_agent(), run);
    let keys: Vec<Vec<u8>> = records
        .iter()
        .map(|(tag, key, _)| Key::new(namespace.clone(), *tag, key.clone()).encode())
        .collect();
    let values: Vec<Vec<u8>> = records
        .iter()
        .map(|(_, _, value)| value.encode().unwrap())
        .collect();
    let writes: Vec<WriteRef<'_>> = keys
        .iter()
        .zip(&values)
        .map(|(key, value)| WriteRef {
            key,
            op: OpRef::Put { value, ttl: None },
        })
        .collect();
    let data_dir = DataDir::open(Arc::new(StdFs), dir).unwrap();
    let mut last = Version::ZERO;
    let (wal, _) = Wal::open(
        &data_dir,
        WalOptions::default(),
        Version::ZERO,
        &mut |record| {
            last = record.version;
            Ok(())
        },
    )
    .unwrap();
    let body = CommitBody::encode(Timestamp::from_micros(1), run, &writes).unwrap();
    let ticket = wal.append(&body, || last.next()).unwrap();
    wal.wait(ticket, WaitFor::Synced).unwrap();
    wal.close().unwrap();
}
