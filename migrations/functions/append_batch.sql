-- append_batch: appends a batch to the log in one transaction, idempotently (see 001_event_log).
-- Arguments are parallel arrays, one element per input (ord = index, 1-based).
-- Returns one row per input: its position and stream_seq, whether it was already there
-- (in the inbox, below its source's retired floor, or earlier in the same batch): a duplicate is
-- a result, not an error; and the batch's recorded_at (microseconds since the epoch: one time per
-- batch, taken once the log's lock is held, so recorded_at never goes back as positions go up),
-- which lets a writer show what it appended without reading it back. A duplicate of a key retired by `stchat compact` (compact_inbox.sql)
-- reports position 0 and stream_seq 0: the log no longer says where the original is.
-- Appends NOTIFY channel 'stchat_log' with the new head position, delivered at commit.
--
-- Worked example: the log holds positions 1..7; stream 'feed.sport_event' is at stream_seq 4.
--   append_batch of 3 sport events, the second one a redelivery of the message at position 6:
--   ord 1 -> log_position 8, stream_seq 5, duplicate false
--   ord 2 -> position 6, stream_seq 3, duplicate true   (nothing appended)
--   ord 3 -> position 9, stream_seq 6, duplicate false
--
-- Two paths. The fast one, for a batch of new keys (nearly every batch): positions are head + ord,
-- stream_seqs come from a narrow pass over (stream, ord), and both INSERTs read the arrays zipped
-- by unnest, with no join and no look-up of the inbox beyond its primary key's own check. If a
-- key is known or repeated, that check raises unique_violation, the block's subtransaction rolls
-- back both INSERTs, and the general path sorts it out row by row.
-- The result's columns changed (recorded_us): dropped first, recreated in the same transaction.
DROP FUNCTION IF EXISTS append_batch(text[], text[], text[], text[], bytea[], text[], text[], bigint[]);
CREATE OR REPLACE FUNCTION append_batch(
    sources      text[],
    message_ids  text[],
    streams      text[],
    types        text[],
    payloads     bytea[],
    datas        text[],    -- JSON objects. text[], not jsonb[]: Postgres 15 parses a jsonb[]
    metadatas    text[],    -- literal about 3x slower than text elements cast one by one
    source_times_us bigint[]   -- microseconds since the Unix epoch, NULL when unknown
) RETURNS TABLE (ord int, log_position bigint, log_stream_seq bigint, duplicate boolean,
                recorded_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(sources, 1), 0);
    head bigint;
    seqs bigint[];
    retired boolean;
    stamp timestamptz;
    stamp_us bigint;
BEGIN
    IF coalesce(array_length(message_ids, 1), 0) <> n OR coalesce(array_length(streams, 1), 0) <> n
       OR coalesce(array_length(types, 1), 0) <> n OR coalesce(array_length(payloads, 1), 0) <> n
       OR coalesce(array_length(datas, 1), 0) <> n OR coalesce(array_length(metadatas, 1), 0) <> n
       OR coalesce(array_length(source_times_us, 1), 0) <> n THEN
        RAISE EXCEPTION 'append_batch: arrays of unequal length (sources: %)', n
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'pass one element per input in every array, NULL for an unknown time';
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;

    -- Held until commit: see 001_event_log. 7311 is st-chat's lock key for the log.
    PERFORM pg_advisory_xact_lock(7311);
    stamp := clock_timestamp();
    stamp_us := (extract(epoch FROM stamp) * 1000000)::bigint;
    -- A new statement, so a new snapshot that sees every append committed before the lock.
    SELECT coalesce(max(l.position), 0) INTO head FROM event_log l;

    -- Keys retired below a floor are not in the inbox: only the general path recognises them.
    -- (Checked per key only for the sources that have a floor: usually none, or the one feed.)
    retired := false;
    IF EXISTS (SELECT 1 FROM inbox_floor f WHERE f.source = ANY (sources)) THEN
        SELECT EXISTS (SELECT 1 FROM inbox_floor f
                       JOIN unnest(sources, message_ids) AS k(source, message_id) ON k.source = f.source
                       WHERE inbox_key_retired(f.floor, k.message_id))
        INTO retired;
    END IF;

    IF NOT retired THEN
        WITH s AS (
            SELECT u.stream, u.ord, row_number() OVER (PARTITION BY u.stream ORDER BY u.ord) AS nth
            FROM unnest(streams) WITH ORDINALITY AS u(stream, ord)
        ), h AS MATERIALIZED (
            SELECT d.stream,
                   coalesce((SELECT max(l.stream_seq) FROM event_log l WHERE l.stream = d.stream), 0)
                       AS head_seq
            FROM (SELECT DISTINCT s.stream FROM s) d
        )
        SELECT array_agg(h.head_seq + s.nth ORDER BY s.ord) INTO seqs
        FROM s JOIN h ON h.stream = s.stream;
        BEGIN
            INSERT INTO inbox (source, message_id, position)
            SELECT k.source, k.message_id, head + k.ord
            FROM unnest(sources, message_ids) WITH ORDINALITY AS k(source, message_id, ord);
            INSERT INTO event_log (position, stream, stream_seq, type, payload, data, metadata,
                                   source_time, recorded_at)
            SELECT head + u.ord, u.stream, u.seq, u.type, u.payload, u.data::jsonb, u.metadata::jsonb,
                   timestamptz 'epoch' + u.source_time_us * interval '1 microsecond', stamp
            FROM unnest(streams, seqs, types, payloads, datas, metadatas, source_times_us)
                 WITH ORDINALITY AS u(stream, seq, type, payload, data, metadata, source_time_us, ord);
            RETURN QUERY SELECT u.ord::int, head + u.ord, u.seq, false, stamp_us
                         FROM unnest(seqs) WITH ORDINALITY AS u(seq, ord);
            PERFORM pg_notify('stchat_log', (head + n)::text);
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            NULL;  -- a key known or repeated: the general path below
        END;
    END IF;

    -- The general path. Every look-up is by primary key; the window functions run over narrow
    -- rows, and the wide columns are joined back only for the INSERT.
    RETURN QUERY
    WITH input AS (
        SELECT u.source, u.message_id, u.stream, u.type, u.payload, u.data, u.metadata,
               u.source_time_us, u.ord::int AS ord
        FROM unnest(sources, message_ids, streams, types, payloads, datas, metadatas,
                    source_times_us)
             WITH ORDINALITY AS u(source, message_id, stream, type, payload, data, metadata,
                                  source_time_us, ord)
    ), keyed AS (
        -- Per input: the position its key already has (0 for a retired key), if any, and the
        -- first input of the batch with the same key (an input that appears twice is appended
        -- once).
        SELECT i.ord, i.stream,
               coalesce((SELECT b.position FROM inbox b
                         WHERE b.source = i.source AND b.message_id = i.message_id),
                        (SELECT 0::bigint FROM inbox_floor f
                         WHERE f.source = i.source AND inbox_key_retired(f.floor, i.message_id)))
                   AS known_position,
               min(i.ord) OVER (PARTITION BY i.source, i.message_id) AS first_ord
        FROM input i
    ), fresh AS (
        SELECT k.ord, k.stream,
               head + row_number() OVER (ORDER BY k.ord) AS new_position,
               row_number() OVER (PARTITION BY k.stream ORDER BY k.ord) AS nth_in_stream
        FROM keyed k
        WHERE k.known_position IS NULL AND k.ord = k.first_ord
    ), stream_heads AS MATERIALIZED (
        SELECT s.stream,
               coalesce((SELECT max(l.stream_seq) FROM event_log l WHERE l.stream = s.stream), 0)
                   AS head_seq
        FROM (SELECT DISTINCT f.stream FROM fresh f) s
    ), numbered AS MATERIALIZED (
        SELECT f.ord, f.new_position, h.head_seq + f.nth_in_stream AS new_seq
        FROM fresh f JOIN stream_heads h ON h.stream = f.stream
    ), appended AS (
        INSERT INTO event_log (position, stream, stream_seq, type, payload, data, metadata,
                               source_time, recorded_at)
        SELECT nb.new_position, i.stream, nb.new_seq, i.type, i.payload, i.data::jsonb,
               i.metadata::jsonb,
               timestamptz 'epoch' + i.source_time_us * interval '1 microsecond', stamp
        FROM numbered nb JOIN input i ON i.ord = nb.ord
        RETURNING 1
    ), inboxed AS (
        INSERT INTO inbox (source, message_id, position)
        SELECT i.source, i.message_id, nb.new_position
        FROM numbered nb JOIN input i ON i.ord = nb.ord
        RETURNING 1
    )
    SELECT k.ord,
           coalesce(k.known_position, nb.new_position),
           CASE WHEN k.known_position IS NULL THEN nb.new_seq
                ELSE coalesce((SELECT l.stream_seq FROM event_log l
                               WHERE l.position = k.known_position), 0)
           END,
           NOT (k.known_position IS NULL AND k.ord = k.first_ord),
           stamp_us
    FROM keyed k
    LEFT JOIN numbered nb ON nb.ord = k.first_ord
    ORDER BY k.ord;

    IF (SELECT coalesce(max(l.position), 0) FROM event_log l) > head THEN
        PERFORM pg_notify('stchat_log', (SELECT max(l.position) FROM event_log l)::text);
    END IF;
END
$$;
