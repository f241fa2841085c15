-- projection_check: raises a clear error unless `projector_name` is a projection, that is, an
-- apply_<name>(bigint, bigint, text) function exists. The list of projections is those functions.
--
-- Example: SELECT projection_check('events');
--   ERROR:  unknown projection: events
--   HINT:  projections: chat_log, event, execution
CREATE OR REPLACE FUNCTION projection_check(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF projector_name !~ '^[a-z_]+$'
       OR to_regprocedure('apply_' || projector_name || '(bigint, bigint, text)') IS NULL THEN
        RAISE EXCEPTION 'unknown projection: %', projector_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'projections: ' || (SELECT string_agg(name, ', ' ORDER BY name) FROM projection_names());
    END IF;
END
$$;
