-- in-mem shared mode, schema version 5: run changes sent again after a lost answer.
--
-- A host whose connection breaks after it sent `inmem_begin_run` or `inmem_update_run` cannot
-- tell whether the change was made, so it sends the same request again. A begin carries a
-- random request id, kept with the run: sent again, it answers as the first send did where that
-- one registered the run (another begin of the same run id is still refused). Ending a run
-- that its owner ended already with the same status succeeds and changes nothing.
ALTER TABLE inmem_run ADD COLUMN begin_request uuid;

DROP FUNCTION inmem_begin_run(bytea, text, text, text, uuid, uuid, bigint, text, text[], bytea);

-- o_status: 0 begun (o_snapshot is the run's snapshot), 1 the host holds no lease, 2 the run
-- exists already (begun by another request).
CREATE FUNCTION inmem_begin_run(p_agent bytea, p_tenant text, p_app text, p_name text,
    p_run uuid, p_parent uuid, p_fork_point bigint, p_host text, p_tags text[], p_metadata bytea,
    p_request uuid, OUT o_status smallint, OUT o_snapshot bigint)
LANGUAGE plpgsql AS $$
DECLARE now_us bigint := inmem_now_us(); r record;
BEGIN
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  INSERT INTO inmem_agent AS a (agent, tenant, app, name) VALUES (p_agent, p_tenant, p_app, p_name)
    ON CONFLICT (agent) DO NOTHING;
  -- The committed clock is a valid cut: every version at or below it is committed and visible,
  -- and later commits take versions above it.
  SELECT a.clock INTO o_snapshot FROM inmem_agent a WHERE a.agent = p_agent;
  INSERT INTO inmem_run (run_id, agent, parent, fork_point, start_version, status, owner_host,
                         created_us, updated_us, tags, metadata, begin_request)
    VALUES (p_run, p_agent, p_parent, p_fork_point, o_snapshot, 0, p_host, now_us, now_us,
            inmem_tag_set(p_tags), p_metadata, p_request)
    ON CONFLICT (run_id) DO NOTHING;
  IF FOUND THEN o_status := 0; RETURN; END IF;
  -- The insert waited for a begin of the same run in flight (the run id's unique index), so
  -- the row it conflicted with is committed. It is this request's if it carries its id, and
  -- "begun" is still the answer only while nothing happened to the run since (no takeover,
  -- no end): otherwise the caller learns what did from the run itself.
  SELECT x.begin_request, x.start_version, x.owner_host, x.owner_epoch, x.status INTO r
    FROM inmem_run x WHERE x.run_id = p_run;
  IF r.begin_request = p_request AND r.owner_host = p_host AND r.owner_epoch = 1
     AND r.status < 2 THEN
    o_status := 0; o_snapshot := r.start_version; RETURN;
  END IF;
  o_status := 2; o_snapshot := NULL;
END $$;

-- The begin of hosts of schema version 4, which stay connected while the store is upgraded
-- (upgrade every host together; until then their begins are not resolved after a lost
-- answer): a request id of its own each time.
CREATE FUNCTION inmem_begin_run(p_agent bytea, p_tenant text, p_app text, p_name text,
    p_run uuid, p_parent uuid, p_fork_point bigint, p_host text, p_tags text[], p_metadata bytea,
    OUT o_status smallint, OUT o_snapshot bigint)
LANGUAGE sql AS $$
  SELECT b.o_status, b.o_snapshot FROM inmem_begin_run(p_agent, p_tenant, p_app, p_name, p_run,
    p_parent, p_fork_point, p_host, p_tags, p_metadata, gen_random_uuid()) b
$$;

DROP FUNCTION inmem_update_run(uuid, bigint, smallint, text, text[], bytea);

-- o_status: 0 updated (or ended again with the status it ended with), 1 fenced (o_epoch is the
-- run's epoch), 2 no such run, 3 the run has ended.
CREATE FUNCTION inmem_update_run(p_run uuid, p_epoch bigint, p_status smallint, p_error text,
    p_tags text[], p_metadata bytea,
    OUT o_status smallint, OUT o_epoch bigint, OUT o_run_status smallint)
LANGUAGE plpgsql AS $$
DECLARE r record; now_us bigint := inmem_now_us();
BEGIN
  SELECT x.status, x.owner_epoch INTO r FROM inmem_run x WHERE x.run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN o_status := 2; RETURN; END IF;
  IF r.owner_epoch <> p_epoch THEN o_status := 1; o_epoch := r.owner_epoch; RETURN; END IF;
  IF r.status >= 2 THEN
    IF p_status = r.status AND p_tags IS NULL AND p_metadata IS NULL THEN
      o_status := 0; RETURN;
    END IF;
    o_status := 3; o_run_status := r.status; RETURN;
  END IF;
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
