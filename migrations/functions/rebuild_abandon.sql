-- Drops an unfinished rebuild; the live table is untouched.
CREATE OR REPLACE FUNCTION rebuild_abandon(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM projection_check(projector_name);
    EXECUTE format('DROP TABLE IF EXISTS %I', projector_name || '_rebuild');
    DELETE FROM checkpoint WHERE projector = 'rebuild:' || projector_name;
END
$$;
