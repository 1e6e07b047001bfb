//! Model tests: random commits, applied in random order, read at random views, checked against a
//! naive reference (every version in a `BTreeMap`, the visibility rule applied by brute force);
//! and sweeping at a random horizon changes no answer of any view at or above it.

#![cfg(not(inmem_loom))]

use std::collections::BTreeMap;
use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, MutationKind, ReadView, StoredValue};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Keys chosen so that some are prefixes of others, and some sit at the top of the byte order.
const KEYS: [&[u8]; 8] = [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"\xff", b"\xff\x00"];
const PREFIXES: [&[u8]; 7] = [b"", b"a", b"ab", b"b", b"\xff", b"z", b"abcd"];
const RUNS: usize = 3;
const COMMITS_MAX: usize = 12;
/// Commits in the long-version-chain test: several times the scan's steps before it seeks.
const MANY_COMMITS_MAX: usize = 40;
const TIME_MAX: u64 = 20;

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        value: u8,
        expires_at: Option<u64>,
    },
    Delete {
        key: usize,
    },
}

#[derive(Debug, Clone)]
struct Commit {
    writer: usize,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy)]
struct View {
    snapshot: u64,
    own: Option<(usize, u64)>,
    now: u64,
}

/// One stored version in the model: writer, timestamp, and the value with its expiry (`None` for
/// a tombstone).
type ModelVersion = (RunId, Timestamp, Option<(Arc<[u8]>, Option<Timestamp>)>);

struct Model {
    versions: BTreeMap<(Vec<u8>, u64), ModelVersion>,
}

impl Model {
    fn get(&self, key: &[u8], view: &ReadView, now: Timestamp) -> Option<StoredValue> {
        let newest_seen = self
            .versions
            .iter()
            .filter(|((k, version), (writer, _, _))| {
                k == key && view.sees(Version::new(*version), *writer)
            })
            .max_by_key(|((_, version), _)| *version)?;
        let ((_, version), (writer, timestamp, value)) = newest_seen;
        let (value, expires_at) = value.as_ref()?;
        if expires_at.is_some_and(|at| at <= now) {
            return None;
        }
        Some(StoredValue {
            value: Arc::clone(value),
            version: Version::new(*version),
            timestamp: *timestamp,
            expires_at: *expires_at,
            writer: *writer,
        })
    }

    fn scan(&self, prefix: &[u8], view: &ReadView, now: Timestamp) -> Vec<(Vec<u8>, StoredValue)> {
        let mut keys: Vec<&Vec<u8>> = self.versions.keys().map(|(key, _)| key).collect();
        keys.dedup();
        keys.into_iter()
            .filter(|key| key.starts_with(prefix))
            .filter_map(|key| Some((key.clone(), self.get(key, view, now)?)))
            .collect()
    }
}

/// A write to one of the first `keys` keys.
fn op(keys: usize) -> impl Strategy<Value = Op> {
    let key = 0..keys;
    prop_oneof![
        4 => (key.clone(), any::<u8>()).prop_map(|(key, value)| Op::Put { key, value, expires_at: None }),
        2 => (key.clone(), any::<u8>(), 0..TIME_MAX)
            .prop_map(|(key, value, at)| Op::Put { key, value, expires_at: Some(at) }),
        2 => key.prop_map(|key| Op::Delete { key }),
    ]
}

fn commit(keys: usize) -> impl Strategy<Value = Commit> {
    (0..RUNS, prop::collection::vec(op(keys), 1..4))
        .prop_map(|(writer, ops)| Commit { writer, ops })
}

/// Up to `commits` commits writing the first `keys` keys, and the order in which they are applied.
fn history(keys: usize, commits: usize) -> impl Strategy<Value = (Vec<Commit>, Vec<usize>)> {
    prop::collection::vec(commit(keys), 1..=commits).prop_flat_map(|commits| {
        let order: Vec<usize> = (0..commits.len()).collect();
        (Just(commits), Just(order).prop_shuffle())
    })
}

/// A view at or below version `versions`.
fn view(versions: usize) -> impl Strategy<Value = View> {
    let version = 0..=versions as u64;
    (
        version.clone(),
        prop::option::of((0..RUNS, version)),
        0..TIME_MAX,
    )
        .prop_map(|(snapshot, own, now)| View { snapshot, own, now })
}

fn run_ids() -> [RunId; RUNS] {
    std::array::from_fn(|i| RunId::from_bytes([i as u8 + 1; 16]))
}

fn read_view(view: View, runs: &[RunId; RUNS]) -> ReadView {
    match view.own {
        Some((run, upto)) => {
            ReadView::for_run(Version::new(view.snapshot), runs[run], Version::new(upto))
        }
        None => ReadView::at(Version::new(view.snapshot)),
    }
}

/// Applies `commits` in `order` (commit `i` has version `i + 1`) to a memtable and to the model;
/// publishes them all.
fn build(commits: &[Commit], order: &[usize], runs: &[RunId; RUNS]) -> (Memtable, Model) {
    let memtable = Memtable::new(Version::ZERO);
    for _ in commits {
        memtable.versions().allocate();
    }
    let mut model = Model {
        versions: BTreeMap::new(),
    };
    for &i in order {
        let commit = &commits[i];
        let version = i as u64 + 1;
        let writer = runs[commit.writer];
        let timestamp = Timestamp::from_micros(100 + version);
        let mutations: Vec<Mutation> = commit
            .ops
            .iter()
            .map(|op| match *op {
                Op::Put {
                    key,
                    value,
                    expires_at,
                } => Mutation {
                    key: Arc::from(KEYS[key]),
                    kind: MutationKind::Put {
                        value: Arc::from(&[value, key as u8, version as u8][..]),
                        expires_at: expires_at.map(Timestamp::from_micros),
                    },
                },
                Op::Delete { key } => Mutation::delete(KEYS[key]),
            })
            .collect();
        memtable.apply(Version::new(version), writer, timestamp, &mutations);
        for mutation in &mutations {
            let value = match &mutation.kind {
                MutationKind::Put { value, expires_at } => Some((Arc::clone(value), *expires_at)),
                MutationKind::Delete => None,
            };
            model
                .versions
                .insert((mutation.key.to_vec(), version), (writer, timestamp, value));
        }
    }
    for i in order {
        memtable.versions().publish(Version::new(*i as u64 + 1));
    }
    (memtable, model)
}

/// The gets of every key, and the scans of every prefix.
type Answers = (Vec<Option<StoredValue>>, Vec<Vec<(Vec<u8>, StoredValue)>>);

/// Every answer `view` gets: a get of every key and a scan of every prefix.
fn answers(memtable: &Memtable, view: &ReadView, now: Timestamp) -> Answers {
    let gets = KEYS
        .iter()
        .map(|key| memtable.get(key, view, now))
        .collect();
    let scans = PREFIXES
        .iter()
        .map(|prefix| {
            memtable
                .scan_prefix(prefix, view.clone(), now)
                .map(|(key, value)| (key.to_vec(), value))
                .collect()
        })
        .collect();
    (gets, scans)
}

/// Builds a memtable from `commits` applied in `order` and checks every get, scan and stored
/// version at each view against the model.
fn check_against_model(
    commits: &[Commit],
    order: &[usize],
    views: Vec<View>,
) -> Result<(), TestCaseError> {
    let runs = run_ids();
    let (memtable, model) = build(commits, order, &runs);
    for view in views {
        let now = Timestamp::from_micros(view.now);
        let read = read_view(view, &runs);
        for key in KEYS {
            prop_assert_eq!(
                memtable.get(key, &read, now),
                model.get(key, &read, now),
                "get {:?} at {:?}",
                key,
                view
            );
        }
        for prefix in PREFIXES {
            let scanned: Vec<(Vec<u8>, StoredValue)> = memtable
                .scan_prefix(prefix, read.clone(), now)
                .map(|(key, value)| (key.to_vec(), value))
                .collect();
            prop_assert_eq!(
                scanned,
                model.scan(prefix, &read, now),
                "scan {:?} at {:?}",
                prefix,
                view
            );
        }
    }
    // The index's newest version of every key is the model's highest version, whatever the
    // order the commits arrived in.
    for key in KEYS {
        let newest = model
            .versions
            .keys()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .max();
        prop_assert_eq!(memtable.newest_version(key), newest.map(Version::new));
    }
    let stored: Vec<(Vec<u8>, u64)> = memtable
        .iter_versions()
        .map(|stored| (stored.key.to_vec(), stored.version.get()))
        .collect();
    let mut expected: Vec<(Vec<u8>, u64)> = model.versions.keys().cloned().collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    prop_assert_eq!(stored, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn get_and_scan_match_the_model(
        (commits, order) in history(KEYS.len(), COMMITS_MAX),
        views in prop::collection::vec(view(COMMITS_MAX), 1..12),
    ) {
        check_against_model(&commits, &order, views)?;
    }

    // Few keys with many versions each: the scan's seeks past and into long version chains.
    #[test]
    fn long_version_chains_match_the_model(
        (commits, order) in history(2, MANY_COMMITS_MAX),
        views in prop::collection::vec(view(MANY_COMMITS_MAX), 1..12),
    ) {
        check_against_model(&commits, &order, views)?;
    }

    #[test]
    fn sweep_changes_no_answer_at_or_above_the_horizon(
        (commits, order) in history(KEYS.len(), COMMITS_MAX),
        horizon in 0..=COMMITS_MAX as u64,
        sweep_now in 0..TIME_MAX,
        views in prop::collection::vec(view(COMMITS_MAX), 1..12),
    ) {
        let runs = run_ids();
        let (memtable, model) = build(&commits, &order, &runs);
        let horizon = horizon.min(commits.len() as u64);
        // Views at or above the horizon, read at or after the sweep's `now`.
        let views: Vec<(ReadView, Timestamp)> = views
            .into_iter()
            .map(|view| {
                let snapshot = horizon + view.snapshot % (COMMITS_MAX as u64 + 1 - horizon);
                let now = sweep_now + view.now % (TIME_MAX - sweep_now);
                (read_view(View { snapshot, ..view }, &runs), Timestamp::from_micros(now))
            })
            .collect();
        let before: Vec<_> = views.iter().map(|(view, now)| answers(&memtable, view, *now)).collect();
        let version_count = memtable.version_count();

        let stats = memtable.sweep(Version::new(horizon), Timestamp::from_micros(sweep_now));

        for ((view, now), before) in views.iter().zip(&before) {
            prop_assert_eq!(&answers(&memtable, view, *now), before, "view {:?} at {:?}", view, now);
            for key in KEYS {
                prop_assert_eq!(memtable.get(key, view, *now), model.get(key, view, *now));
            }
        }
        prop_assert_eq!(version_count - memtable.version_count(), stats.versions_removed as usize);
        // The sweep reclaimed what it may: per key, at most one version at or below the horizon,
        // and only if it is live.
        let stored: Vec<_> = memtable.iter_versions().collect();
        for key in KEYS {
            let at_or_below: Vec<_> = stored
                .iter()
                .filter(|s| &s.key[..] == key && s.version.get() <= horizon)
                .collect();
            prop_assert!(at_or_below.len() <= 1, "{:?} kept {} versions at or below the horizon", key, at_or_below.len());
            if let Some(kept) = at_or_below.first() {
                let live = matches!(kept.kind, MutationKind::Put { expires_at, .. }
                    if expires_at.is_none_or(|at| at > Timestamp::from_micros(sweep_now)));
                prop_assert!(live, "{:?} kept an absent version at or below the horizon", key);
            }
            // The index agrees with what is stored.
            let newest = stored.iter().filter(|s| &s.key[..] == key).map(|s| s.version).max();
            prop_assert_eq!(memtable.newest_version(key), newest);
        }
        let mut stored_keys: Vec<&[u8]> = stored.iter().map(|s| &s.key[..]).collect();
        stored_keys.dedup();
        prop_assert_eq!(memtable.key_count(), stored_keys.len());
        prop_assert_eq!(memtable.sweep(Version::new(horizon), Timestamp::from_micros(sweep_now)).versions_removed, 0);
    }
}
