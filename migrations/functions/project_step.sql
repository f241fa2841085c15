-- project_step: one step of a live projector, meant to run alone in its own transaction: applies
-- up to max_events log positions after its checkpoint to the live table (projection_advance).
-- Idempotent by construction: the checkpoint moves in the same transaction as the rows, so a
-- commit in doubt may be retried (the retry finds the checkpoint moved, or applies the range once).
--
-- Example: checkpoint('event') = 120, log head = 5120, max_events = 1000:
--   SELECT * FROM project_step('event', 1000);  -> (120, 1120, rows written)
CREATE OR REPLACE FUNCTION project_step(projector_name text, max_events bigint)
RETURNS TABLE (from_position bigint, to_position bigint, rows_written bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM projection_check(projector_name);
    INSERT INTO checkpoint (projector) VALUES (projector_name) ON CONFLICT DO NOTHING;
    RETURN QUERY SELECT a.from_position, a.to_position, a.rows_written
                 FROM projection_advance(projector_name, projector_name, projector_name, max_events) a;
END
$$;
