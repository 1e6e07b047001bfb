use super::*;

#[test]
fn policies_combine_to_the_smallest_interval_and_commit_count() {
    let tmp = tempfile::tempdir().unwrap();
    let recovered = Recovered {
        stamp: crate::identity::Stamp::for_tests(),
        active: None,
        spare: None,
        next_sequence: 1,
        last_version: Version::ZERO,
        records_replayed: 0,
        tail: super::super::TailState::Clean,
        records_dropped: 0,
        newest_dropped: None,
        salvaged: None,
    };
    let shared = Shared::new(
        Arc::new(crate::vfs::StdFs),
        tmp.path().to_owned(),
        4096,
        recovered,
        crate::sync::Clock::new(),
    );
    let slow = SyncPolicy {
        interval: Duration::from_millis(100),
        max_commits: Some(1000),
    };
    let fast = SyncPolicy {
        interval: Duration::from_millis(10),
        max_commits: None,
    };
    let a = shared.add_policy(slow);
    let b = shared.add_policy(fast);
    {
        let st = shared.lock();
        assert_eq!(st.cadence.interval_min, Some(Duration::from_millis(10)));
        assert_eq!(st.cadence.max_commits_min, Some(1000));
    }
    shared.remove_policy(b);
    {
        let st = shared.lock();
        assert_eq!(st.cadence.interval_min, Some(Duration::from_millis(100)));
    }
    shared.remove_policy(a);
    let st = shared.lock();
    assert_eq!(
        (st.cadence.interval_min, st.cadence.max_commits_min),
        (None, None)
    );
}
