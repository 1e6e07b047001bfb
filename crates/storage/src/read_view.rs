//! `ReadView`: which versions a read may see (a snapshot, plus a run's own later writes).

use in_mem_core_types::{RunId, Version};

/// Which versions a read may see.
///
/// A run sees the agent's memory as it was when the run began (`snapshot`) plus its own writes
/// (`own`: the run and the last version it committed): the run model of the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadView {
    /// Every version up to this one is visible.
    pub snapshot: Version,
    /// A run whose writes up to the given version are visible too, even above `snapshot`.
    pub own: Option<(RunId, Version)>,
}

impl ReadView {
    /// Sees every version up to `snapshot`.
    pub fn at(snapshot: Version) -> Self {
        ReadView {
            snapshot,
            own: None,
        }
    }

    /// Sees every version up to `snapshot`, plus the writes of `run` up to `own_upto`.
    pub fn for_run(snapshot: Version, run: RunId, own_upto: Version) -> Self {
        ReadView {
            snapshot,
            own: Some((run, own_upto)),
        }
    }

    /// True if a version `v` written by `writer` is visible in this view.
    pub fn sees(&self, v: Version, writer: RunId) -> bool {
        v <= self.snapshot
            || self
                .own
                .is_some_and(|(run, upto)| run == writer && v <= upto)
    }

    /// The highest version this view could see: nothing above it is visible.
    pub fn newest_visible_bound(&self) -> Version {
        match self.own {
            Some((_, upto)) => self.snapshot.max(upto),
            None => self.snapshot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sees_up_to_itself_only() {
        let view = ReadView::at(Version::new(5));
        let anyone = RunId::new();
        assert!(view.sees(Version::new(5), anyone));
        assert!(view.sees(Version::new(1), anyone));
        assert!(!view.sees(Version::new(6), anyone));
        assert_eq!(view.newest_visible_bound(), Version::new(5));
    }

    #[test]
    fn own_writes_above_the_snapshot_are_visible_to_their_run_only() {
        let run = RunId::new();
        let other = RunId::new();
        let view = ReadView::for_run(Version::new(5), run, Version::new(9));
        assert!(view.sees(Version::new(9), run));
        assert!(!view.sees(Version::new(10), run), "above own_upto");
        assert!(
            !view.sees(Version::new(7), other),
            "another run's write after the snapshot"
        );
        assert!(view.sees(Version::new(4), other));
        assert_eq!(view.newest_visible_bound(), Version::new(9));
    }

    #[test]
    fn bound_is_the_snapshot_when_own_writes_are_older() {
        let view = ReadView::for_run(Version::new(8), RunId::new(), Version::new(3));
        assert_eq!(view.newest_visible_bound(), Version::new(8));
    }
}
