-- 006: private rooms' keys hashed with argon2id, and a read-only role for SQL inspection.
--
-- Room keys. New private rooms store the key as an argon2id PHC string computed by the chat
-- server (libsodium, chat/src/room_keys.h), kind 'argon2id'. Rooms made before keep their salted
-- SHA-256 (kind 'sha256') and keep working: the kind is stored with the hash.
--
--   room     hash_kind  key_phc                              salt   key_hash
--   ops      argon2id   $argon2id$v=19$m=65536,t=2,p=1$…     NULL   NULL
--   old-one  sha256     NULL                                 \x…    \x…
ALTER TABLE private_room ALTER COLUMN salt DROP NOT NULL;
ALTER TABLE private_room ALTER COLUMN key_hash DROP NOT NULL;
ALTER TABLE private_room ADD COLUMN IF NOT EXISTS hash_kind text NOT NULL DEFAULT 'sha256';
ALTER TABLE private_room ADD COLUMN IF NOT EXISTS key_phc text;
ALTER TABLE private_room ALTER COLUMN hash_kind DROP DEFAULT;  -- new rows say which kind
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'private_room_key_shape') THEN
        ALTER TABLE private_room ADD CONSTRAINT private_room_key_shape CHECK (
            (hash_kind = 'argon2id' AND key_phc IS NOT NULL) OR
            (hash_kind = 'sha256' AND salt IS NOT NULL AND key_hash IS NOT NULL));
    END IF;
END
$$;

-- The SHA-256 path computed hashes in SQL; keys are now checked by the chat server only.
DROP FUNCTION IF EXISTS room_access(text, text, text);

-- room_key_record: what a join needs to decide: whether the room has events, and its stored key
-- (all NULL for a room that is not private).
CREATE OR REPLACE FUNCTION room_key_record(room_name text, room_stream text,
    OUT has_events boolean, OUT hash_kind text, OUT key_phc text, OUT salt bytea, OUT key_hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM event_log l WHERE l.stream = room_stream),
           p.hash_kind, p.key_phc, p.salt, p.key_hash
    FROM (SELECT 1) AS one LEFT JOIN private_room p ON p.room = room_name
$$;

-- claim_private_room: makes a room that has no events yet private with this argon2id key, unless
-- another join claimed it first; returns the room's key as it now is (all NULL: the room got
-- events meanwhile and stays open). Two racing first joins with different keys: one claims, the
-- other's key is then checked against the winner's.
CREATE OR REPLACE FUNCTION claim_private_room(room_name text, room_stream text, phc text,
    OUT hash_kind text, OUT key_phc text, OUT salt bytea, OUT key_hash bytea)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO private_room (room, hash_kind, key_phc)
    SELECT room_name, 'argon2id', phc
    WHERE NOT EXISTS (SELECT 1 FROM event_log l WHERE l.stream = room_stream)
    ON CONFLICT DO NOTHING;
    SELECT p.hash_kind, p.key_phc, p.salt, p.key_hash INTO hash_kind, key_phc, salt, key_hash
    FROM private_room p WHERE p.room = room_name;
END
$$;

-- The read-only role: SELECT on the log and the tables people query, nothing on secrets.
-- NOLOGIN: an operator gives it (or a role that is granted it) a password, see docs/sql.md.
-- Roles belong to the whole Postgres server, so a second database's migrate finds it made.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stchat_reader') THEN
        CREATE ROLE stchat_reader NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;  -- made by a migrate of another database at the same moment
    WHEN insufficient_privilege THEN
        RAISE WARNING 'role stchat_reader not created: % may not create roles', current_user
            USING HINT = 'As a superuser: CREATE ROLE stchat_reader NOLOGIN; then, in this database: SELECT stchat_grant_reader();';
END
$$;

-- stchat_grant_reader: (re)grants the reader role its SELECTs. `stchat rebuild` calls it after a
-- swap (a rebuilt table is a new table). Secrets stay out: chat_secret entirely, and of
-- private_room only which rooms are private and since when.
CREATE OR REPLACE FUNCTION stchat_grant_reader() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stchat_reader') THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO stchat_reader', current_database());
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;  -- not the database's owner: CONNECT is PUBLIC's by default
    END;
    GRANT USAGE ON SCHEMA public TO stchat_reader;
    GRANT SELECT ON event_log, inbox, checkpoint, event, execution, chat_log, undecodable,
                    service_heartbeat, schema_migrations TO stchat_reader;
    GRANT SELECT (room, hash_kind, created_at) ON private_room TO stchat_reader;
    REVOKE ALL ON chat_secret FROM stchat_reader;
END
$$;
SELECT stchat_grant_reader();
