//! LEB128 unsigned varints, as used by the value encoding (and by postcard on disk).

/// Appends `n` as an unsigned LEB128 varint (1 to 10 bytes).
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// `n` as an unsigned LEB128 varint in a stack buffer: the buffer and how many bytes are used.
pub(crate) fn encode_u64(mut n: u64) -> ([u8; 10], usize) {
    let mut buf = [0u8; 10];
    let mut len = 0;
    while n >= 0x80 {
        buf[len] = (n as u8) | 0x80;
        n >>= 7;
        len += 1;
    }
    buf[len] = n as u8;
    (buf, len + 1)
}

/// Reads an unsigned LEB128 varint at `*pos`, advancing it. `None` on truncation or overflow.
pub(crate) fn read_u64(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        n |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// The length of `n`'s encoding by [`write_u64`].
pub(crate) fn len_u64(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges_and_rejects_overflow() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            write_u64(&mut buf, n);
            assert_eq!(len_u64(n), buf.len(), "len_u64({n})");
            let mut pos = 0;
            assert_eq!(read_u64(&buf, &mut pos), Some(n));
            assert_eq!(pos, buf.len());
            let (stack, len) = encode_u64(n);
            assert_eq!(&stack[..len], buf.as_slice());
        }
        let mut pos = 0;
        assert_eq!(read_u64(&[0xff; 11], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_u64(&[0x80], &mut pos), None, "truncated");
    }
}
