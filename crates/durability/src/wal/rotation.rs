//! Which segment appends go to, the spare segment prepared for the next rotation, and the
//! sequence of the next segment to create. The I/O that creates or grows a spare is the
//! writer's (`Shared::ensure_spare`), with the log lock released.

use std::mem;
use std::sync::Arc;

use super::format::HEADER_BYTES;
use super::segment::Segment;

/// The segment appends go to.
pub(super) struct Active {
    pub(super) segment: Arc<Segment>,
    /// Where the next frame goes.
    pub(super) offset: u64,
    pub(super) capacity: u64,
    /// True until its header (which names its first version) is appended.
    pub(super) fresh: bool,
}

/// A prepared, unused segment.
pub(super) struct Spare {
    pub(super) segment: Segment,
    pub(super) capacity: u64,
}

pub(super) enum SpareState {
    Missing,
    /// Someone (the preallocation thread or an appender) is creating or growing it.
    Preparing,
    Ready(Spare),
}

/// Active and spare segments, behind the log lock.
pub(super) struct Rotation {
    pub(super) active: Option<Active>,
    pub(super) spare: SpareState,
    /// Sequence of the next segment to create.
    pub(super) next_sequence: u64,
}

impl Rotation {
    /// True if a frame of `frame_len` bytes fits in the active segment.
    pub(super) fn fits(&self, frame_len: u64) -> bool {
        self.active.as_ref().is_some_and(|a| {
            let header = if a.fresh { HEADER_BYTES as u64 } else { 0 };
            a.offset + header + frame_len <= a.capacity
        })
    }

    /// Makes the ready spare the active segment.
    ///
    /// # Panics
    /// If no spare is ready (the caller has just made sure one is).
    pub(super) fn rotate(&mut self) {
        let SpareState::Ready(spare) = mem::replace(&mut self.spare, SpareState::Missing) else {
            unreachable!("rotate is called with a ready spare");
        };
        self.active = Some(Active {
            segment: Arc::new(spare.segment),
            offset: 0,
            capacity: spare.capacity,
            fresh: true,
        });
    }
}
