//! Helpers shared by the integration tests: commit bodies, log inspection, and `TestFs`, a
//! `Vfs` over the real file system that counts record writes and syncs, fails the n-th one on
//! request, and keeps for every segment the image of its bytes as of its last fdatasync.
#![allow(dead_code)] // each test binary uses some of the helpers
#![allow(clippy::unwrap_used)] // helpers of tests, where unwrap is the assertion

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_durability::{
    CommitBody, CommitRecord, DataDir, LockGuard, LogOp, Metadata, OpRef, OpenMode, StdFs, Vfs,
    VfsFile, WaitFor, Wal, WalOptions, WalRecovery, WriteRef,
};

pub const SEGMENT: u64 = 4096;
pub const HEADER: usize = 64;

/// A temporary directory for tests that repeat recovery hundreds of times: on tmpfs where there
/// is one, since their subject is what recovery reads, not how long fdatasync takes.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

pub fn options(segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::default()
    }
}

pub fn writer() -> RunId {
    RunId::from_bytes([7; 16])
}

/// The value written by commit `v`: its length varies so that records straddle everything.
pub fn value_of(v: u64) -> Vec<u8> {
    let len = 20 + (v * 37 % 150) as usize;
    (0..len).map(|i| (v as usize * 31 + i) as u8).collect()
}

pub fn key_of(v: u64) -> Vec<u8> {
    format!("key-{v:06}").into_bytes()
}

pub fn ttl_of(v: u64) -> Option<std::time::Duration> {
    v.is_multiple_of(3)
        .then(|| std::time::Duration::from_micros(v))
}

pub fn body(v: u64) -> CommitBody {
    let key = key_of(v);
    let value = value_of(v);
    let writes = [
        WriteRef {
            key: &key,
            op: OpRef::Put {
                value: &value,
                ttl: ttl_of(v),
            },
        },
        WriteRef {
            key: b"deleted",
            op: OpRef::Delete,
        },
    ];
    CommitBody::encode(Timestamp::from_micros(1_000_000 + v), writer(), &writes).unwrap()
}

/// Checks that `record` is the one `body(v)` encoded.
pub fn check_record(record: &CommitRecord, v: u64) {
    assert_eq!(record.version, Version::new(v));
    assert_eq!(record.timestamp, Timestamp::from_micros(1_000_000 + v));
    assert_eq!(record.writer, writer());
    assert_eq!(record.writes.len(), 2);
    assert_eq!(record.writes[0].key, key_of(v));
    match &record.writes[0].op {
        LogOp::Put { value, ttl } => {
            assert_eq!(*value, value_of(v));
            assert_eq!(*ttl, ttl_of(v));
        }
        LogOp::Delete | LogOp::DeletePrefix => panic!("expected a put"),
    }
    assert_eq!(record.writes[1].op, LogOp::Delete);
}

/// Appends commits `from..from + n`, each waiting as `level` asks.
pub fn append_range(wal: &Wal, from: u64, n: u64, level: WaitFor) {
    for v in from..from + n {
        let ticket = wal.append(&body(v), || Version::new(v)).unwrap();
        assert_eq!(ticket.version, Version::new(v));
        wal.wait(ticket, level).unwrap();
    }
}

/// Opens the log, collecting replayed records.
pub fn open_wal(
    dir: &DataDir,
    segment_bytes: u64,
    after: Version,
) -> in_mem_durability::Result<(Wal, WalRecovery, Vec<CommitRecord>)> {
    let mut records = Vec::new();
    let (wal, recovery) = Wal::open(dir, options(segment_bytes), after, &mut |r| {
        records.push(r);
        Ok(())
    })?;
    Ok((wal, recovery, records))
}

/// Opens the log with `mode`, collecting replayed records.
pub fn open_wal_mode(
    dir: &DataDir,
    segment_bytes: u64,
    mode: in_mem_durability::RecoveryMode,
) -> in_mem_durability::Result<(Wal, WalRecovery, Vec<CommitRecord>)> {
    let mut records = Vec::new();
    let options = WalOptions {
        recovery_mode: mode,
        ..options(segment_bytes)
    };
    let (wal, recovery) = Wal::open(dir, options, Version::ZERO, &mut |r| {
        records.push(r);
        Ok(())
    })?;
    Ok((wal, recovery, records))
}

/// The database id and current log generation of the database at `path`, read from its
/// identity file as FORMAT.md lays it out.
pub fn identity_of(path: &Path) -> ([u8; 16], u64) {
    let bytes = std::fs::read(path.join("IDENTITY")).unwrap();
    assert_eq!(&bytes[..8], b"INMEMIDN");
    let listed = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    let oldest = u64::from_le_bytes(bytes[32..40].try_into().unwrap());
    (
        bytes[16..32].try_into().unwrap(),
        oldest + u64::from(listed) - 1,
    )
}

/// The bytes of a valid segment header of the database at `path` (its id and current
/// generation), laid out as FORMAT.md says.
pub fn header(path: &Path, sequence: u64, first_version: u64) -> Vec<u8> {
    let (id, generation) = identity_of(path);
    header_with(&id, generation, sequence, first_version)
}

/// The bytes of a valid segment header naming database `id` and log `generation`.
pub fn header_with(id: &[u8; 16], generation: u64, sequence: u64, first_version: u64) -> Vec<u8> {
    let mut h = b"INMEMWAL".to_vec();
    h.extend_from_slice(&2u32.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(id);
    h.extend_from_slice(&generation.to_le_bytes());
    h.extend_from_slice(&sequence.to_le_bytes());
    h.extend_from_slice(&first_version.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(h.len(), HEADER);
    h
}

/// Rewrites bytes `at..` of the header of `file` (a segment or a checkpoint: both keep their
/// checksum at byte 60, over the bytes before it) with `value`, fixing the checksum.
pub fn rewrite_header(file: &Path, at: usize, value: &[u8]) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at..at + value.len()].copy_from_slice(value);
    let crc = crc32c::crc32c(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(file, bytes).unwrap();
}

pub fn std_dir(path: &Path) -> DataDir {
    DataDir::open(Arc::new(StdFs), path).unwrap()
}

/// Opens `path`, recovers, and checks the replayed records are exactly versions `1..=n`.
pub fn reopen_expect(path: &Path, segment_bytes: u64, n: u64) -> (DataDir, Wal, WalRecovery) {
    let dir = std_dir(path);
    let (wal, recovery, records) = open_wal(&dir, segment_bytes, Version::ZERO).unwrap();
    assert_eq!(records.len() as u64, n, "records replayed");
    for (i, r) in records.iter().enumerate() {
        check_record(r, i as u64 + 1);
    }
    assert_eq!(recovery.records_replayed, n);
    assert_eq!(recovery.last_version, Version::new(n));
    (dir, wal, recovery)
}

/// Writes `n` commits into a fresh log at `path`, each synced before the next is appended
/// (so every record claims the one before it durable, and damage followed by a valid record
/// is corruption, not an unsynced tail), and closes it.
pub fn make_log(path: &Path, segment_bytes: u64, n: u64) {
    make_log_waiting(path, segment_bytes, n, WaitFor::Synced);
}

/// Writes `n` commits into a fresh log at `path`, each waiting as `level` asks, and closes
/// it. With `Buffered` or `Written` nothing is synced before the close, so every record
/// claims only version 0 durable: the whole log is, to recovery, an unsynced tail.
pub fn make_log_waiting(path: &Path, segment_bytes: u64, n: u64, level: WaitFor) {
    let dir = std_dir(path);
    let (wal, _, records) = open_wal(&dir, segment_bytes, Version::ZERO).unwrap();
    assert!(records.is_empty());
    append_range(&wal, 1, n, level);
    wal.close().unwrap();
}

/// The segment files of the log at `path`, in order.
pub fn segments(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(path.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

/// The segments that hold a header (not the all-zero spare).
pub fn live_segments(path: &Path) -> Vec<PathBuf> {
    segments(path)
        .into_iter()
        .filter(|p| std::fs::read(p).unwrap().starts_with(b"INMEMWAL"))
        .collect()
}

/// `(offset, total frame length)` of every frame of a segment, found by the parser recovery
/// uses.
pub fn frames(segment: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(segment).unwrap();
    in_mem_durability::inspect::segment_frames(&bytes)
        .into_iter()
        .map(|f| (f.offset as usize, f.len as usize))
        .collect()
}

/// The version of the record whose frame starts at `offset` of `segment`.
pub fn version_at(segment: &Path, offset: usize) -> u64 {
    let bytes = std::fs::read(segment).unwrap();
    in_mem_durability::inspect::segment_frames(&bytes)
        .into_iter()
        .find(|f| f.offset == offset as u64)
        .map_or_else(
            || panic!("no record at {}:{offset}", segment.display()),
            |f| f.version.get(),
        )
}

/// Rewrites the payload of the frame at `offset` with `edit`, fixing its checksum.
pub fn rewrite_frame(segment: &Path, offset: usize, edit: impl FnOnce(&mut [u8])) {
    let (_, frame_len) = *frames(segment)
        .iter()
        .find(|(at, _)| *at == offset)
        .expect("a frame at the offset");
    let len = frame_len - 8;
    let mut bytes = std::fs::read(segment).unwrap();
    edit(&mut bytes[offset + 8..offset + 8 + len]);
    let mut crc = crc32c::crc32c(&bytes[offset..offset + 4]);
    crc = crc32c::crc32c_append(crc, &bytes[offset + 8..offset + 8 + len]);
    bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(segment, bytes).unwrap();
}

/// Copies the identity file and every file of the log directory at `from` into `to`
/// (created): a backup of the log.
pub fn copy_log(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("wal")).unwrap();
    std::fs::copy(from.join("IDENTITY"), to.join("IDENTITY")).unwrap();
    for entry in std::fs::read_dir(from.join("wal")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("wal").join(entry.file_name())).unwrap();
    }
}

// ---- TestFs -----------------------------------------------------------------------------------

/// Which operations `TestFs` fails, counted from when they are set.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// Fail the write to a segment with this 1-based number.
    pub fail_write: Option<u64>,
    /// Fail the fdatasync of a segment with this 1-based number.
    pub fail_sync: Option<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    segment_writes: u64,
    segment_syncs: u64,
    faults: Faults,
    writes_since_fault: u64,
    syncs_since_fault: u64,
    /// Syncs of a segment made while an earlier segment had written, unsynced bytes.
    order_violations: u64,
}

/// The bytes of one file: everything written, and what the last fdatasync covered.
#[derive(Debug, Default)]
struct Mirror {
    name: PathBuf,
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Shared {
    counters: Mutex<Counters>,
    mirrors: Mutex<HashMap<PathBuf, Arc<Mutex<Mirror>>>>,
}

/// A `Vfs` over `StdFs` that counts, fails, and mirrors segment I/O (see the module docs).
/// Segment files are recognised by their current name, which follows renames.
#[derive(Debug, Clone, Default)]
pub struct TestFs {
    shared: Arc<Shared>,
}

impl TestFs {
    pub fn new() -> TestFs {
        TestFs::default()
    }

    pub fn segment_writes(&self) -> u64 {
        self.shared.counters.lock().unwrap().segment_writes
    }

    pub fn segment_syncs(&self) -> u64 {
        self.shared.counters.lock().unwrap().segment_syncs
    }

    /// How often a segment was synced while an earlier one still had unsynced bytes: the log
    /// must sync segments in order, so that what is durable is always a prefix.
    pub fn sync_order_violations(&self) -> u64 {
        self.shared.counters.lock().unwrap().order_violations
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut c = self.shared.counters.lock().unwrap();
        c.faults = faults;
        c.writes_since_fault = 0;
        c.syncs_since_fault = 0;
    }

    /// Writes, into `to/wal/`, every segment as it was at its last fdatasync, and the identity
    /// file into `to`: what a power loss would leave if the disk kept exactly the synced bytes.
    pub fn write_durable_image(&self, to: &Path) {
        std::fs::create_dir_all(to.join("wal")).unwrap();
        for mirror in self.shared.mirrors.lock().unwrap().values() {
            let m = mirror.lock().unwrap();
            let name = m.name.file_name().unwrap();
            if is_segment(&m.name) {
                std::fs::write(to.join("wal").join(name), &m.durable).unwrap();
            } else if name == "IDENTITY" {
                std::fs::write(to.join(name), &m.durable).unwrap();
            }
        }
    }
}

fn is_segment(name: &Path) -> bool {
    name.extension().is_some_and(|e| e == "seg")
}

impl Vfs for TestFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        StdFs.read_dir(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let inner = StdFs.open(path, mode)?;
        let mut mirrors = self.shared.mirrors.lock().unwrap();
        let mirror = mirrors
            .entry(path.to_owned())
            .or_insert_with(|| {
                let data = std::fs::read(path).unwrap_or_default();
                Arc::new(Mutex::new(Mirror {
                    name: path.to_owned(),
                    durable: data.clone(),
                    data,
                }))
            })
            .clone();
        Ok(Box::new(TestFile {
            inner,
            mirror,
            shared: Arc::clone(&self.shared),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.shared.mirrors.lock().unwrap().remove(path);
        StdFs.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)?;
        let mut mirrors = self.shared.mirrors.lock().unwrap();
        if let Some(m) = mirrors.remove(from) {
            to.clone_into(&mut m.lock().unwrap().name);
            mirrors.insert(to.to_owned(), m);
        }
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        StdFs.try_lock(path)
    }
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        StdFs.metadata(path)
    }
}

#[derive(Debug)]
struct TestFile {
    inner: Box<dyn VfsFile>,
    mirror: Arc<Mutex<Mirror>>,
    shared: Arc<Shared>,
}

impl VfsFile for TestFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let segment = is_segment(&self.mirror.lock().unwrap().name);
        if segment {
            let mut c = self.shared.counters.lock().unwrap();
            c.segment_writes += 1;
            c.writes_since_fault += 1;
            if c.faults.fail_write == Some(c.writes_since_fault) {
                return Err(io::Error::other("injected write failure"));
            }
        }
        let n = self.inner.write_at(buf, offset)?;
        let mut m = self.mirror.lock().unwrap();
        let end = offset as usize + n;
        if m.data.len() < end {
            m.data.resize(end, 0);
        }
        m.data[offset as usize..end].copy_from_slice(&buf[..n]);
        Ok(n)
    }
    fn sync_data(&self) -> io::Result<()> {
        // A sync covers what was written before it began: snapshot first.
        let (snapshot, segment) = {
            let m = self.mirror.lock().unwrap();
            (m.data.clone(), is_segment(&m.name))
        };
        if segment {
            let name = self.mirror.lock().unwrap().name.clone();
            let behind = self
                .shared
                .mirrors
                .lock()
                .unwrap()
                .values()
                .filter(|m| !Arc::ptr_eq(m, &self.mirror))
                .any(|m| {
                    let m = m.lock().unwrap();
                    is_segment(&m.name) && m.name < name && m.data != m.durable
                });
            let mut c = self.shared.counters.lock().unwrap();
            c.order_violations += u64::from(behind);
            c.syncs_since_fault += 1;
            if c.faults.fail_sync == Some(c.syncs_since_fault) {
                return Err(io::Error::other("injected fdatasync failure"));
            }
        }
        self.inner.sync_data()?;
        self.mirror.lock().unwrap().durable = snapshot;
        if segment {
            // Counted once complete, so that a test seeing the count sees the durable image.
            self.shared.counters.lock().unwrap().segment_syncs += 1;
        }
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.mirror.lock().unwrap().data.resize(len as usize, 0);
        Ok(())
    }
}
