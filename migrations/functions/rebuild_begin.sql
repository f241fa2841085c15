-- Online rebuild of a read table (`stchat rebuild`): a shadow table "<table>_rebuild" is filled
-- from the log beside the live one, given the live table's keys and indexes, then swapped in by
-- one transaction. Readers see the old table until that commit and the new one after it; never
-- an empty or half-built one. The live projector keeps running meanwhile.
--
-- Example, log head 1,000,000, live projector at 990,000:
--   SELECT rebuild_begin('event');              -- shadow event_rebuild, checkpoint 'rebuild:event' = 0
--   SELECT * FROM rebuild_step('event', 50000); -- (0, 50000, rows) ... repeated until near the head
--   SELECT rebuild_index('event');              -- keys and indexes, built once on the full table
--   SELECT rebuild_swap('event');               -- locks the live checkpoint and table, applies what
--                                               -- the shadow lacks up to the live checkpoint, swaps
--   SELECT rebuild_abandon('event');            -- (instead) drops the shadow: live table untouched
--
-- Starts (or restarts) a rebuild: an empty shadow without keys or indexes (they are built once,
-- after the bulk load: much faster than maintaining them row by row). Returns the log head.
CREATE OR REPLACE FUNCTION rebuild_begin(projector_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM projection_check(projector_name);
    EXECUTE format('DROP TABLE IF EXISTS %I', projector_name || '_rebuild');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   projector_name || '_rebuild', projector_name);
    INSERT INTO checkpoint (projector, position) VALUES ('rebuild:' || projector_name, 0)
    ON CONFLICT (projector) DO UPDATE SET position = 0, updated_at = now();
    RETURN (SELECT coalesce(max(position), 0) FROM event_log);
END
$$;
