-- in-mem shared mode, schema version 6: garbage collection the store decides.
--
-- The store computes the horizon of a collection itself, from what it knows of every host's
-- runs, and keeps it per agent in `inmem_gc` (not on the agent's clock row, which every commit
-- locks): catch-ups report it, so a host whose cache was filled after a collection knows which
-- old views it can no longer answer, and a fork whose view would need collected versions is
-- refused.

CREATE TABLE inmem_gc (
  agent bytea PRIMARY KEY REFERENCES inmem_agent,
  horizon bigint NOT NULL               -- versions below it may have been collected
);

DROP FUNCTION inmem_collect_garbage(bytea, bigint);

-- The advisory lock key of an agent's collections (forks beginning take it shared).
CREATE FUNCTION inmem_gc_lock_key(p_agent bytea) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended('inmem_gc:' || encode(p_agent, 'hex'), 0)
$$;

-- Collects what no view of p_agent can read any more. The horizon H is the oldest of: the
-- agent's clock; the snapshots of its runs that have not ended (Interrupted ones too) and of
-- those that ended less than p_ended_retention_us ago; with p_keep_for_us > 0, the newest
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
    p_ended_retention_us bigint, p_keep_min_versions integer,
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
      WHERE r.agent = p_agent
        AND (r.status < 2 OR r.ended_us IS NULL OR r.ended_us > now_us - p_ended_retention_us)
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

-- A fork is refused (o_status 3) when its view would need versions already collected: its
-- parent's snapshot is below the agent's recorded horizon. It takes the collection lock
-- shared, so a collection either counts its row or runs after it.
CREATE OR REPLACE FUNCTION inmem_begin_run(p_agent bytea, p_tenant text, p_app text,
    p_name text, p_run uuid, p_parent uuid, p_fork_point bigint, p_host text, p_tags text[],
    p_metadata bytea, p_request uuid, OUT o_status smallint, OUT o_snapshot bigint)
LANGUAGE plpgsql AS $$
DECLARE now_us bigint := inmem_now_us(); r record; parent_snapshot bigint;
BEGIN
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  INSERT INTO inmem_agent AS a (agent, tenant, app, name) VALUES (p_agent, p_tenant, p_app, p_name)
    ON CONFLICT (agent) DO NOTHING;
  -- Every begin, not only a fork's: a run whose row a running collection cannot see yet would
  -- get a snapshot below the horizon that collection computes.
  PERFORM pg_advisory_xact_lock_shared(inmem_gc_lock_key(p_agent));
  IF p_parent IS NOT NULL THEN
    -- The oldest snapshot in the parent's lineage: what the fork's view reads from.
    WITH RECURSIVE chain (run_id, parent, snapshot) AS (
      SELECT x.run_id, x.parent, x.start_version FROM inmem_run x WHERE x.run_id = p_parent
      UNION
      SELECT a.run_id, a.parent, a.start_version FROM chain c JOIN inmem_run a ON a.run_id = c.parent
    )
    SELECT min(c.snapshot) INTO parent_snapshot FROM chain c;
    o_snapshot := coalesce((SELECT g.horizon FROM inmem_gc g WHERE g.agent = p_agent), 0);
    IF parent_snapshot < o_snapshot THEN
      o_status := 3; RETURN;  -- o_snapshot: the horizon
    END IF;
  END IF;
  -- The committed clock is a valid cut: every version at or below it is committed and visible,
  -- and later commits take versions above it.
  SELECT a.clock INTO o_snapshot FROM inmem_agent a WHERE a.agent = p_agent;
  INSERT INTO inmem_run (run_id, agent, parent, fork_point, start_version, status, owner_host,
                         created_us, updated_us, tags, metadata, begin_request)
    VALUES (p_run, p_agent, p_parent, p_fork_point, o_snapshot, 0, p_host, now_us, now_us,
            inmem_tag_set(p_tags), p_metadata, p_request)
    ON CONFLICT (run_id) DO NOTHING;
  IF FOUND THEN o_status := 0; RETURN; END IF;
  SELECT x.begin_request, x.start_version, x.owner_host, x.owner_epoch, x.status INTO r
    FROM inmem_run x WHERE x.run_id = p_run;
  IF r.begin_request = p_request AND r.owner_host = p_host AND r.owner_epoch = 1
     AND r.status < 2 THEN
    o_status := 0; o_snapshot := r.start_version; RETURN;
  END IF;
  o_status := 2; o_snapshot := NULL;
END $$;
