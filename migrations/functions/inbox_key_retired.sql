-- inbox_key_retired: whether a message id lies at or below its source's retired floor
-- (inbox_floor, written by compact_inbox). Floors exist only for sources whose ids are sequence
-- numbers (JetStream's stream sequence); any other id is never retired by a floor.
-- Runs for every key of every batch of a source with a floor: the common answer (an id longer
-- than the floor's digits, i.e. newer) comes from two lengths, before any digit is looked at.
--
-- Example: floor 1000 -> '999' true, '1000' true, '1001' false, '0042' false (not canonical),
--          'abc' false.
CREATE OR REPLACE FUNCTION inbox_key_retired(floor bigint, message_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN length(message_id) > length(floor::text) THEN false
        WHEN message_id !~ '^[1-9][0-9]{0,17}$' THEN false
        ELSE message_id::bigint <= floor
    END
$$;
