-- in-mem shared mode, schema version 2: `inmem_commit_batch` in fewer statements per commit.
-- PL/pgSQL runs its statements one by one, each costing about as much as a round trip's
-- server side, so a commit now takes four (the run's row, the clock, the checks, the writes)
-- where version 1 took eight. Same signature, same outcomes, same lock order (run rows by id,
-- then agent rows by agent), and every check still runs after the agent row is locked, with a
-- snapshot taken after the lock, so a concurrent duplicate of the commit (or of an event key)
-- is seen.
--
-- The clock is taken first (the UPDATE locks the agent row) and given back if a check then
-- refuses the commit: nobody can see the intermediate value, since the row stays locked until
-- the transaction ends.
CREATE OR REPLACE FUNCTION inmem_commit_batch(p_agents bytea[], p_runs uuid[], p_epochs bigint[],
    p_commits uuid[], p_counts int[],
    w_keys bytea[], w_tags smallint[], w_values bytea[], w_ttls_us bigint[])
RETURNS TABLE (o_status smallint, o_version bigint, o_ts_us bigint, o_detail bytea)
LANGUAGE plpgsql AS $$
DECLARE
  now_us bigint := inmem_now_us();
  n int := coalesce(array_length(p_runs, 1), 0);
  lo int := 1;
  hi int;
  v bigint;
  prior bigint;
  r record;
  dup bytea;
BEGIN
  IF n > 1 THEN
    -- Several commits: every lock up front, in the global order. One commit takes its two
    -- locks in that order below.
    PERFORM 1 FROM inmem_run x WHERE x.run_id = ANY (p_runs) ORDER BY x.run_id FOR SHARE;
    PERFORM 1 FROM inmem_agent a WHERE a.agent = ANY (p_agents) ORDER BY a.agent FOR UPDATE;
  END IF;
  FOR i IN 1 .. n LOOP
    hi := lo + p_counts[i] - 1;
    o_status := NULL; o_version := NULL; o_ts_us := NULL; o_detail := NULL;
    SELECT x.status, x.owner_epoch, x.agent INTO r
      FROM inmem_run x WHERE x.run_id = p_runs[i] FOR SHARE;
    IF NOT FOUND OR r.agent <> p_agents[i] THEN
      o_status := 2;
    ELSE
      UPDATE inmem_agent a SET clock = a.clock + 1 WHERE a.agent = p_agents[i]
        RETURNING a.clock INTO v;
      SELECT (SELECT c.version FROM inmem_commit c
                WHERE c.agent = p_agents[i] AND c.commit_id = p_commits[i]),
             CASE WHEN 2 = ANY (w_tags[lo:hi]) THEN
               (SELECT u.k FROM unnest(w_keys[lo:hi], w_tags[lo:hi]) AS u(k, t)
                 WHERE u.t = 2 AND (
                   EXISTS (SELECT 1 FROM inmem_version w
                           WHERE w.agent = p_agents[i] AND w.key = u.k)
                   OR (SELECT count(*) FROM unnest(w_keys[lo:hi], w_tags[lo:hi]) AS z(k, t)
                       WHERE z.t = 2 AND z.k = u.k) > 1)
                 LIMIT 1)
             END
        INTO prior, dup;
      -- The same order of checks as version 1: a commit sent again is answered as committed
      -- whatever happened to its run since.
      IF prior IS NOT NULL THEN
        o_status := 3; o_version := prior;
      ELSIF r.status <> 0 THEN
        o_status := 2;
      ELSIF r.owner_epoch <> p_epochs[i] THEN
        o_status := 1; o_version := r.owner_epoch;
      ELSIF dup IS NOT NULL THEN
        o_status := 4; o_detail := dup;
      END IF;
      IF o_status IS NOT NULL THEN
        UPDATE inmem_agent a SET clock = a.clock - 1 WHERE a.agent = p_agents[i];
      ELSE
        WITH c AS (
          INSERT INTO inmem_commit (agent, version, commit_id, run_id, ts_us)
            VALUES (p_agents[i], v, p_commits[i], p_runs[i], now_us)
        )
        INSERT INTO inmem_version (agent, key, version, run_id, tag, ts_us, expires_us, value)
          SELECT p_agents[i], u.k, v, p_runs[i], u.t, now_us, now_us + u.ttl, u.val
          FROM unnest(w_keys[lo:hi], w_tags[lo:hi], w_values[lo:hi], w_ttls_us[lo:hi])
            AS u(k, t, val, ttl);
        o_status := 0; o_version := v; o_ts_us := now_us;
      END IF;
    END IF;
    RETURN NEXT;
    lo := hi + 1;
  END LOOP;
END $$;
