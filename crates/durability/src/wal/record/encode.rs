//! The commit body written in one pass: its exact length first (to refuse an oversized commit
//! and to allocate once), then its bytes, in the postcard layout the decoder reads (see the
//! module documentation above). Hand-written because a commit is encoded on every write: the
//! serde path sized the body in one full pass through the serializer and wrote it in a second,
//! about 0.8k instructions of a ~6.5k-instruction put; this is one length sum and one copy per
//! key and value. The serde encoding is kept in the tests as the oracle it must match byte
//! for byte.

use super::{OpRef, WriteRef, ttl_micros};

/// Postcard's variant indexes of `OpRef`.
const PUT: u64 = 0;
const DELETE: u64 = 1;
const DELETE_PREFIX: u64 = 2;

/// The encoded length of `(timestamp, writer, writes)`.
pub(super) fn body_len(timestamp: u64, writes: &[WriteRef<'_>]) -> usize {
    let mut len = varint_len(timestamp) + 16 + varint_len(writes.len() as u64);
    for write in writes {
        len = len.saturating_add(bytes_len(write.key));
        len = len.saturating_add(match write.op {
            OpRef::Put { value, ttl } => {
                varint_len(PUT)
                    + bytes_len(value)
                    + ttl_micros(ttl).map_or(1, |micros| 1 + varint_len(micros))
            }
            OpRef::Delete => varint_len(DELETE),
            OpRef::DeletePrefix => varint_len(DELETE_PREFIX),
        });
    }
    len
}

/// Appends the encoding of `(timestamp, run, writes)` to `out` (`run`: the writer's id).
pub(super) fn encode_body(
    out: &mut Vec<u8>,
    timestamp: u64,
    run: &[u8; 16],
    writes: &[WriteRef<'_>],
) {
    put_varint(out, timestamp);
    out.extend_from_slice(run);
    put_varint(out, writes.len() as u64);
    for write in writes {
        put_bytes(out, write.key);
        match write.op {
            OpRef::Put { value, ttl } => {
                put_varint(out, PUT);
                put_bytes(out, value);
                match ttl_micros(ttl) {
                    None => out.push(0),
                    Some(micros) => {
                        out.push(1);
                        put_varint(out, micros);
                    }
                }
            }
            OpRef::Delete => put_varint(out, DELETE),
            OpRef::DeletePrefix => put_varint(out, DELETE_PREFIX),
        }
    }
}

fn bytes_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64).saturating_add(bytes.len())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// LEB128, seven bits a byte, low bits first: postcard's varint.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_len(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}
