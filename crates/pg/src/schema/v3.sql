-- in-mem shared mode, schema version 3: `inmem_commit_set`, the commits of a batch in a fixed
-- handful of statements (the locks, one query for every check, one statement for every write)
-- instead of four per commit. `PgStore` sends it batches of two commits or more that write no
-- create-only key (event records keep the per-commit checks of `inmem_commit_batch`, which see
-- the batch's own earlier writes). Same arguments, outcomes and lock order as
-- `inmem_commit_batch`, and every check runs after the locks, in a statement of its own, so it
-- sees a concurrent duplicate of a commit. A batch that names one commit id twice fails whole
-- on the unique index (the shipper never sends one).
CREATE FUNCTION inmem_commit_set(p_agents bytea[], p_runs uuid[], p_epochs bigint[],
    p_commits uuid[], p_counts int[],
    w_keys bytea[], w_tags smallint[], w_values bytea[], w_ttls_us bigint[])
RETURNS TABLE (o_status smallint, o_version bigint, o_ts_us bigint, o_detail bytea)
LANGUAGE plpgsql AS $$
DECLARE
  now_us bigint := inmem_now_us();
  n int := coalesce(array_length(p_runs, 1), 0);
  -- Per request, as found after the locks: its run's status, epoch and agent, the version of
  -- an earlier commit with its id, its agent's clock, and the first request of its agent (whose
  -- slot of `clk` counts that agent's versions).
  st smallint[]; ep bigint[]; ag bytea[]; prior bigint[]; clk bigint[]; slot int[];
  statuses smallint[] := '{}';
  versions bigint[] := '{}';
  -- The accepted commits and their writes, for the inserts.
  c_agents bytea[] := '{}'; c_versions bigint[] := '{}'; c_ids uuid[] := '{}'; c_runs uuid[] := '{}';
  v_agents bytea[] := '{}'; v_versions bigint[] := '{}'; v_runs uuid[] := '{}';
  v_keys bytea[] := '{}'; v_tags smallint[] := '{}'; v_values bytea[] := '{}';
  v_ttls bigint[] := '{}';
  lo int := 1;
  hi int;
  v bigint;
BEGIN
  PERFORM 1 FROM inmem_run x WHERE x.run_id = ANY (p_runs) ORDER BY x.run_id FOR SHARE;
  PERFORM 1 FROM inmem_agent a WHERE a.agent = ANY (p_agents) ORDER BY a.agent FOR UPDATE;
  SELECT array_agg(x.status ORDER BY q.i), array_agg(x.owner_epoch ORDER BY q.i),
         array_agg(x.agent ORDER BY q.i), array_agg(c.version ORDER BY q.i),
         array_agg(a.clock ORDER BY q.i), array_agg(q.first::int ORDER BY q.i)
    INTO st, ep, ag, prior, clk, slot
    FROM (SELECT u.*, min(u.i) OVER (PARTITION BY u.agent) AS first
            FROM unnest(p_runs, p_agents, p_commits) WITH ORDINALITY AS u(run_id, agent, commit_id, i)
         ) q
    LEFT JOIN inmem_run x ON x.run_id = q.run_id
    LEFT JOIN inmem_commit c ON c.agent = q.agent AND c.commit_id = q.commit_id
    LEFT JOIN inmem_agent a ON a.agent = q.agent;
  FOR i IN 1 .. n LOOP
    hi := lo + p_counts[i] - 1;
    -- The order of checks of `inmem_commit_batch`.
    IF prior[i] IS NOT NULL THEN
      statuses := statuses || 3::smallint; versions := versions || prior[i];
    ELSIF st[i] IS NULL OR ag[i] <> p_agents[i] OR st[i] <> 0 OR clk[i] IS NULL THEN
      statuses := statuses || 2::smallint; versions := versions || NULL::bigint;
    ELSIF ep[i] <> p_epochs[i] THEN
      statuses := statuses || 1::smallint; versions := versions || ep[i];
    ELSE
      clk[slot[i]] := clk[slot[i]] + 1;
      v := clk[slot[i]];
      statuses := statuses || 0::smallint; versions := versions || v;
      c_agents := c_agents || p_agents[i]; c_versions := c_versions || v;
      c_ids := c_ids || p_commits[i]; c_runs := c_runs || p_runs[i];
      FOR j IN lo .. hi LOOP
        v_agents := v_agents || p_agents[i]; v_versions := v_versions || v;
        v_runs := v_runs || p_runs[i]; v_keys := v_keys || w_keys[j];
        v_tags := v_tags || w_tags[j]; v_values := v_values || w_values[j];
        v_ttls := v_ttls || w_ttls_us[j];
      END LOOP;
    END IF;
    lo := hi + 1;
  END LOOP;
  IF array_length(c_ids, 1) IS NOT NULL THEN
    WITH clocks AS (
      UPDATE inmem_agent a SET clock = m.clock
        FROM (SELECT u.agent, max(u.version) AS clock
                FROM unnest(c_agents, c_versions) AS u(agent, version) GROUP BY u.agent) m
        WHERE a.agent = m.agent
    ), commits AS (
      INSERT INTO inmem_commit (agent, version, commit_id, run_id, ts_us)
        SELECT u.agent, u.version, u.id, u.run, now_us
        FROM unnest(c_agents, c_versions, c_ids, c_runs) AS u(agent, version, id, run)
    )
    INSERT INTO inmem_version (agent, key, version, run_id, tag, ts_us, expires_us, value)
      SELECT u.agent, u.k, u.version, u.run, u.t, now_us, now_us + u.ttl, u.val
      FROM unnest(v_agents, v_keys, v_versions, v_runs, v_tags, v_values, v_ttls)
        AS u(agent, k, version, run, t, val, ttl);
  END IF;
  FOR i IN 1 .. n LOOP
    o_status := statuses[i];
    o_version := versions[i];
    o_ts_us := CASE WHEN statuses[i] = 0 THEN now_us END;
    o_detail := NULL;
    RETURN NEXT;
  END LOOP;
END $$;
