-- in-mem shared mode, schema version 1. Applied once per schema by `migrate` (schema.rs), under
-- an advisory lock, in one transaction. Times are microseconds since the Unix epoch, read from
-- the server's clock so that every host agrees on leases and TTLs.

CREATE FUNCTION inmem_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$$;

-- One row per host: an Active run whose owner's lease has run out reads as Interrupted.
CREATE TABLE inmem_host (
  host_id text PRIMARY KEY,
  lease_until_us bigint NOT NULL
);

-- One row per agent: its clock is the version of its newest commit. Versions are per agent,
-- dense and in commit order, because every commit takes the next one under this row's lock.
CREATE TABLE inmem_agent (
  agent bytea PRIMARY KEY,                  -- AgentId's encoding
  tenant text NOT NULL,
  app text NOT NULL,
  name text NOT NULL,
  clock bigint NOT NULL DEFAULT 0
);

CREATE TABLE inmem_run (
  run_id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,  -- begin order, for queries
  agent bytea NOT NULL REFERENCES inmem_agent,
  parent uuid,
  fork_point bigint,
  start_version bigint NOT NULL,            -- the run's snapshot
  status smallint NOT NULL,                 -- 0 Active, 1 Paused, 2 Completed, 3 Failed, 4 Cancelled
  owner_host text NOT NULL REFERENCES inmem_host,
  owner_epoch bigint NOT NULL DEFAULT 1,    -- fencing token, +1 at every takeover
  created_us bigint NOT NULL,
  updated_us bigint NOT NULL,
  ended_us bigint,
  tags text[] NOT NULL DEFAULT '{}',
  metadata bytea,
  error text
);
CREATE INDEX inmem_run_agent ON inmem_run (agent, status);
CREATE INDEX inmem_run_parent ON inmem_run (parent);
CREATE INDEX inmem_run_tags ON inmem_run USING gin (tags);

CREATE TABLE inmem_version (
  agent bytea NOT NULL,
  key bytea NOT NULL,                       -- Key's memcomparable encoding
  version bigint NOT NULL,
  run_id uuid NOT NULL,
  tag smallint NOT NULL,                    -- TypeTag's byte
  ts_us bigint NOT NULL,
  expires_us bigint,
  value bytea                               -- canonical Value bytes; NULL for a deletion
);
CREATE UNIQUE INDEX inmem_version_key ON inmem_version (agent, key, version DESC);
CREATE INDEX inmem_version_log ON inmem_version (agent, version);
-- Event records are create-only; commits check first, this is the backstop.
CREATE UNIQUE INDEX inmem_event_once ON inmem_version (agent, key) WHERE tag = 2;

CREATE TABLE inmem_commit (
  agent bytea NOT NULL,
  version bigint NOT NULL,
  commit_id uuid NOT NULL,
  run_id uuid NOT NULL,
  ts_us bigint NOT NULL,
  PRIMARY KEY (agent, version),
  UNIQUE (agent, commit_id)
);

-- Runs as readers see them: status 5 (Interrupted) is derived, never stored.
CREATE VIEW inmem_run_seen AS
  SELECT r.*, a.tenant, a.app, a.name,
         CASE WHEN r.status = 0 AND NOT EXISTS (
                SELECT 1 FROM inmem_host h
                WHERE h.host_id = r.owner_host AND h.lease_until_us > inmem_now_us())
              THEN 5::smallint ELSE r.status END AS seen_status
  FROM inmem_run r JOIN inmem_agent a USING (agent);

-- Tags sorted in byte order (as Rust sorts strings), each once.
CREATE FUNCTION inmem_tag_set(p_tags text[]) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(DISTINCT t COLLATE "C" ORDER BY t COLLATE "C"), '{}') FROM unnest(p_tags) AS t
$$;

CREATE FUNCTION inmem_lease_holds(p_host text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM inmem_host h WHERE h.host_id = p_host AND h.lease_until_us > inmem_now_us())
$$;

-- o_status: 0 begun, 1 the host holds no lease, 2 the run id is in use.
CREATE FUNCTION inmem_begin_run(p_agent bytea, p_tenant text, p_app text, p_name text,
    p_run uuid, p_parent uuid, p_fork_point bigint, p_host text, p_tags text[], p_metadata bytea,
    OUT o_status smallint, OUT o_snapshot bigint)
LANGUAGE plpgsql AS $$
DECLARE now_us bigint := inmem_now_us();
BEGIN
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  INSERT INTO inmem_agent AS a (agent, tenant, app, name) VALUES (p_agent, p_tenant, p_app, p_name)
    ON CONFLICT (agent) DO NOTHING;
  -- The committed clock is a valid cut: every version at or below it is committed and visible,
  -- and later commits take versions above it.
  SELECT a.clock INTO o_snapshot FROM inmem_agent a WHERE a.agent = p_agent;
  INSERT INTO inmem_run (run_id, agent, parent, fork_point, start_version, status, owner_host,
                         created_us, updated_us, tags, metadata)
    VALUES (p_run, p_agent, p_parent, p_fork_point, o_snapshot, 0, p_host, now_us, now_us,
            inmem_tag_set(p_tags), p_metadata)
    ON CONFLICT (run_id) DO NOTHING;
  IF NOT FOUND THEN o_status := 2; o_snapshot := NULL; RETURN; END IF;
  o_status := 0;
END $$;

-- o_status: 0 taken over, 1 the host holds no lease, 2 no such run, 3 the run has ended.
CREATE FUNCTION inmem_take_over_run(p_run uuid, p_host text,
    OUT o_status smallint, OUT o_snapshot bigint, OUT o_epoch bigint, OUT o_run_status smallint)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  -- FOR UPDATE waits for the former owner's commits in flight (they hold the row FOR SHARE).
  SELECT x.status, x.start_version INTO r FROM inmem_run x WHERE x.run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN o_status := 2; RETURN; END IF;
  IF r.status >= 2 THEN o_status := 3; o_run_status := r.status; RETURN; END IF;
  UPDATE inmem_run x SET owner_host = p_host, owner_epoch = x.owner_epoch + 1, status = 0,
                         updated_us = inmem_now_us()
    WHERE x.run_id = p_run RETURNING x.owner_epoch INTO o_epoch;
  o_snapshot := r.start_version;
  o_status := 0;
END $$;

-- o_status: 0 updated, 1 fenced (o_epoch is the run's epoch), 2 no such run, 3 the run has ended.
CREATE FUNCTION inmem_update_run(p_run uuid, p_epoch bigint, p_status smallint, p_error text,
    p_tags text[], p_metadata bytea,
    OUT o_status smallint, OUT o_epoch bigint, OUT o_run_status smallint)
LANGUAGE plpgsql AS $$
DECLARE r record; now_us bigint := inmem_now_us();
BEGIN
  SELECT x.status, x.owner_epoch INTO r FROM inmem_run x WHERE x.run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN o_status := 2; RETURN; END IF;
  IF r.owner_epoch <> p_epoch THEN o_status := 1; o_epoch := r.owner_epoch; RETURN; END IF;
  IF r.status >= 2 THEN o_status := 3; o_run_status := r.status; RETURN; END IF;
  UPDATE inmem_run x SET
      status = coalesce(p_status, x.status),
      ended_us = CASE WHEN p_status >= 2 THEN now_us ELSE x.ended_us END,
      error = coalesce(p_error, x.error),
      tags = CASE WHEN p_tags IS NULL THEN x.tags
                  ELSE inmem_tag_set(p_tags) END,
      metadata = coalesce(p_metadata, x.metadata),
      updated_us = now_us
    WHERE x.run_id = p_run;
  o_status := 0;
END $$;

-- Commits a batch in one transaction, each commit with its own outcome, in order.
-- Commit i has the writes w_*[lo:hi] where the counts give each commit's number of writes.
-- o_status: 0 committed at o_version (at o_ts_us), 1 fenced (o_version is the run's epoch),
--           2 the run is missing, not Active or of another agent, 3 committed earlier at
--           o_version (same commit id), 4 a create-only key exists (o_detail is the key).
-- Lock order, the same everywhere: run rows (by id), then agent rows (by agent).
CREATE FUNCTION inmem_commit_batch(p_agents bytea[], p_runs uuid[], p_epochs bigint[],
    p_commits uuid[], p_counts int[],
    w_keys bytea[], w_tags smallint[], w_values bytea[], w_ttls_us bigint[])
RETURNS TABLE (o_status smallint, o_version bigint, o_ts_us bigint, o_detail bytea)
LANGUAGE plpgsql AS $$
DECLARE
  now_us bigint := inmem_now_us();
  lo int := 1;
  hi int;
  v bigint;
  r record;
  dup bytea;
BEGIN
  PERFORM 1 FROM inmem_run x WHERE x.run_id = ANY (p_runs) ORDER BY x.run_id FOR SHARE;
  PERFORM 1 FROM inmem_agent a WHERE a.agent = ANY (p_agents) ORDER BY a.agent FOR UPDATE;
  FOR i IN 1 .. coalesce(array_length(p_runs, 1), 0) LOOP
    hi := lo + p_counts[i] - 1;
    o_status := NULL; o_version := NULL; o_ts_us := NULL; o_detail := NULL;
    SELECT c.version INTO v FROM inmem_commit c
      WHERE c.agent = p_agents[i] AND c.commit_id = p_commits[i];
    IF FOUND THEN
      o_status := 3; o_version := v;
    ELSE
      SELECT x.status, x.owner_epoch, x.agent INTO r FROM inmem_run x WHERE x.run_id = p_runs[i];
      IF NOT FOUND OR r.status <> 0 OR r.agent <> p_agents[i] THEN
        o_status := 2;
      ELSIF r.owner_epoch <> p_epochs[i] THEN
        o_status := 1; o_version := r.owner_epoch;
      ELSE
        SELECT u.k INTO dup
          FROM unnest(w_keys[lo:hi], w_tags[lo:hi]) AS u(k, t)
          WHERE u.t = 2 AND (
            EXISTS (SELECT 1 FROM inmem_version w WHERE w.agent = p_agents[i] AND w.key = u.k)
            OR (SELECT count(*) FROM unnest(w_keys[lo:hi], w_tags[lo:hi]) AS z(k, t)
                WHERE z.t = 2 AND z.k = u.k) > 1)
          LIMIT 1;
        IF FOUND THEN
          o_status := 4; o_detail := dup;
        ELSE
          UPDATE inmem_agent a SET clock = a.clock + 1 WHERE a.agent = p_agents[i]
            RETURNING a.clock INTO v;
          INSERT INTO inmem_version (agent, key, version, run_id, tag, ts_us, expires_us, value)
            SELECT p_agents[i], u.k, v, p_runs[i], u.t, now_us, now_us + u.ttl, u.val
            FROM unnest(w_keys[lo:hi], w_tags[lo:hi], w_values[lo:hi], w_ttls_us[lo:hi])
              AS u(k, t, val, ttl);
          INSERT INTO inmem_commit (agent, version, commit_id, run_id, ts_us)
            VALUES (p_agents[i], v, p_commits[i], p_runs[i], now_us);
          o_status := 0; o_version := v; o_ts_us := now_us;
        END IF;
      END IF;
    END IF;
    RETURN NEXT;
    lo := hi + 1;
  END LOOP;
END $$;

-- Removes what no view at or above the horizon sees; NULL if another session is collecting
-- the same agent now.
CREATE FUNCTION inmem_collect_garbage(p_agent bytea, p_horizon bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE now_us bigint := inmem_now_us(); removed bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtextextended('inmem_gc:' || encode(p_agent, 'hex'), 0)) THEN
    RETURN NULL;
  END IF;
  WITH newest AS (
    SELECT DISTINCT ON (v.key) v.key, v.version,
           (v.value IS NULL OR (v.expires_us IS NOT NULL AND v.expires_us <= now_us)) AS dead
    FROM inmem_version v WHERE v.agent = p_agent AND v.version <= p_horizon
    ORDER BY v.key, v.version DESC
  ), gone AS (
    DELETE FROM inmem_version v USING newest n
    WHERE v.agent = p_agent AND v.key = n.key
      AND (v.version < n.version OR (v.version = n.version AND n.dead))
    RETURNING 1
  )
  SELECT count(*) INTO removed FROM gone;
  RETURN removed;
END $$;
