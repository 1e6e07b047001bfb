//! `ReadView`: which versions a read may see: a snapshot, plus the writes of a few runs up to
//! a version each (a run's own writes; for a fork, also its ancestors' up to the fork points).

use std::sync::Arc;

use in_mem_core_types::{RunId, Version};

/// A run whose writes up to `upto` a view sees, even above its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// The run.
    pub run: RunId,
    /// Its writes at or below this version are visible.
    pub upto: Version,
    /// Whether sweeps keep this run's newest version at or below `upto` of every key it wrote
    /// (a run's current view of its own writes, a fork's view of its parent's at the fork
    /// point): then an answer by this run is right even where older versions were reclaimed.
    /// A view into the past (time travel) is not pinned.
    pub pinned: bool,
}

/// Which versions a read may see.
///
/// A run sees the agent's memory as it was when the run began (`snapshot`) plus its own writes,
/// and a fork also sees its ancestors' writes up to the points it was forked at: the run model
/// of the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadView {
    /// Every version up to this one is visible.
    pub snapshot: Version,
    writers: Writers,
}

/// The runs whose writes a view sees above its snapshot: usually none or one, so those take no
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Writers {
    None,
    One(Writer),
    Many(Arc<[Writer]>),
}

impl ReadView {
    /// Sees every version up to `snapshot`.
    pub fn at(snapshot: Version) -> Self {
        ReadView {
            snapshot,
            writers: Writers::None,
        }
    }

    /// Sees every version up to `snapshot`, plus the writes of `run` up to `own_upto`: a run's
    /// current view (pinned: sweeps keep each run's newest own writes).
    pub fn for_run(snapshot: Version, run: RunId, own_upto: Version) -> Self {
        ReadView {
            snapshot,
            writers: Writers::One(Writer {
                run,
                upto: own_upto,
                pinned: true,
            }),
        }
    }

    /// Sees every version up to `snapshot`, plus each writer's writes up to its bound.
    pub fn with_writers(snapshot: Version, writers: Vec<Writer>) -> Self {
        let writers = match writers.as_slice() {
            [] => Writers::None,
            [one] => Writers::One(*one),
            _ => Writers::Many(writers.into()),
        };
        ReadView { snapshot, writers }
    }

    /// The runs whose writes this view sees above its snapshot.
    pub fn writers(&self) -> &[Writer] {
        match &self.writers {
            Writers::None => &[],
            Writers::One(one) => std::slice::from_ref(one),
            Writers::Many(many) => many,
        }
    }

    /// True if a version `v` written by `writer` is visible in this view.
    pub fn sees(&self, v: Version, writer: RunId) -> bool {
        v <= self.snapshot
            || self
                .writers()
                .iter()
                .any(|w| w.run == writer && v <= w.upto)
    }

    /// True if a version written by `writer` that this view sees is the writer's newest up to
    /// the view's bound for it, kept by every sweep (see [`Writer::pinned`]).
    pub fn pins(&self, writer: RunId) -> bool {
        self.writers().iter().any(|w| w.run == writer && w.pinned)
    }

    /// The highest version this view could see: nothing above it is visible.
    pub fn newest_visible_bound(&self) -> Version {
        self.writers()
            .iter()
            .map(|w| w.upto)
            .fold(self.snapshot, Version::max)
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
        assert!(view.pins(run) && !view.pins(other));
    }

    #[test]
    fn a_fork_sees_its_parent_up_to_the_fork_point() {
        let (fork, parent) = (RunId::new(), RunId::new());
        let view = ReadView::with_writers(
            Version::new(5),
            vec![
                Writer {
                    run: fork,
                    upto: Version::new(20),
                    pinned: true,
                },
                Writer {
                    run: parent,
                    upto: Version::new(12),
                    pinned: true,
                },
            ],
        );
        assert!(view.sees(Version::new(12), parent));
        assert!(!view.sees(Version::new(13), parent), "after the fork point");
        assert!(view.sees(Version::new(20), fork));
        assert_eq!(view.newest_visible_bound(), Version::new(20));
    }

    #[test]
    fn bound_is_the_snapshot_when_own_writes_are_older() {
        let view = ReadView::for_run(Version::new(8), RunId::new(), Version::new(3));
        assert_eq!(view.newest_visible_bound(), Version::new(8));
    }
}
