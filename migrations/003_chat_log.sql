-- 003_chat_log: the chat room read table, built from the log like `event` and `execution`.
--
-- Chat commands are log events too: stream 'room.<name>', types 'chat.join', 'chat.leave',
-- 'chat.message'. A room's sequence number is its stream_seq: 1, 2, 3 ... with no gap.
-- `chat_log` reads like the original st-chat's, with the room added.
--
-- Worked example: alice joins lobby (seq 1), says "hi" (seq 2), leaves (seq 3):
--   timestamp | room  | username | action  | message | seq | position
--   ...       | lobby | alice    | join    |         |   1 |      812
--   ...       | lobby | alice    | message | hi      |   2 |      815
--   ...       | lobby | alice    | exit    |         |   3 |      820

CREATE TABLE IF NOT EXISTS chat_log (
    timestamp  timestamptz NOT NULL,
    room       text        NOT NULL,
    username   text        NOT NULL,
    action     text        NOT NULL CHECK (action IN ('join', 'message', 'exit')),
    message    text,
    seq        bigint      NOT NULL,
    position   bigint      PRIMARY KEY,
    UNIQUE (room, seq)
);
CREATE INDEX IF NOT EXISTS chat_log_timestamp ON chat_log (timestamp);

-- The secret that signs session tokens (HMAC-SHA256), shared by every chat process. Created once,
-- from Postgres' strong random source (gen_random_uuid).
CREATE TABLE IF NOT EXISTS chat_secret (
    id      int   PRIMARY KEY CHECK (id = 1),
    secret  bytea NOT NULL
);
INSERT INTO chat_secret (id, secret)
VALUES (1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
ON CONFLICT DO NOTHING;

-- Private rooms: the first join of a room that has no events yet, with a key, makes it private.
-- The key is stored salted and hashed (SHA-256), never in clear.
CREATE TABLE IF NOT EXISTS private_room (
    room        text        PRIMARY KEY,
    salt        bytea       NOT NULL,
    key_hash    bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
