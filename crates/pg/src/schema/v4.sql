-- in-mem shared mode, schema version 4: handing a live run over safely.
--
-- A host serves reads of the runs it owns from its cache, trusting that it still owns them for
-- as long as its last confirmed lease runs. So a takeover reports how long the former owner's
-- lease still had to run (the new owner writes only after that), and a host asks which runs it
-- still owns each time it renews its lease (`inmem_run_owner` keeps that question cheap however
-- many ended runs the store holds). Every host of a store must run a build of this schema
-- version: an older one neither asks nor waits.
CREATE INDEX inmem_run_owner ON inmem_run (owner_host) WHERE status < 2;

-- Until when the run's former owner may still read it from its cache (store clock): a takeover
-- sent again after a lost reply, or by a second thread of the new owner, waits it out as well.
ALTER TABLE inmem_run ADD COLUMN handover_until_us bigint NOT NULL DEFAULT 0;

DROP FUNCTION inmem_take_over_run(uuid, text);

-- o_status: 0 taken over, 1 the host holds no lease, 2 no such run, 3 the run has ended.
-- o_former_lease_us: how long the run's handover still has to run (0 when the former owner's
-- lease had run out, and for a run this host has owned since its handover ended).
CREATE FUNCTION inmem_take_over_run(p_run uuid, p_host text,
    OUT o_status smallint, OUT o_snapshot bigint, OUT o_epoch bigint, OUT o_run_status smallint,
    OUT o_former_lease_us bigint)
LANGUAGE plpgsql AS $$
DECLARE r record; now_us bigint := inmem_now_us(); former_until bigint;
BEGIN
  o_former_lease_us := 0;
  IF NOT inmem_lease_holds(p_host) THEN o_status := 1; RETURN; END IF;
  -- FOR UPDATE waits for the former owner's commits in flight (they hold the row FOR SHARE).
  SELECT x.status, x.start_version, x.owner_host, x.handover_until_us INTO r
    FROM inmem_run x WHERE x.run_id = p_run FOR UPDATE;
  IF NOT FOUND THEN o_status := 2; RETURN; END IF;
  IF r.status >= 2 THEN o_status := 3; o_run_status := r.status; RETURN; END IF;
  former_until := r.handover_until_us;
  IF r.owner_host <> p_host THEN
    -- FOR SHARE: a renewal of the former owner's lease running now waits for this takeover to
    -- commit, so the question it asks next (`owned_runs`) sees the run gone; one that committed
    -- first is read here, and waited out.
    SELECT greatest(former_until, h.lease_until_us) INTO former_until
      FROM inmem_host h WHERE h.host_id = r.owner_host FOR SHARE;
    former_until := coalesce(former_until, r.handover_until_us);
  END IF;
  UPDATE inmem_run x SET owner_host = p_host, owner_epoch = x.owner_epoch + 1, status = 0,
                         updated_us = now_us, handover_until_us = former_until
    WHERE x.run_id = p_run RETURNING x.owner_epoch INTO o_epoch;
  o_former_lease_us := greatest(former_until - now_us, 0);
  o_snapshot := r.start_version;
  o_status := 0;
END $$;
