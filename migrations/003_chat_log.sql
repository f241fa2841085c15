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

CREATE OR REPLACE FUNCTION apply_chat_log(after_position bigint, upto_position bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    INSERT INTO chat_log (timestamp, room, username, action, message, seq, position)
    SELECT coalesce(l.source_time, l.recorded_at), l.data ->> 'room', l.data ->> 'user',
           CASE l.type WHEN 'chat.join' THEN 'join' WHEN 'chat.leave' THEN 'exit'
                       ELSE 'message' END,
           l.data ->> 'text', l.stream_seq, l.position
    FROM event_log l
    WHERE l.position > after_position AND l.position <= upto_position
      AND l.type IN ('chat.join', 'chat.leave', 'chat.message');
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

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

-- room_access: true when a join of `room_name` with `room_key` (NULL: none) may proceed.
-- Claims the room as private when a key is given and the room has no events yet; two racing
-- first joins with different keys: one claims, the other is then refused.
CREATE OR REPLACE FUNCTION room_access(room_name text, room_stream text, room_key text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r private_room;
BEGIN
    IF room_key IS NOT NULL AND room_key <> '' THEN
        INSERT INTO private_room (room, salt, key_hash)
        SELECT room_name, s.salt, sha256(s.salt || convert_to(room_key, 'UTF8'))
        FROM (SELECT uuid_send(gen_random_uuid()) AS salt) s
        WHERE NOT EXISTS (SELECT 1 FROM event_log l WHERE l.stream = room_stream)
        ON CONFLICT DO NOTHING;
    END IF;
    SELECT * INTO r FROM private_room p WHERE p.room = room_name;
    IF NOT FOUND THEN
        RETURN true;
    END IF;
    RETURN room_key IS NOT NULL
       AND sha256(r.salt || convert_to(room_key, 'UTF8')) = r.key_hash;
END
$$;
