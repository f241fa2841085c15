-- 001_event_log: the event log and its inbox.
--
-- Every input of st-chat (feed messages, chat commands) is appended to one table, `event_log`.
-- The database enforces the invariants, not the code that writes:
--   * append-only: UPDATE, DELETE and TRUNCATE of event_log (and inbox) raise an error;
--   * `position` is global and gap-free: 1, 2, 3 ... in commit order;
--   * `stream_seq` counts 1, 2, 3 ... per stream with no gap, unique with the stream;
--   * `inbox` maps an input's idempotency key (source, message_id) to the position it got, so the
--     same input appended twice is stored once.
--
-- Appends go through append_batch(), which holds a transaction-scoped advisory lock until commit.
-- Appends are therefore serialized, and a transaction that has the lock sees every earlier append
-- committed. So positions become visible strictly in order, and a reader that asks for
-- "position > last seen" can never skip a row that commits late with a lower position.
--
-- Worked example: the log holds positions 1..7; stream 'feed.sport_event' is at stream_seq 4.
--   append_batch of 3 sport events, the second one a redelivery of the message at position 6:
--   ord 1 -> log_position 8, stream_seq 5, duplicate false
--   ord 2 -> position 6, stream_seq 3, duplicate true   (nothing appended)
--   ord 3 -> position 9, stream_seq 6, duplicate false
--
-- Re-runnable: everything is CREATE ... IF NOT EXISTS or CREATE OR REPLACE.

CREATE TABLE IF NOT EXISTS event_log (
    position     bigint      PRIMARY KEY CHECK (position > 0),
    stream       text        COLLATE "C" NOT NULL,  -- "C": byte order, cheapest to index
    stream_seq   bigint      NOT NULL CHECK (stream_seq > 0),
    type         text        NOT NULL,
    payload      bytea       NOT NULL,              -- the bytes exactly as received
    data         jsonb       NOT NULL DEFAULT '{}', -- the decoded fields (or the decode error)
    metadata     jsonb       NOT NULL DEFAULT '{}', -- subject, source, message id, headers ...
    source_time  timestamptz,                       -- for feed messages: JetStream's receive time
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream, stream_seq)
);
-- Partial: only the rare undecodable records pay for an index (the view `undecodable`).
CREATE INDEX IF NOT EXISTS event_log_undecodable ON event_log (position) WHERE type = 'undecodable';

CREATE TABLE IF NOT EXISTS inbox (
    source      text   COLLATE "C" NOT NULL,  -- e.g. 'nats:STCHAT_FEEDS:1764312000123456789'
    message_id  text   COLLATE "C" NOT NULL,  -- e.g. the JetStream stream sequence '42'
    position    bigint NOT NULL,   -- no foreign key: append_batch writes both in one statement,
                                   -- and a per-row RI trigger would cost a quarter of the append
    PRIMARY KEY (source, message_id)
);

CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'rebuild read tables from the log instead of changing the log';
END
$$;

CREATE OR REPLACE TRIGGER event_log_append_only
    BEFORE UPDATE OR DELETE ON event_log FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER event_log_no_truncate
    BEFORE TRUNCATE ON event_log FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER inbox_append_only
    BEFORE UPDATE OR DELETE ON inbox FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER inbox_no_truncate
    BEFORE TRUNCATE ON inbox FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- append_batch: appends a batch in one transaction, idempotently.
-- Arguments are parallel arrays, one element per input (ord = index, 1-based).
-- Returns one row per input: its position and stream_seq, and whether it was already there
-- (in the inbox, or earlier in the same batch): a duplicate is a result, not an error.
-- Appends NOTIFY channel 'stchat_log' with the new head position, delivered at commit.
CREATE OR REPLACE FUNCTION append_batch(
    sources      text[],
    message_ids  text[],
    streams      text[],
    types        text[],
    payloads     bytea[],
    datas        text[],    -- JSON objects. text[], not jsonb[]: Postgres 15 parses a jsonb[]
    metadatas    text[],    -- literal about 3x slower than text elements cast one by one
    source_times_us bigint[]   -- microseconds since the Unix epoch, NULL when unknown
) RETURNS TABLE (ord int, log_position bigint, log_stream_seq bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(sources, 1), 0);
    head bigint;
BEGIN
    IF coalesce(array_length(message_ids, 1), 0) <> n OR coalesce(array_length(streams, 1), 0) <> n
       OR coalesce(array_length(types, 1), 0) <> n OR coalesce(array_length(payloads, 1), 0) <> n
       OR coalesce(array_length(datas, 1), 0) <> n OR coalesce(array_length(metadatas, 1), 0) <> n
       OR coalesce(array_length(source_times_us, 1), 0) <> n THEN
        RAISE EXCEPTION 'append_batch: arrays of unequal length (sources: %)', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;

    -- Held until commit: see the header. 7311 is st-chat's lock key for the log.
    PERFORM pg_advisory_xact_lock(7311);
    -- A new statement, so a new snapshot that sees every append committed before the lock.
    SELECT coalesce(max(l.position), 0) INTO head FROM event_log l;

    -- Written for speed at 1,000-row batches: every lookup is by primary key, the window
    -- functions run over narrow rows, and the wide columns are joined back only for the INSERT.
    RETURN QUERY
    WITH input AS (
        SELECT u.source, u.message_id, u.stream, u.type, u.payload, u.data, u.metadata,
               u.source_time_us, u.ord::int AS ord
        FROM unnest(sources, message_ids, streams, types, payloads, datas, metadatas,
                    source_times_us)
             WITH ORDINALITY AS u(source, message_id, stream, type, payload, data, metadata,
                                  source_time_us, ord)
    ), keyed AS (
        -- Per input: the position its key already has, if any, and the first input of the batch
        -- with the same key (an input that appears twice is appended once).
        SELECT i.ord, i.stream,
               (SELECT b.position FROM inbox b
                WHERE b.source = i.source AND b.message_id = i.message_id) AS known_position,
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
                               source_time)
        SELECT nb.new_position, i.stream, nb.new_seq, i.type, i.payload, i.data::jsonb,
               i.metadata::jsonb,
               timestamptz 'epoch' + i.source_time_us * interval '1 microsecond'
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
                ELSE (SELECT l.stream_seq FROM event_log l WHERE l.position = k.known_position)
           END,
           NOT (k.known_position IS NULL AND k.ord = k.first_ord)
    FROM keyed k
    LEFT JOIN numbered nb ON nb.ord = k.first_ord
    ORDER BY k.ord;

    IF (SELECT coalesce(max(l.position), 0) FROM event_log l) > head THEN
        PERFORM pg_notify('stchat_log', (SELECT max(l.position) FROM event_log l)::text);
    END IF;
END
$$;

-- Records that could not be decoded (bad protobuf, missing required field, empty payload):
-- kept with their raw bytes and the error, never lost.
CREATE OR REPLACE VIEW undecodable AS
SELECT l.position,
       l.source_time AS timestamp,
       l.metadata ->> 'subject' AS subject,
       l.data ->> 'error' AS error,
       octet_length(l.payload) AS bytes,
       l.payload,
       l.metadata
FROM event_log l
WHERE l.type = 'undecodable';
