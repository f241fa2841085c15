-- rebuild_step: one step of an online rebuild's shadow "<name>_rebuild", like project_step with
-- the checkpoint 'rebuild:<name>' (made by rebuild_begin). See rebuild_begin.sql for the whole run.
--
-- Example: SELECT * FROM rebuild_step('event', 50000);  -> (0, 50000, head, rows written)
CREATE OR REPLACE FUNCTION rebuild_step(projector_name text, max_events bigint)
RETURNS TABLE (from_position bigint, to_position bigint, head_position bigint, rows_written bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM projection_check(projector_name);
    RETURN QUERY SELECT * FROM projection_advance('rebuild:' || projector_name, projector_name,
                                                  projector_name || '_rebuild', max_events);
END
$$;
