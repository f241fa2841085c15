-- The swap, in one transaction (the reader role gets its SELECT on the new table in it too): the live projector waits on its checkpoint row, readers wait
-- on the table lock for the few milliseconds this takes, then see the new table.
CREATE OR REPLACE FUNCTION rebuild_swap(projector_name text)
RETURNS TABLE (checkpoint_position bigint, rows_in_table bigint)
LANGUAGE plpgsql AS $$
DECLARE
    shadow text := projector_name || '_rebuild';
    live_done bigint;
    shadow_done bigint;
    c record;
    total bigint;
BEGIN
    PERFORM projection_check(projector_name);
    INSERT INTO checkpoint (projector) VALUES (projector_name) ON CONFLICT DO NOTHING;
    SELECT k.position INTO live_done FROM checkpoint k WHERE k.projector = projector_name FOR UPDATE;
    SELECT k.position INTO shadow_done FROM checkpoint k WHERE k.projector = 'rebuild:' || projector_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no rebuild of % in progress', projector_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', projector_name);
    -- The new table must hold exactly the positions its checkpoint says: catch up to the live
    -- projector, or (if the shadow ran ahead) move the live checkpoint to the shadow's.
    IF shadow_done < live_done THEN
        EXECUTE format('SELECT apply_%s($1, $2, $3)', projector_name) USING shadow_done, live_done, shadow;
        shadow_done := live_done;
    END IF;
    UPDATE checkpoint k SET position = shadow_done, updated_at = now() WHERE k.projector = projector_name;
    DELETE FROM checkpoint k WHERE k.projector = 'rebuild:' || projector_name;
    EXECUTE format('DROP TABLE %I', projector_name);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', shadow, projector_name);
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = projector_name::regclass AND conname LIKE '%\_rebuild' LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', projector_name, c.conname,
                       left(c.conname, -length('_rebuild')));
    END LOOP;
    FOR c IN SELECT i.indexrelid::regclass::text AS name FROM pg_index i
             WHERE i.indrelid = projector_name::regclass LOOP
        IF c.name LIKE '%\_rebuild' THEN
            EXECUTE format('ALTER INDEX %I RENAME TO %I', c.name, left(c.name, -length('_rebuild')));
        END IF;
    END LOOP;
    PERFORM stchat_grant_reader();  -- a new table: the reader role's SELECT on it
    EXECUTE format('SELECT count(*) FROM %I', projector_name) INTO total;
    RETURN QUERY SELECT shadow_done, total;
END
$$;
