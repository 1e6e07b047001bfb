//! Building shared byte strings (`Arc<[u8]>`) from parts with a single allocation.

use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The concatenation of `parts` as an `Arc<[u8]>`.
///
/// Keys and values are shared between the memtable's ordered map and its index, so they live in
/// `Arc<[u8]>`s. Turning a freshly built `Vec` into one allocates and copies twice, and
/// `Arc::from_iter` copies byte by byte; joining the parts in a reused per-thread buffer first
/// costs one allocation of the exact size and bulk copies.
pub fn concat_shared(parts: &[&[u8]]) -> Arc<[u8]> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            for part in parts {
                buf.extend_from_slice(part);
            }
            let shared = Arc::from(buf.as_slice());
            // A huge value should not pin a huge buffer to this thread for ever.
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            shared
        }
        Err(_) => Arc::from(parts.concat()),
    })
}

/// The bytes `fill` writes, as an `Arc<[u8]>` of their exact size: built in the same reused
/// per-thread buffer as [`concat_shared`], so one allocation (the `Arc`) rather than two.
pub(crate) fn build_shared<E>(
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Arc<[u8]>, E> {
    SCRATCH.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            // Filled from inside another fill on this thread: a buffer of its own.
            let mut own = Vec::new();
            fill(&mut own)?;
            return Ok(Arc::from(own));
        };
        buf.clear();
        let shared = fill(&mut buf).map(|()| Arc::from(buf.as_slice()));
        if buf.capacity() > 64 * 1024 {
            *buf = Vec::new();
        }
        shared
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_parts_in_order() {
        assert_eq!(&*concat_shared(&[b"ab", b"", b"cde"]), b"abcde");
        assert_eq!(&*concat_shared(&[]), b"");
        let big = vec![7u8; 100_000];
        assert_eq!(
            &*concat_shared(&[&big, b"x"]),
            [big.as_slice(), b"x"].concat().as_slice()
        );
    }
}
