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
-- The functions (append_batch, refuse_change ...) live one per file in migrations/functions/ and
-- are applied again by every migrate, before the numbered files (see migrations.h).
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

CREATE OR REPLACE TRIGGER event_log_append_only
    BEFORE UPDATE OR DELETE ON event_log FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER event_log_no_truncate
    BEFORE TRUNCATE ON event_log FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER inbox_append_only
    BEFORE UPDATE OR DELETE ON inbox FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER inbox_no_truncate
    BEFORE TRUNCATE ON inbox FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

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
