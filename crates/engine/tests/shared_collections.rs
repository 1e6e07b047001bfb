//! Retention in shared mode: collections in the store keep what views read (an ended run's own
//! data, forks' parents' writes, live runs' snapshots), and a host whose cache was filled after a
//! collection answers an old view only where the answer was kept, else `HistoryPruned` (on
//! `MemStore`, and on PostgreSQL when `INMEM_PG_URL` names a server).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod backend_kit;

use std::time::Duration;

use backend_kit::{on_shared_backends, store_of};
use in_mem_core_types::{AgentId, Value};
use in_mem_engine::{At, Database, Error, HistoryRetention, RemoteOptions};

fn agent() -> AgentId {
    AgentId::new("tenant", "app", "agent")
}

#[test]
fn a_collection_in_the_store_keeps_what_views_read_and_a_host_filled_after_it_knows_what_it_lacks()
{
    on_shared_backends(|cluster| {
        let a = cluster.host_with("a", no_history);
        let first = a.begin_run_in(&agent()).unwrap();
        a.put(first, b"k", b"1").unwrap();
        // A run that reads k@1 from its snapshot, ended before k is written again.
        let mid = a.begin_run_in(&agent()).unwrap();
        assert_eq!(a.get(mid, b"k").unwrap(), Some(b"1".to_vec()));
        a.end_run(mid).unwrap();
        a.put(first, b"k", b"2").unwrap();
        a.put(first, b"own", b"x").unwrap();
        a.end_run(first).unwrap();
        let second = a.begin_run_in(&agent()).unwrap();
        a.put(second, b"k", b"3").unwrap();
        a.end_run(second).unwrap();
        let live = a.begin_run_in(&agent()).unwrap();
        // k@1 goes: the first run wrote k again, and no live view reads below the live run.
        assert!(a.sweep().versions_removed >= 1);
        let b = cluster.host_with("b", no_history);
        assert_eq!(b.get(live, b"k").unwrap(), Some(b"3".to_vec()));
        // An ended run's own data stays readable on a host filled after the collection.
        assert_eq!(b.get(first, b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(b.get(first, b"own").unwrap(), Some(b"x".to_vec()));
        // What a view read of the agent's memory may be gone there: refused, not guessed (k@1,
        // which the middle run read, was collected: its cache would answer "none").
        assert!(matches!(b.get(mid, b"k"), Err(Error::HistoryPruned { .. })));
        // What its view read of the agent's memory may be gone there: refused, not guessed.
        assert!(matches!(
            b.get(second, b"own"),
            Err(Error::HistoryPruned { .. })
        ));
        // A fork would read collected history.
        assert!(matches!(
            b.fork_run(first, At::Now),
            Err(Error::HistoryPruned { .. })
        ));
        // The host that held everything before the collection still does.
        assert_eq!(a.get(second, b"own").unwrap(), Some(b"x".to_vec()));
        // A dump from the host filled after it says what it lacks, and a database restored
        // from it answers as that host does.
        let dump = b.dump(None).unwrap();
        assert!(dump.history_from > 0);
        let dir = tempfile::tempdir().unwrap();
        let restored = Database::restore(dir.path().join("db"), &dump).unwrap();
        assert_eq!(restored.get(live, b"k").unwrap(), Some(b"3".to_vec()));
        assert_eq!(restored.get(first, b"own").unwrap(), Some(b"x".to_vec()));
        assert!(matches!(
            restored.get(mid, b"k"),
            Err(Error::HistoryPruned { .. })
        ));
    });
}

#[test]
fn an_interrupted_run_past_its_grace_pins_nothing_and_then_reads_what_it_lost_as_pruned() {
    on_shared_backends(|cluster| {
        let patient =
            |o: RemoteOptions| no_history(o).interrupted_run_grace(Duration::from_secs(3600));
        let impatient = |o: RemoteOptions| no_history(o).interrupted_run_grace(Duration::ZERO);
        let b = cluster.host_with("b", patient);
        let writer = b.begin_run_in(&agent()).unwrap();
        b.put(writer, b"k", b"1").unwrap();
        // A run of host a reads k@1; host a then dies, and its lease runs out.
        let a = cluster.host_with("a", patient);
        let stuck = a.begin_run_in(&agent()).unwrap();
        assert_eq!(a.get(stuck, b"k").unwrap(), Some(b"1".to_vec()));
        drop(a);
        store_of(cluster)
            .renew_lease(&format!("a-{}", cluster.schema), Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        b.put(writer, b"k", b"2").unwrap();
        b.end_run(writer).unwrap();
        let live = b.begin_run_in(&agent()).unwrap();
        // Within its grace the interrupted run's view is kept whole.
        assert_eq!(b.sweep().versions_removed, 0);
        // Past it (a host asking with no grace), k@1 goes.
        let c = cluster.host_with("c", impatient);
        assert_eq!(c.get(live, b"k").unwrap(), Some(b"2".to_vec()));
        assert!(c.sweep().versions_removed >= 1);
        // Taken over after that, the run reads what its view lost as pruned, never "2" or none.
        let d = cluster.host_with("d", impatient);
        d.take_over_run(stuck).unwrap();
        assert!(matches!(
            d.get(stuck, b"k"),
            Err(Error::HistoryPruned { .. })
        ));
        d.put(stuck, b"own", b"x").unwrap();
        assert_eq!(d.get(stuck, b"own").unwrap(), Some(b"x".to_vec()));
    });
}

/// What a collection with no history kept asks of a host: ended runs' views not retained.
fn no_history(options: RemoteOptions) -> RemoteOptions {
    options
        .history(HistoryRetention {
            keep_for: Duration::ZERO,
            keep_min_versions: 1,
        })
        .ended_run_retention(Duration::ZERO)
        .collect_every(Duration::ZERO)
}

/// Either the right answer or `HistoryPruned`: never another value.
fn right_or_pruned<T: PartialEq + std::fmt::Debug>(got: Result<T, Error>, right: &T) {
    match got {
        Ok(value) => assert_eq!(&value, right, "a wrong answer"),
        Err(Error::HistoryPruned { .. }) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_fork_of_a_fork_reads_its_grandparent_right_after_a_collection() {
    on_shared_backends(|cluster| {
        let a = cluster.host_with("a", no_history);
        let root = a.begin_run_in(&agent()).unwrap();
        a.put(root, b"k", b"1").unwrap();
        let first_fork = a.fork_run(root, At::Now).unwrap();
        let read_below = a.put(root, b"k", b"2").unwrap();
        a.put(root, b"k", b"3").unwrap();
        let child = a.fork_run(root, At::Now).unwrap();
        // Forked below the child's own fork point: it reads the root's k@2.
        let grandchild = a.fork_run(child, At::Version(read_below)).unwrap();
        assert_eq!(a.get(grandchild, b"k").unwrap(), Some(b"2".to_vec()));
        a.put(root, b"k", b"4").unwrap();
        for run in [first_fork, child, grandchild, root] {
            a.end_run(run).unwrap();
        }
        let _live = a.begin_run_in(&agent()).unwrap();
        a.sweep();
        let b = cluster.host_with("b", no_history);
        assert_eq!(b.get(grandchild, b"k").unwrap(), Some(b"2".to_vec()));
    });
}

#[test]
fn a_database_restored_from_a_host_filled_after_a_collection_never_answers_wrong() {
    on_shared_backends(|cluster| {
        let a = cluster.host_with("a", no_history);
        let run = a.begin_run_in(&agent()).unwrap();
        a.transaction(run, |tx| {
            tx.cells().set("c", Value::from("one")).map(|_| ())
        })
        .unwrap();
        a.put(run, b"marker", b"m").unwrap();
        a.transaction(run, |tx| {
            tx.cells().set("c", Value::from("two")).map(|_| ())
        })
        .unwrap();
        let _live = a.begin_run_in(&agent()).unwrap();
        a.end_run(run).unwrap();
        a.sweep();
        let b = cluster.host_with("b", no_history);
        // The view right after the marker's commit (a restored database numbers its commits
        // anew, so the marker's version is read from each).
        let cell_then = |db: &Database| {
            let marker = db
                .run_view_at(run, At::Now)
                .and_then(|view| view.get_versioned(b"marker"))
                .unwrap()
                .unwrap()
                .version;
            db.run_view_at(run, At::Version(marker))
                .and_then(|mut view| view.cells().get("c"))
                .map(|cell| cell.map(|c| c.value))
        };
        let one = Some(Value::from("one"));
        right_or_pruned(cell_then(&b), &one);
        let dir = tempfile::tempdir().unwrap();
        let restored = Database::restore(dir.path().join("db"), &b.dump(None).unwrap()).unwrap();
        right_or_pruned(cell_then(&restored), &one);
    });
}
