//! `WindowReader`: reads a segment in large sequential chunks, so that recovery makes one
//! system call per chunk, not one per record.

use std::io;

use crate::vfs::{VfsFile, read_exact_at};

/// Bytes read per system call during recovery.
pub(crate) const READ_CHUNK_BYTES: usize = 1 << 20;

/// A window over a file: `get` returns bytes from the window, refilling it from the requested
/// offset when they are not all in it. A request larger than the chunk grows the window to fit
/// (requests are bounded by the file's length, which the caller checks).
pub(crate) struct WindowReader<'f> {
    file: &'f dyn VfsFile,
    file_len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
    /// Bytes of `buf` that hold file data.
    filled: usize,
    chunk: usize,
}

impl<'f> WindowReader<'f> {
    /// A reader over the first `file_len` bytes of `file`, reading `chunk` bytes at a time.
    pub(crate) fn new(file: &'f dyn VfsFile, file_len: u64, chunk: usize) -> Self {
        WindowReader {
            file,
            file_len,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            chunk: chunk.max(64),
        }
    }

    /// Length of the file this reader covers.
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The `n` bytes at `offset`.
    ///
    /// # Panics
    /// If the range passes the file's end; callers check lengths against the file first.
    pub(crate) fn get(&mut self, offset: u64, n: usize) -> io::Result<&[u8]> {
        let end = offset + n as u64;
        assert!(end <= self.file_len, "read past the end of the file");
        if offset < self.start || end > self.start + self.filled as u64 {
            let left = usize::try_from(self.file_len - offset).unwrap_or(usize::MAX);
            let want = n.max(self.chunk).min(left);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            self.filled = 0;
            read_exact_at(self.file, &mut self.buf[..want], offset)?;
            self.start = offset;
            self.filled = want;
        }
        let at = usize::try_from(offset - self.start).expect("inside the window");
        Ok(&self.buf[at..at + n])
    }

    /// Up to `max` bytes at `offset` (fewer near the end of the file): a view for scanning.
    pub(crate) fn window(&mut self, offset: u64, max: usize) -> io::Result<&[u8]> {
        let left = usize::try_from(self.file_len.saturating_sub(offset)).unwrap_or(usize::MAX);
        self.get(offset, max.min(left))
    }

    /// The first byte at or after `from` that is not zero, if any.
    pub(crate) fn first_nonzero(&mut self, from: u64) -> io::Result<Option<u64>> {
        let mut at = from;
        while at < self.file_len {
            let chunk = self.chunk;
            let bytes = self.window(at, chunk)?;
            if let Some(i) = first_nonzero_in(bytes) {
                return Ok(Some(at + i as u64));
            }
            at += bytes.len() as u64;
        }
        Ok(None)
    }

    /// One past the last byte at or after `from` that is not zero, or `from` if all are zero.
    pub(crate) fn nonzero_end(&mut self, from: u64) -> io::Result<u64> {
        let mut at = from;
        let mut end = from;
        while at < self.file_len {
            let chunk = self.chunk;
            let bytes = self.window(at, chunk)?;
            if let Some(i) = last_nonzero_in(bytes) {
                end = at + i as u64 + 1;
            }
            at += bytes.len() as u64;
        }
        Ok(end)
    }
}

/// Bytes checked at once by the zero scans: a block's bytes are OR-ed together, which the
/// compiler turns into a few vector instructions, and only a block that is not all zeros is
/// searched byte by byte. The scans cross megabytes of zeros (the unused end of the last
/// segment, the spare segment) at every open.
const ZERO_BLOCK: usize = 64;

fn is_zero(block: &[u8]) -> bool {
    block.iter().fold(0u8, |acc, &b| acc | b) == 0
}

/// Index of the first byte of `bytes` that is not zero.
pub(crate) fn first_nonzero_in(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(ZERO_BLOCK);
    for (n, block) in (&mut blocks).enumerate() {
        if !is_zero(block) {
            return block
                .iter()
                .position(|&b| b != 0)
                .map(|i| n * ZERO_BLOCK + i);
        }
    }
    let tail = bytes.len() - blocks.remainder().len();
    blocks
        .remainder()
        .iter()
        .position(|&b| b != 0)
        .map(|i| tail + i)
}

/// Index of the last byte of `bytes` that is not zero.
pub(crate) fn last_nonzero_in(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.rchunks_exact(ZERO_BLOCK);
    for (n, block) in (&mut blocks).enumerate() {
        if !is_zero(block) {
            let start = bytes.len() - (n + 1) * ZERO_BLOCK;
            return block.iter().rposition(|&b| b != 0).map(|i| start + i);
        }
    }
    blocks.remainder().iter().rposition(|&b| b != 0)
}

#[cfg(test)]
mod tests;
