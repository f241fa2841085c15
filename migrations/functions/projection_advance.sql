-- projection_advance: the one step shared by the live projectors (project_step) and online
-- rebuilds (rebuild_step). Locks the checkpoint row `checkpoint_name` (a second process doing the
-- same waits instead of applying the same range), applies up to max_events log positions with
-- apply_<projector_name> into `target`, moves the checkpoint, and returns the range applied
-- (from_position = to_position when there was nothing new) and the log head.
-- Positions commit in order (001_event_log), so every position <= head is visible here.
--
-- Example: checkpoint 'event' = 120, log head = 5120:
--   SELECT * FROM projection_advance('event', 'event', 'event', 1000);
--   -> from 120, to 1120, head 5120, rows written (the sport events among 121..1120)
CREATE OR REPLACE FUNCTION projection_advance(checkpoint_name text, projector_name text,
                                              target text, max_events bigint)
RETURNS TABLE (from_position bigint, to_position bigint, head_position bigint, rows_written bigint)
LANGUAGE plpgsql AS $$
DECLARE
    done bigint;
    head bigint;
    upto bigint;
    written bigint := 0;
BEGIN
    SELECT c.position INTO done FROM checkpoint c WHERE c.projector = checkpoint_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no checkpoint %', checkpoint_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'project_step creates its checkpoint; a rebuild starts with rebuild_begin';
    END IF;
    SELECT coalesce(max(l.position), 0) INTO head FROM event_log l;
    upto := least(head, done + max_events);
    IF upto > done THEN
        EXECUTE format('SELECT apply_%s($1, $2, $3)', projector_name)
            INTO written USING done, upto, target;
        UPDATE checkpoint c SET position = upto, updated_at = now()
        WHERE c.projector = checkpoint_name;
    END IF;
    RETURN QUERY SELECT done, upto, head, written;
END
$$;
