//! Bytes of a checkpoint: the header, entry and trailer payloads (see the module docs).

use in_mem_core_types::{RunId, Timestamp, Version};

use super::{CheckpointEntry, CheckpointOp};

pub(super) const MAGIC: [u8; 8] = *b"INMEMCKP";
pub(super) const FORMAT_VERSION: u32 = 1;
pub(super) const HEADER_BYTES: usize = 32;
pub(super) const FRAME_HEADER_BYTES: usize = 8;
/// Largest payload: a key, a value and fixed fields, with room to spare; bounds what a reader
/// allocates for a length read from a damaged file.
pub(super) const PAYLOAD_BYTES_MAX: usize = 8 << 20;
pub(super) const FILE_SUFFIX: &str = ".ckpt";
pub(super) const TEMP_SUFFIX: &str = ".ckpt.tmp";

const TAG_ENTRY: u8 = 0x01;
const TAG_TRAILER: u8 = 0x02;
const OP_PUT: u8 = 0x00;
const OP_DELETE: u8 = 0x01;

const _: () = assert!(
    in_mem_core_types::limits::VALUE_BYTES_MAX
        + in_mem_core_types::limits::USER_KEY_BYTES_MAX
        + 1024
        < PAYLOAD_BYTES_MAX
);

pub(super) fn encode_header(version: Version) -> [u8; HEADER_BYTES] {
    let mut out = [0u8; HEADER_BYTES];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&version.get().to_le_bytes());
    let crc = crc32c::crc32c(&out[..24]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The checkpoint version a header names, or why it is not a header.
pub(super) fn decode_header(bytes: &[u8; HEADER_BYTES]) -> Result<Version, &'static str> {
    if bytes[0..8] != MAGIC {
        return Err("the header has the wrong magic bytes");
    }
    let crc = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
    if crc != crc32c::crc32c(&bytes[..24]) {
        return Err("the header checksum does not match");
    }
    if bytes[28..32] != [0; 4] {
        return Err("the header's reserved bytes are not zero");
    }
    if u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) != FORMAT_VERSION {
        return Err("the format version is not supported");
    }
    Ok(Version::new(u64::from_le_bytes(
        bytes[16..24].try_into().expect("8 bytes"),
    )))
}

/// Appends a frame holding `payload` to `out`.
pub(super) fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payloads are bounded by PAYLOAD_BYTES_MAX");
    let mut crc = crc32c::crc32c(&len.to_le_bytes());
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The CRC a frame of `len` and `payload` must carry.
pub(super) fn frame_crc(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

/// An entry payload.
pub(super) fn encode_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    version: Version,
    writer: RunId,
    timestamp: Timestamp,
    op: Option<(&[u8], Option<Timestamp>)>,
) {
    out.push(TAG_ENTRY);
    out.extend_from_slice(&len32(key.len()).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&version.get().to_le_bytes());
    out.extend_from_slice(&writer.to_bytes());
    out.extend_from_slice(&timestamp.as_micros().to_le_bytes());
    match op {
        Some((value, expires_at)) => {
            out.push(OP_PUT);
            out.extend_from_slice(&expires_at.map_or(0, Timestamp::as_micros).to_le_bytes());
            out.extend_from_slice(&len32(value.len()).to_le_bytes());
            out.extend_from_slice(value);
        }
        None => out.push(OP_DELETE),
    }
}

pub(super) fn encode_trailer(entries: u64) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[0] = TAG_TRAILER;
    out[1..].copy_from_slice(&entries.to_le_bytes());
    out
}

/// A decoded payload.
pub(super) enum Payload {
    Entry(CheckpointEntry),
    Trailer { entries: u64 },
}

/// Decodes a payload; `Err` says why it is not one.
pub(super) fn decode_payload(bytes: &[u8]) -> Result<Payload, &'static str> {
    let mut at = Cursor { bytes, pos: 0 };
    match at.u8()? {
        TAG_TRAILER => {
            let entries = at.u64()?;
            at.end()?;
            Ok(Payload::Trailer { entries })
        }
        TAG_ENTRY => {
            let key_len = at.u32()? as usize;
            let key = at.take(key_len)?.to_vec();
            let version = Version::new(at.u64()?);
            let writer = RunId::from_bytes(at.take(16)?.try_into().expect("16 bytes"));
            let timestamp = Timestamp::from_micros(at.u64()?);
            let op = match at.u8()? {
                OP_PUT => {
                    let expires = at.u64()?;
                    let value_len = at.u32()? as usize;
                    let value = at.take(value_len)?.to_vec();
                    let expires_at = (expires != 0).then(|| Timestamp::from_micros(expires));
                    CheckpointOp::Put { value, expires_at }
                }
                OP_DELETE => CheckpointOp::Delete,
                _ => return Err("an entry has an unknown operation"),
            };
            at.end()?;
            Ok(Payload::Entry(CheckpointEntry {
                key,
                version,
                writer,
                timestamp,
                op,
            }))
        }
        _ => Err("a frame has an unknown payload type"),
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("keys and values are bounded by the limits")
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("an entry is cut short")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn end(&self) -> Result<(), &'static str> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err("a frame has bytes after its payload")
        }
    }
}
