-- compact_inbox: retires inbox keys (the contract is in 007_inbox_floor), or with dry_run only
-- says what it would retire. Only keys of events at or below `below_position` are considered (the
-- caller keeps a recent window whole); client keys also need to be older than `client_days`.
-- Returns one row per source touched: keys it had, keys retired, the floor after. It all happens
-- in the caller's one transaction (a crash leaves the inbox as it was), and an append running
-- meanwhile sees either the keys or the floor that replaces them, never neither.
--
-- Example: source S holds ids 1..1000 and 1002..1500, all below the position given:
--   SELECT * FROM compact_inbox(head_position, 7, false);
--   -> S, kind 'sequence', keys 1499, retired 1000, floor 1000   (1002..1500 stay: 1001 is a gap)
CREATE OR REPLACE FUNCTION compact_inbox(below_position bigint, client_days int, dry_run boolean)
RETURNS TABLE (source text, kind text, keys bigint, retired bigint, floor_after bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    started timestamptz := clock_timestamp();
    s record;
    old_floor bigint;
    new_floor bigint;
    n_keys bigint;
    n_retired bigint;
    cut_position bigint;
    total_sequence bigint := 0;
    total_client bigint := 0;
BEGIN
    IF below_position IS NULL OR below_position < 0 OR client_days IS NULL OR client_days < 0 THEN
        RAISE EXCEPTION 'compact_inbox: below_position % and client_days % must be >= 0',
                        below_position, client_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT dry_run THEN
        -- A second compaction waits for this one: never two writers of the same floor.
        PERFORM pg_advisory_xact_lock(7312);
        PERFORM set_config('stchat.compacting', 'on', true);  -- lets refuse_change() allow it
    END IF;
    -- Client keys: older than client_days, found by the position their event has (positions
    -- commit in time order).
    cut_position := least(below_position, log_position_before(now() - make_interval(days => client_days)));
    -- The distinct sources by skipping along the primary key (no scan of every key).
    FOR s IN WITH RECURSIVE src(source) AS (
                 SELECT min(b.source) FROM inbox b
                 UNION ALL
                 SELECT (SELECT min(b.source) FROM inbox b WHERE b.source > src.source)
                 FROM src WHERE src.source IS NOT NULL)
             SELECT src.source FROM src WHERE src.source IS NOT NULL LOOP
        SELECT count(*) INTO n_keys FROM inbox b WHERE b.source = s.source;
        IF s.source LIKE 'nats:%' THEN
            SELECT coalesce(f.floor, 0) INTO old_floor FROM inbox_floor f WHERE f.source = s.source;
            old_floor := coalesce(old_floor, 0);
            -- The longest run old_floor+1, old_floor+2 ... of ids all present and below the cut.
            SELECT coalesce(max(x.id), old_floor) INTO new_floor
            FROM (SELECT b.message_id::bigint AS id,
                         row_number() OVER (ORDER BY b.message_id::bigint) AS nth
                  FROM inbox b
                  WHERE b.source = s.source AND b.message_id ~ '^[1-9][0-9]{0,17}$'
                    AND b.message_id::bigint > old_floor AND b.position <= below_position) x
            WHERE x.id = old_floor + x.nth;
            n_retired := 0;
            IF new_floor > old_floor AND NOT dry_run THEN
                DELETE FROM inbox b WHERE b.source = s.source AND inbox_key_retired(new_floor, b.message_id);
                GET DIAGNOSTICS n_retired = ROW_COUNT;
                INSERT INTO inbox_floor AS f (source, floor, retired) VALUES (s.source, new_floor, n_retired)
                ON CONFLICT (source) DO UPDATE
                    SET floor = excluded.floor, retired = f.retired + excluded.retired, updated_at = now();
            ELSIF new_floor > old_floor THEN
                SELECT count(*) INTO n_retired FROM inbox b
                WHERE b.source = s.source AND inbox_key_retired(new_floor, b.message_id);
            END IF;
            total_sequence := total_sequence + n_retired;
            IF n_retired > 0 THEN
                RETURN QUERY SELECT s.source, 'sequence'::text, n_keys, n_retired, new_floor;
            END IF;
        ELSE
            IF dry_run THEN
                SELECT count(*) INTO n_retired FROM inbox b
                WHERE b.source = s.source AND b.position <= cut_position;
            ELSE
                DELETE FROM inbox b WHERE b.source = s.source AND b.position <= cut_position;
                GET DIAGNOSTICS n_retired = ROW_COUNT;
            END IF;
            total_client := total_client + n_retired;
            IF n_retired > 0 THEN
                RETURN QUERY SELECT s.source, 'client'::text, n_keys, n_retired, NULL::bigint;
            END IF;
        END IF;
    END LOOP;
    IF NOT dry_run THEN
        INSERT INTO inbox_compaction (started_at, below_position, sequence_keys, client_keys, inbox_after)
        VALUES (started, below_position, total_sequence, total_client, (SELECT count(*) FROM inbox));
    END IF;
END
$$;
