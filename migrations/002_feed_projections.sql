-- 002_feed_projections: the read tables `event` and `execution`, and projector checkpoints.
--
-- A projector reads the log from its checkpoint and, in ONE transaction, writes its rows and its
-- new checkpoint: after a crash it resumes from the last committed checkpoint, so every log event
-- is applied exactly once. `position` (the log position) is each read table's primary key, so
-- applying an event twice would fail loudly instead of duplicating a row.
--
-- Worked example: checkpoint('event') = 120, log head = 5120, max_events = 1000:
--   project_step('event', 1000) applies positions 121..1120 and sets the checkpoint to 1120.

CREATE TABLE IF NOT EXISTS checkpoint (
    projector   text        PRIMARY KEY,
    position    bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Sport events, as the original st-chat named them. `timestamp`: when the broker received it.
CREATE TABLE IF NOT EXISTS event (
    timestamp    timestamptz NOT NULL,
    sport        text        NOT NULL,   -- the enum's name: 'BASEBALL' ... 'TENNIS'
    match_title  text        NOT NULL,
    data_event   text        NOT NULL,
    position     bigint      PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS event_timestamp ON event (timestamp);

CREATE TABLE IF NOT EXISTS execution (
    timestamp       timestamptz NOT NULL,
    symbol          text        NOT NULL,
    market          text        NOT NULL,
    price           real        NOT NULL,
    quantity        real        NOT NULL,
    executionepoch  bigint      NOT NULL,
    statesymbol     text        NOT NULL,
    position        bigint      PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS execution_timestamp ON execution (timestamp);

-- apply_<projector>(after, upto): writes the rows for log positions in (after, upto].
CREATE OR REPLACE FUNCTION apply_event(after_position bigint, upto_position bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    INSERT INTO event (timestamp, sport, match_title, data_event, position)
    SELECT coalesce(l.source_time, l.recorded_at), l.data ->> 'sport', l.data ->> 'match_title',
           l.data ->> 'data_event', l.position
    FROM event_log l
    WHERE l.position > after_position AND l.position <= upto_position AND l.type = 'sport_event';
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION apply_execution(after_position bigint, upto_position bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    INSERT INTO execution (timestamp, symbol, market, price, quantity, executionepoch,
                           statesymbol, position)
    SELECT coalesce(l.source_time, l.recorded_at), l.data ->> 'symbol', l.data ->> 'market',
           (l.data ->> 'price')::real, (l.data ->> 'quantity')::real,
           (l.data ->> 'executionEpoch')::bigint, l.data ->> 'stateSymbol', l.position
    FROM event_log l
    WHERE l.position > after_position AND l.position <= upto_position AND l.type = 'execution';
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- project_step: one step of a projector, meant to run alone in its own transaction.
-- Locks the projector's checkpoint row (a second projector process waits instead of applying the
-- same range), applies up to max_events log positions, moves the checkpoint, and returns the
-- range applied; from_position = to_position when there was nothing new.
CREATE OR REPLACE FUNCTION project_step(projector_name text, max_events bigint)
RETURNS TABLE (from_position bigint, to_position bigint, rows_written bigint)
LANGUAGE plpgsql AS $$
DECLARE
    done bigint;
    head bigint;
    upto bigint;
    written bigint := 0;
BEGIN
    IF to_regproc('apply_' || projector_name) IS NULL THEN
        RAISE EXCEPTION 'unknown projector: % (no function apply_%)', projector_name, projector_name
            USING ERRCODE = 'undefined_function';
    END IF;
    INSERT INTO checkpoint (projector) VALUES (projector_name) ON CONFLICT DO NOTHING;
    SELECT c.position INTO done FROM checkpoint c WHERE c.projector = projector_name FOR UPDATE;
    -- Positions commit in order (see 001), so every position <= head is visible now.
    SELECT coalesce(max(l.position), 0) INTO head FROM event_log l;
    upto := least(head, done + max_events);
    IF upto > done THEN
        EXECUTE format('SELECT apply_%s($1, $2)', projector_name) INTO written USING done, upto;
        UPDATE checkpoint c SET position = upto, updated_at = now()
        WHERE c.projector = projector_name;
    END IF;
    RETURN QUERY SELECT done, upto, written;
END
$$;
