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

-- The apply functions write into a table given by name (default: the live one). The two-argument
-- versions of 002 and 003 are replaced.
DROP FUNCTION IF EXISTS apply_event(bigint, bigint);
DROP FUNCTION IF EXISTS apply_execution(bigint, bigint);
DROP FUNCTION IF EXISTS apply_chat_log(bigint, bigint);

CREATE OR REPLACE FUNCTION apply_event(after_position bigint, upto_position bigint,
                                       target text DEFAULT 'event')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, sport, match_title, data_event, position)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''sport'', l.data ->> ''match_title'',
                l.data ->> ''data_event'', l.position
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2 AND l.type = ''sport_event''', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION apply_execution(after_position bigint, upto_position bigint,
                                           target text DEFAULT 'execution')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, symbol, market, price, quantity, executionepoch, statesymbol, position)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''symbol'', l.data ->> ''market'',
                (l.data ->> ''price'')::real, (l.data ->> ''quantity'')::real,
                (l.data ->> ''executionEpoch'')::bigint, l.data ->> ''stateSymbol'', l.position
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2 AND l.type = ''execution''', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION apply_chat_log(after_position bigint, upto_position bigint,
                                          target text DEFAULT 'chat_log')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, room, username, action, message, seq, position)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''room'', l.data ->> ''user'',
                CASE l.type WHEN ''chat.join'' THEN ''join'' WHEN ''chat.leave'' THEN ''exit''
                            ELSE ''message'' END,
                l.data ->> ''text'', l.stream_seq, l.position
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2
           AND l.type IN (''chat.join'', ''chat.leave'', ''chat.message'')', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION rebuild_check(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF projector_name NOT IN ('event', 'execution', 'chat_log') THEN
        RAISE EXCEPTION 'unknown projection: % (event, execution or chat_log)', projector_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- Starts (or restarts) a rebuild: an empty shadow without keys or indexes (they are built once,
-- after the bulk load: much faster than maintaining them row by row). Returns the log head.
CREATE OR REPLACE FUNCTION rebuild_begin(projector_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rebuild_check(projector_name);
    EXECUTE format('DROP TABLE IF EXISTS %I', projector_name || '_rebuild');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   projector_name || '_rebuild', projector_name);
    INSERT INTO checkpoint (projector, position) VALUES ('rebuild:' || projector_name, 0)
    ON CONFLICT (projector) DO UPDATE SET position = 0, updated_at = now();
    RETURN (SELECT coalesce(max(position), 0) FROM event_log);
END
$$;

-- One step of the shadow: like project_step, with the checkpoint 'rebuild:<name>'.
CREATE OR REPLACE FUNCTION rebuild_step(projector_name text, max_events bigint)
RETURNS TABLE (from_position bigint, to_position bigint, head_position bigint, rows_written bigint)
LANGUAGE plpgsql AS $$
DECLARE
    done bigint;
    head bigint;
    upto bigint;
    written bigint := 0;
BEGIN
    SELECT c.position INTO done FROM checkpoint c WHERE c.projector = 'rebuild:' || projector_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no rebuild of % in progress (rebuild_begin first)', projector_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT coalesce(max(l.position), 0) INTO head FROM event_log l;
    upto := least(head, done + max_events);
    IF upto > done THEN
        EXECUTE format('SELECT apply_%s($1, $2, $3)', projector_name)
            INTO written USING done, upto, projector_name || '_rebuild';
        UPDATE checkpoint c SET position = upto, updated_at = now()
        WHERE c.projector = 'rebuild:' || projector_name;
    END IF;
    RETURN QUERY SELECT done, upto, head, written;
END
$$;

-- Gives the shadow the live table's primary key, unique constraints and indexes, named
-- "<name>_rebuild" until the swap.
CREATE OR REPLACE FUNCTION rebuild_index(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    shadow text := projector_name || '_rebuild';
    c record;
BEGIN
    FOR c IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE conrelid = projector_name::regclass AND contype IN ('p', 'u') LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', shadow, c.conname || '_rebuild', c.def);
    END LOOP;
    FOR c IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i WHERE i.indrelid = projector_name::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) LOOP
        -- "CREATE INDEX event_timestamp ON public.event USING btree (...)" -> on the shadow
        EXECUTE regexp_replace(
            regexp_replace(c.def, '^CREATE (UNIQUE )?INDEX \S+ ON \S+',
                           'CREATE \1INDEX ' || quote_ident(c.name || '_rebuild') || ' ON ' || quote_ident(shadow)),
            '^CREATE  INDEX', 'CREATE INDEX');
    END LOOP;
END
$$;

-- The swap, in one transaction: the live projector waits on its checkpoint row, readers wait
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
    EXECUTE format('SELECT count(*) FROM %I', projector_name) INTO total;
    RETURN QUERY SELECT shadow_done, total;
END
$$;

-- Drops an unfinished rebuild; the live table is untouched.
CREATE OR REPLACE FUNCTION rebuild_abandon(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rebuild_check(projector_name);
    EXECUTE format('DROP TABLE IF EXISTS %I', projector_name || '_rebuild');
    DELETE FROM checkpoint WHERE projector = 'rebuild:' || projector_name;
END
$$;
