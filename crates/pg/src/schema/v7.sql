-- in-mem shared mode, schema version 7: an Interrupted run holds the collection horizon only
-- for a grace period after its owner's lease ran out (as an embedded database's sweeps keep an
-- interrupted run's snapshot only for `interrupted_run_grace`), so that a host that died and
-- never came back does not keep every superseded version of its agents forever. A run taken
-- over later reads what its view lost as `HistoryPruned`, never a wrong value.

DROP FUNCTION inmem_collect_garbage(bytea, bigint, bigint, integer);

-- Collects what no view of p_agent can read any more. The horizon H is the oldest of: the
-- agent's clock; the snapshots of its runs that have not ended, except Interrupted ones whose
-- owner's lease ran out p_interrupted_grace_us ago or more, and of those that ended less than
-- p_ended_retention_us ago; with p_keep_for_us > 0, the newest
-- commit at least that old. A version v of key k, written by run R, goes when:
--   (a) a newer version of k is at or below H (views at or above H never read v);
--   (b) R wrote k again after v (R's newest write of each key stays: a run's own data stays
--       readable for as long as the run exists, and runs are never deleted here);
--   (c) no fork's view reads it: a fork reads each run of its lineage up to a bound (its
--       parent up to its fork point, that parent's parent up to the lower of the two fork
--       points, and so on), and keeps R's newest write of k at or below each of R's bounds;
--   (d) at least p_keep_min_versions newer versions of k at or below H remain (what embedded
--       sweeps keep: the newest versions at or below the horizon).
-- o_horizon is NULL (and nothing is done) while another host collects the agent or a run of
-- it (a fork or not) is beginning; else the horizon now recorded (never lower than before).
CREATE FUNCTION inmem_collect_garbage(p_agent bytea, p_keep_for_us bigint,
    p_ended_retention_us bigint, p_keep_min_versions integer, p_interrupted_grace_us bigint,
    OUT o_horizon bigint, OUT o_removed bigint)
LANGUAGE plpgsql AS $$
DECLARE now_us bigint := inmem_now_us(); h bigint; oldest_run bigint; by_time bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(inmem_gc_lock_key(p_agent)) THEN RETURN; END IF;
  SELECT a.clock INTO h FROM inmem_agent a WHERE a.agent = p_agent;
  IF NOT FOUND THEN o_horizon := 0; o_removed := 0; RETURN; END IF;
  -- A fork's row holds the clock at its fork, but its view reads from its root's snapshot:
  -- every run in the lineage of a live or retained run counts.
  WITH RECURSIVE chain (parent, snapshot) AS (
    SELECT r.parent, r.start_version FROM inmem_run r
      LEFT JOIN inmem_host h ON h.host_id = r.owner_host
      WHERE r.agent = p_agent
        AND CASE
              -- Active: pinned unless it reads as Interrupted past its grace (a host whose
              -- row is gone: pinned, as nobody knows since when).
              WHEN r.status = 0 THEN h.lease_until_us IS NULL
                OR h.lease_until_us > now_us - p_interrupted_grace_us
              WHEN r.status < 2 THEN true
              ELSE r.ended_us IS NULL OR r.ended_us > now_us - p_ended_retention_us
            END
    UNION
    SELECT a.parent, a.start_version FROM chain c JOIN inmem_run a ON a.run_id = c.parent
  )
  SELECT min(c.snapshot) INTO oldest_run FROM chain c;
  h := least(h, oldest_run);  -- least() skips a NULL (no such run)
  IF p_keep_for_us > 0 THEN
    SELECT coalesce(max(c.version), 0) INTO by_time FROM inmem_commit c
      WHERE c.agent = p_agent AND c.ts_us <= now_us - p_keep_for_us;
    h := least(h, by_time);
  END IF;
  INSERT INTO inmem_gc AS g (agent, horizon) VALUES (p_agent, h)
    ON CONFLICT (agent) DO UPDATE SET horizon = greatest(g.horizon, EXCLUDED.horizon)
    RETURNING g.horizon INTO o_horizon;
  WITH RECURSIVE bounds (run_id, bound) AS (
    SELECT f.parent, f.fork_point FROM inmem_run f
      WHERE f.agent = p_agent AND f.parent IS NOT NULL AND f.fork_point IS NOT NULL
    UNION
    SELECT p.parent, least(b.bound, p.fork_point) FROM bounds b
      JOIN inmem_run p ON p.run_id = b.run_id
      WHERE p.parent IS NOT NULL AND p.fork_point IS NOT NULL
  ), gone AS (
    DELETE FROM inmem_version v
    WHERE v.agent = p_agent AND v.version < o_horizon
      AND EXISTS (SELECT 1 FROM inmem_version n
                  WHERE n.agent = p_agent AND n.key = v.key
                    AND n.version > v.version AND n.version <= o_horizon)
      AND EXISTS (SELECT 1 FROM inmem_version o
                  WHERE o.agent = p_agent AND o.key = v.key
                    AND o.version > v.version AND o.run_id = v.run_id)
      AND NOT EXISTS (SELECT 1 FROM bounds b
                      WHERE b.run_id = v.run_id AND b.bound >= v.version
                        AND NOT EXISTS (SELECT 1 FROM inmem_version o
                                        WHERE o.agent = p_agent AND o.key = v.key
                                          AND o.run_id = v.run_id AND o.version > v.version
                                          AND o.version <= b.bound))
      AND (SELECT count(*) FROM inmem_version x
           WHERE x.agent = p_agent AND x.key = v.key AND x.version > v.version
             AND x.version <= o_horizon)
          >= p_keep_min_versions
    RETURNING 1
  )
  SELECT count(*) INTO o_removed FROM gone;
END $$;

-- Hosts of an older build call the four-argument form: for them an Interrupted run holds the
-- horizon for ever, as it did before.
CREATE FUNCTION inmem_collect_garbage(p_agent bytea, p_keep_for_us bigint,
    p_ended_retention_us bigint, p_keep_min_versions integer,
    OUT o_horizon bigint, OUT o_removed bigint)
LANGUAGE sql AS $$
  SELECT * FROM inmem_collect_garbage(p_agent, p_keep_for_us, p_ended_retention_us,
                                      p_keep_min_versions, 4611686018427387903)
$$;
