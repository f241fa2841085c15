-- room_key_record: what a join needs to decide: whether the room has events, and its stored key
-- (all NULL for a room that is not private).
CREATE OR REPLACE FUNCTION room_key_record(room_name text, room_stream text,
    OUT has_events boolean, OUT hash_kind text, OUT key_phc text, OUT salt bytea, OUT key_hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM event_log l WHERE l.stream = room_stream),
           p.hash_kind, p.key_phc, p.salt, p.key_hash
    FROM (SELECT 1) AS one LEFT JOIN private_room p ON p.room = room_name
$$;
