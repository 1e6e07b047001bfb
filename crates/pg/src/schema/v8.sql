-- in-mem shared mode, schema version 8: an agent's collection lock is the schema's own.
--
-- Advisory locks belong to the whole database, not to a schema, and version 6 keyed an agent's
-- collection lock by the agent alone: two stores in two schemas of one database (two
-- deployments, or two tests side by side) holding an agent of the same name took the same lock,
-- so a collection in one was turned away (no horizon, nothing collected) while the other
-- collected or began a run of that agent, and a begin in one waited for a collection in the
-- other. The key now names the schema, fixed when this migration runs in it.
--
-- Begins in flight hold the old key. Taking `inmem_agent` in SHARE mode waits for every
-- transaction that has written it (each begin writes it before it takes the lock) and holds
-- new ones back until this commits, so no begin holding the old key is still running when
-- collections start to take the new one.

LOCK TABLE inmem_agent IN SHARE MODE;

DO $migration$
BEGIN
  EXECUTE format(
    'CREATE OR REPLACE FUNCTION inmem_gc_lock_key(p_agent bytea) RETURNS bigint '
    'LANGUAGE sql IMMUTABLE AS $key$ SELECT hashtextextended(%L || encode(p_agent, %L), 0) $key$',
    'inmem_gc:' || current_schema() || ':', 'hex');
END $migration$;
