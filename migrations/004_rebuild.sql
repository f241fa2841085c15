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

-- The functions are in migrations/functions/ (rebuild_*.sql). The apply functions now write into a
-- table given by name (default: the live one): the two-argument versions of 002 and 003 go.
DROP FUNCTION IF EXISTS apply_event(bigint, bigint);
DROP FUNCTION IF EXISTS apply_execution(bigint, bigint);
DROP FUNCTION IF EXISTS apply_chat_log(bigint, bigint);
