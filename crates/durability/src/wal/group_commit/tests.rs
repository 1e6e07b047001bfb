use super::*;

const SYNC: Duration = Duration::from_micros(100);

fn t(micros: u64) -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now) + Duration::from_micros(micros)
}

fn mark(lsn: u64) -> Mark {
    Mark {
        lsn,
        commits: lsn,
        version: Version::new(lsn),
    }
}

fn lead(step: Step) -> WaiterId {
    match step {
        Step::Lead(id) => id,
        other => panic!("expected to lead, got {other:?}"),
    }
}

fn woken(gc: &mut GroupCommit) -> Vec<WaiterId> {
    gc.drain_woken().collect()
}

#[test]
fn a_lone_committer_leads_every_sync_without_waiting() {
    let mut gc = GroupCommit::new(mark(0));
    for lsn in 1..=3 {
        let at = t(lsn * 1000);
        let id = lead(gc.arrive(lsn, true, at));
        gc.sync_ended(id, Some(mark(lsn)), at + SYNC, SYNC);
        assert!(woken(&mut gc).is_empty());
        assert_eq!(gc.resume(id, at + SYNC), Step::Done);
    }
    assert_eq!(gc.synced().lsn, 3);
}

/// The lost wake-up this machine was written to remove: waiters that arrive during a sync
/// are woken by the LSN it actually synced, however far beyond its start that is.
#[test]
fn a_sync_wakes_every_waiter_its_mark_covers_even_those_that_arrived_during_it() {
    let mut gc = GroupCommit::new(mark(0));
    let leader = lead(gc.arrive(1, true, t(0)));
    let Step::Wait(a, None) = gc.arrive(2, true, t(10)) else {
        panic!("a sync is in flight")
    };
    let Step::Wait(b, None) = gc.arrive(3, true, t(20)) else {
        panic!("a sync is in flight")
    };
    // The leader looked after both wrote their records.
    gc.sync_ended(leader, Some(mark(3)), t(100), SYNC);
    assert_eq!(woken(&mut gc), vec![a, b]);
    assert_eq!(gc.resume(a, t(101)), Step::Done);
    assert_eq!(gc.resume(b, t(102)), Step::Done);
    assert_eq!(gc.resume(leader, t(103)), Step::Done);
}

#[test]
fn of_the_waiters_a_sync_did_not_cover_one_is_woken_to_go_on() {
    let mut gc = GroupCommit::new(mark(0));
    let leader = lead(gc.arrive(1, true, t(0)));
    let Step::Wait(a, None) = gc.arrive(2, true, t(10)) else {
        panic!("a sync is in flight")
    };
    let Step::Wait(b, None) = gc.arrive(3, true, t(20)) else {
        panic!("a sync is in flight")
    };
    gc.sync_ended(leader, Some(mark(1)), t(100), SYNC);
    assert_eq!(woken(&mut gc), vec![a]);
    assert_eq!(gc.resume(leader, t(100)), Step::Done);
    // The window is open and the leader (a committer) has not come back: `a` holds the timer.
    let window_end = t(100) + SYNC / 2;
    assert_eq!(gc.resume(a, t(101)), Step::Wait(a, Some(window_end)));
    // The timer fires: `a` leads for both.
    let a = lead(gc.resume(a, window_end));
    gc.sync_ended(a, Some(mark(3)), window_end + SYNC, SYNC);
    assert_eq!(woken(&mut gc), vec![b]);
    assert_eq!(gc.resume(b, window_end + SYNC), Step::Done);
}

#[test]
fn the_last_committer_back_in_the_window_leads_for_everyone() {
    let mut gc = GroupCommit::new(mark(0));
    let leader = lead(gc.arrive(1, true, t(0)));
    let Step::Wait(a, None) = gc.arrive(1, true, t(10)) else {
        panic!("a sync is in flight")
    };
    gc.sync_ended(leader, Some(mark(1)), t(100), SYNC);
    assert_eq!(woken(&mut gc), vec![a]);
    assert_eq!(gc.resume(a, t(100)), Step::Done);
    assert_eq!(gc.resume(leader, t(100)), Step::Done);
    // Both committers were released; the first back waits with the timer, the second leads.
    let Step::Wait(first, Some(_)) = gc.arrive(2, true, t(110)) else {
        panic!("the window holds the first one back")
    };
    let second = lead(gc.arrive(3, true, t(120)));
    gc.sync_ended(second, Some(mark(3)), t(220), SYNC);
    assert_eq!(woken(&mut gc), vec![first]);
    assert_eq!(gc.resume(first, t(221)), Step::Done);
}

#[test]
fn a_flush_or_the_sync_thread_does_not_count_as_coming_back() {
    let mut gc = GroupCommit::new(mark(0));
    let leader = lead(gc.arrive(1, true, t(0)));
    gc.sync_ended(leader, Some(mark(1)), t(100), SYNC);
    assert_eq!(gc.resume(leader, t(100)), Step::Done);
    // The released committer is still out: a flush waits for it (or the window).
    assert!(matches!(
        gc.arrive(2, false, t(110)),
        Step::Wait(_, Some(_))
    ));
}

#[test]
fn poisoning_wakes_everyone_and_fails_only_the_uncovered() {
    let mut gc = GroupCommit::new(mark(0));
    let leader = lead(gc.arrive(1, true, t(0)));
    let Step::Wait(a, None) = gc.arrive(2, true, t(10)) else {
        panic!("a sync is in flight")
    };
    gc.poison();
    assert_eq!(woken(&mut gc), vec![a]);
    assert_eq!(gc.resume(a, t(11)), Step::Failed);
    // The leader's fdatasync completed, but after the poisoning: it counts for nothing.
    gc.sync_ended(leader, Some(mark(2)), t(100), SYNC);
    assert_eq!(gc.synced().lsn, 0);
    assert_eq!(gc.resume(leader, t(100)), Step::Failed);
    assert_eq!(gc.arrive(0, true, t(101)), Step::Done);
    assert_eq!(gc.arrive(1, true, t(101)), Step::Failed);
}

#[test]
fn batched_joins_a_sync_only_beyond_max_commits() {
    let gc = GroupCommit::new(mark(10));
    assert!(!gc.must_join_sync(Version::new(12), Some(2)));
    assert!(gc.must_join_sync(Version::new(13), Some(2)));
    assert!(!gc.must_join_sync(Version::new(1000), None));
}
