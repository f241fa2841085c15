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
