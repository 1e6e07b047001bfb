//! Little-endian fields read from untrusted bytes without panicking: every read names where it
//! is and returns `None` when the bytes are too short, so decoders of file headers never index.
#![deny(clippy::indexing_slicing)]

/// The `N` bytes at `at`, if there are that many.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The little-endian `u32` at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_le_bytes)
}

/// The little-endian `u64` at `at`.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    array_at(bytes, at).map(u64::from_le_bytes)
}

/// Writes `value` at `at` of a buffer the caller sized for it (encoders lay out fixed headers,
/// so a short buffer is a bug in the layout, caught by the format tests).
pub(crate) fn put(out: &mut [u8], at: usize, value: &[u8]) {
    let end = at + value.len();
    out.get_mut(at..end)
        .expect("header layouts fit their buffers")
        .copy_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none() {
        let bytes = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(u32_at(&bytes, 0), Some(1));
        assert_eq!(u64_at(&bytes, 4), Some(2));
        assert_eq!(u64_at(&bytes, 5), None);
        assert_eq!(u32_at(&bytes, usize::MAX), None);
        let mut out = [0u8; 4];
        put(&mut out, 1, &[9, 9]);
        assert_eq!(out, [0, 9, 9, 0]);
    }
}
