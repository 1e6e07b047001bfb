//! The log's buffer: appended bytes not yet handed to the OS, as contiguous chunks of one
//! segment each; byte buffers kept for reuse; and the segments written since the last sync
//! looked, which the next sync fdatasyncs in sequence order.

use std::mem;
use std::sync::Arc;

use super::marks::Mark;
use super::segment::Segment;

/// Buffers kept for reuse, and the largest kept.
const FREE_BUFFERS_MAX: usize = 4;
const FREE_BUFFER_BYTES_MAX: usize = 8 << 20;

/// Appended bytes not yet handed to the OS, for one contiguous range of one segment.
pub(super) struct Chunk {
    pub(super) segment: Arc<Segment>,
    pub(super) offset: u64,
    pub(super) bytes: Vec<u8>,
    /// The appended mark at the end of its bytes.
    pub(super) end: Mark,
}

/// Pending chunks, free buffers and dirty segments, behind the log lock.
#[derive(Default)]
pub(super) struct Buffer {
    pending: Vec<Chunk>,
    /// The list the last written chunks came back in, emptied: the next `take` hands it out
    /// again, so a commit does not allocate a list for its one chunk.
    spare: Vec<Chunk>,
    pending_bytes: usize,
    free: Vec<Vec<u8>>,
    /// Segments written since the last sync took them, in sequence order.
    dirty: Vec<Arc<Segment>>,
}

impl Buffer {
    /// Bytes appended and not yet taken for writing.
    pub(super) fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Appends `parts` at `offset` of `segment`; `end` is the appended mark after them.
    pub(super) fn push(&mut self, segment: &Arc<Segment>, offset: u64, parts: &[&[u8]], end: Mark) {
        let extends = self.pending.last().is_some_and(|c| {
            Arc::ptr_eq(&c.segment, segment) && c.offset + c.bytes.len() as u64 == offset
        });
        if !extends {
            let bytes = self.free.pop().unwrap_or_default();
            self.pending.push(Chunk {
                segment: Arc::clone(segment),
                offset,
                bytes,
                end,
            });
        }
        let chunk = self
            .pending
            .last_mut()
            .expect("a chunk was found or pushed above");
        for part in parts {
            chunk.bytes.extend_from_slice(part);
            self.pending_bytes += part.len();
        }
        chunk.end = end;
    }

    /// Takes everything pending, to be written in order; empty if nothing is.
    pub(super) fn take(&mut self) -> Vec<Chunk> {
        self.pending_bytes = 0;
        mem::replace(&mut self.pending, mem::take(&mut self.spare))
    }

    /// `chunks` were written: their segments are dirty, their buffers free for reuse.
    pub(super) fn written(&mut self, mut chunks: Vec<Chunk>) {
        for chunk in chunks.drain(..) {
            if !self
                .dirty
                .last()
                .is_some_and(|s| Arc::ptr_eq(s, &chunk.segment))
            {
                self.dirty.push(chunk.segment);
            }
            let mut bytes = chunk.bytes;
            if self.free.len() < FREE_BUFFERS_MAX && bytes.capacity() <= FREE_BUFFER_BYTES_MAX {
                bytes.clear();
                self.free.push(bytes);
            }
        }
        self.spare = chunks;
    }

    /// Takes the segments written since the last call, for a sync.
    pub(super) fn take_dirty(&mut self) -> Vec<Arc<Segment>> {
        mem::take(&mut self.dirty)
    }
}
