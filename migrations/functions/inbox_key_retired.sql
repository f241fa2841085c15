-- inbox_key_retired: whether a message id lies at or below its source's retired floor
-- (inbox_floor, written by compact_inbox). Floors exist only for sources whose ids are sequence
-- numbers (JetStream's stream sequence); any other id is never retired by a floor.
--
-- Example: floor 1000 -> '999' true, '1000' true, '1001' false, '0042' false (not canonical),
--          'abc' false.
CREATE OR REPLACE FUNCTION inbox_key_retired(floor bigint, message_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT message_id ~ '^[1-9][0-9]{0,17}$' AND message_id::bigint <= floor
$$;
