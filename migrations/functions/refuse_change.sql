-- refuse_change: the trigger that keeps event_log and inbox append-only (001_event_log). A change
-- the log's contract forbids fails with a HINT saying what to do instead.
--
-- Example: DELETE FROM event_log WHERE position = 7;
--   ERROR:  event_log is append-only: DELETE refused
--   HINT:  rebuild read tables from the log instead of changing the log
-- The inbox's controlled retirement (`stchat compact`, compact_inbox.sql) sets
-- stchat.compacting = 'on' for its own transaction only; nothing else gets through.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'inbox' AND TG_OP = 'DELETE'
       AND current_setting('stchat.compacting', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'rebuild read tables from the log instead of changing the log';
END
$$;
