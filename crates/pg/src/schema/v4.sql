-- in-mem shared mode, schema version 4: handing a live run over safely.
--
-- A host serves reads of the runs it owns from its cache, trusting that it still owns them for
-- as long as its last confirmed lease runs. So a takeover now reports how long the former
-- owner's lease still had to run (the new owner writes only after that), and a host asks which
-- runs it still owns each time it renews its lease (`inmem_run_owner` keeps that question
-- cheap however many ended runs the store holds).
CREATE INDEX inmem_run_owner ON inmem_run (owner_host) WHERE status < 2;

DROP FUNCTION inmem_take_over_run(uuid, text);

-- o_status: 0 taken over, 1 the host holds no lease, 2 no such run, 3 the run has ended.
-- o_former_lease_us: how long the former owner's lease still had to run (0 when it had run out
-- or the former owner is p_host).
CREATE FUNCTION inmem_take_over_run(p_run uuid, p_host text,
    OUT o_status smallint, OUT o_snapshot bigint, OUT o_epoch bigint, OUT o_run_status smallint,
    OUT o_former_lease_us bigint)
LANGUAGE plpgsql AS $$
DECLARE r record; now_us bigint := inmem_now_us();
BEGIN
  o_former_lease_us := 0;
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  -- FOR UPDATE waits for the former owner's commits in flight (they hold the row FOR SHARE).
  SELECT x.status, x.start_version, x.owner_host INTO r FROM inmem_run x WHERE x.run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN o_status := 2; RETURN; END IF;
  IF r.status >= 2 THEN o_status := 3; o_run_status := r.status; RETURN; END IF;
  IF r.owner_host <> p_host THEN
    SELECT greatest(h.lease_until_us - now_us, 0) INTO o_former_lease_us
      FROM inmem_host h WHERE h.host_id = r.owner_host;
    o_former_lease_us := coalesce(o_former_lease_us, 0);
  END IF;
  UPDATE inmem_run x SET owner_host = p_host, owner_epoch = x.owner_epoch + 1, status = 0,
                         updated_us = now_us
    WHERE x.run_id = p_run RETURNING x.owner_epoch INTO o_epoch;
  o_snapshot := r.start_version;
  o_status := 0;
END $$;
