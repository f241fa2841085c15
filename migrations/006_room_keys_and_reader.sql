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
            USING HINT = 'As a superuser: CREATE ROLE stchat_reader NOLOGIN; then stchat migrate (it grants the role its SELECTs).';
END
$$;

-- Its SELECTs are granted by stchat_grant_reader() (functions/), which every migrate calls last.
