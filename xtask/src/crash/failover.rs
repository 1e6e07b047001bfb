//! The crash test with a failover of the store (`cargo xtask crash-test --remote --failover`):
//! the servers it runs on, and what the parent does while the child runs. Each iteration runs on
//! a primary with a synchronous standby; at a seeded moment the parent kills the primary with
//! SIGKILL and promotes the standby, lets the child (a client host in `Strict`, whose URL names
//! both servers with `target_session_attrs=read-write`) go on until it has acknowledged
//! something on the promoted server, then kills the child and checks as in shared mode, on the
//! promoted server.
//!
//! The servers form a chain: the promoted standby is the next iteration's primary, given a new
//! synchronous standby by a base backup of it, so iterations go on from each other's state (and
//! later children take over and resume the runs earlier ones left) as on one server. Every
//! `--fresh-every` iterations a new chain starts from `initdb`, which bounds the base backups.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::driver::Event;
use super::workload::Mode;
use crate::pg::Cluster;
use crate::pg_failover::synchronous_standby;

/// How long the parent waits, after the promotion, for the child to acknowledge a call on the
/// promoted server before the iteration fails: commits ride out an outage for
/// `RemoteOptions::outage_limit` (30 s), and a child that has not reconnected by then would
/// fail its calls anyway.
pub const RECONNECT_LIMIT: Duration = Duration::from_secs(45);

/// The servers of one mode's iterations.
pub struct Servers {
    mode: Mode,
    /// The primary the next iteration starts on (a promoted standby after the first).
    primary: Option<Cluster>,
    /// Servers made so far, for unique names.
    made: u64,
}

/// One iteration's servers: a primary and its synchronous standby.
pub struct Pair {
    pub primary: Cluster,
    pub standby: Cluster,
    /// Names both servers, `target_session_attrs=read-write`: the child's URL.
    pub url: String,
    /// Whether the standby has been promoted (the primary killed).
    promoted: Cell<bool>,
}

impl Servers {
    pub fn new(mode: Mode) -> Servers {
        Servers {
            mode,
            primary: None,
            made: 0,
        }
    }

    /// A primary with a new synchronous standby: a new chain (`initdb`) if `fresh` or none is
    /// running yet, else the last iteration's promoted standby.
    pub fn pair(&mut self, fresh: bool) -> Result<Pair, String> {
        let primary = match self.primary.take() {
            Some(promoted) if !fresh => promoted,
            _ => Cluster::start(&self.name())?,
        };
        let (standby, url) = synchronous_standby(&primary, &self.name())?;
        Ok(Pair {
            primary,
            standby,
            url,
            promoted: Cell::new(false),
        })
    }

    /// After an iteration: its standby, promoted, is the next one's primary; its killed primary
    /// is removed. A pair whose primary was not killed (the iteration failed before) is removed
    /// whole, and the next iteration starts a new chain.
    pub fn after(&mut self, pair: Pair) {
        if pair.promoted.get() {
            self.primary = Some(pair.standby);
        }
    }

    fn name(&mut self) -> String {
        self.made += 1;
        format!("fo_{}_{}", self.mode.name(), self.made)
    }
}

/// What the failover of one iteration did.
#[derive(Debug, Clone, Copy)]
pub struct Failover {
    /// From the SIGKILL of the primary to the promoted standby taking writes (the seeded wait
    /// before the promotion, then the promotion).
    pub promotion: Duration,
    /// From the promotion to the child's first acknowledgement after it.
    pub reconnect: Duration,
    /// From the promotion to the end of the wait (the child is killed next).
    pub since_promotion: Duration,
    /// The child's acknowledgements before the promotion, and after it (filled in once the
    /// child is dead and its output read).
    pub acks_at_promotion: u64,
    pub acks_after: u64,
}

/// When the parent fails the store over, as seeded: all measured from the child's connection.
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    /// When the primary is killed.
    pub kill_primary: Duration,
    /// How long after that the standby is promoted: a failover manager takes a while to decide
    /// the primary is dead, and an outage longer than the child's lease (1 s) makes the calls
    /// that go to the store directly fail and its lease run out meanwhile.
    pub promote_after: Duration,
    /// How long the child goes on after the promotion (at least until it acknowledges a call).
    pub go_on: Duration,
}

/// Waits until the moment to kill the primary, kills it, promotes the standby when the moments
/// say, then lets the child go on as they say and until it has acknowledged a call after the
/// promotion (`acks` counts the child's acknowledgements). `Err` if the child's output ends
/// first, or a server step fails.
pub fn fail_over(
    pair: &Pair,
    events: &Receiver<Event>,
    acks: &AtomicU64,
    moments: Moments,
) -> Result<Failover, String> {
    wait_while_running(events, moments.kill_primary)?;
    pair.primary.kill()?;
    let killed = Instant::now();
    wait_while_running(events, moments.promote_after)?;
    pair.standby.promote()?;
    pair.promoted.set(true);
    let promoted_at = Instant::now();
    let before = acks.load(Ordering::SeqCst);
    let mut reconnect = None;
    loop {
        let since = promoted_at.elapsed();
        if reconnect.is_none() && acks.load(Ordering::SeqCst) != before {
            reconnect = Some(since);
        }
        match reconnect {
            Some(reconnect) if since >= moments.go_on => {
                return Ok(Failover {
                    promotion: promoted_at - killed,
                    reconnect,
                    since_promotion: since,
                    acks_at_promotion: before,
                    acks_after: 0,
                });
            }
            None if since > RECONNECT_LIMIT => {
                return Err(format!(
                    "the child acknowledged nothing in the {} s after the promotion (it did not \
                     reconnect to the promoted server)",
                    RECONNECT_LIMIT.as_secs()
                ));
            }
            _ => wait_while_running(events, Duration::from_millis(5))?,
        }
    }
}

/// Sleeps `how_long`, failing if the child's output ends meanwhile (it exited).
fn wait_while_running(events: &Receiver<Event>, how_long: Duration) -> Result<(), String> {
    let until = Instant::now() + how_long;
    loop {
        match events.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Event::Ready) => {}
            Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                return Err("the child's output ended during the failover".to_owned());
            }
            Err(RecvTimeoutError::Timeout) => return Ok(()),
        }
    }
}
