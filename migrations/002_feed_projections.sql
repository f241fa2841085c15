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
