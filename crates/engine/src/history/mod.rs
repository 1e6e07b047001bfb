//! History: a run's past, read from the versions the store already keeps (MVCC). Nothing is
//! copied and nothing extra is logged: a view of a run at a point is its snapshot plus its own
//! writes up to that point (and, for a fork, its ancestors' up to the fork points), which is
//! exactly a `ReadView` with an upper bound on the run's own writes.
//!
//! - [`At`] names a point in a run's life; `point.rs` turns it into a version.
//! - [`RunView`] (`view.rs`) reads a run as it was at a point, with the whole read API.
//! - `timeline.rs` lists a run's steps (its commits) and what each wrote, without values.
//! - `key_history.rs` lists the versions of one key a run can see.
//! - `diff.rs` compares two views ([`RunDiff`]), `replay.rs` walks a run step by step,
//!   verifying as it goes.
//!
//! What retention reclaimed is never guessed at: a read that needs a reclaimed version is
//! `Error::HistoryPruned` (see `instance/read.rs` for how a read knows).

mod diff;
mod key_history;
mod point;
mod replay;
mod timeline;
mod view;

pub(crate) use diff::diff;
pub use diff::{CellChange, EventsDiff, KvChange, RunDiff, SpanChange};
pub(crate) use key_history::key_history;
pub use key_history::{KeyHistory, KeyVersion};
pub use point::At;
pub(crate) use point::resolve;
pub use replay::{Replay, ReplayStep};
pub(crate) use timeline::timeline;
pub use timeline::{Step, Timeline};
pub use view::RunView;
