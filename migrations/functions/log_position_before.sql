-- log_position_before: the highest log position recorded before `t` (0 if none), by binary search
-- over the gap-free positions 1..head: about 2·log2(head) primary-key look-ups, no index on time.
-- Positions are recorded in commit order under the append lock, so recorded_at rises with them
-- (a clock stepped back on the server makes the answer approximate, never an error).
--
-- Example: 20,000,000 events over 10 days; log_position_before(now() - interval '7 days')
--   -> about 6,000,000, in ~25 look-ups.
CREATE OR REPLACE FUNCTION log_position_before(t timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lo bigint := 0;   -- recorded before t (0: none)
    hi bigint;        -- first position known not to be
    mid bigint;
    at timestamptz;
BEGIN
    SELECT coalesce(max(l.position), 0) + 1 INTO hi FROM event_log l;
    WHILE hi - lo > 1 LOOP
        mid := lo + (hi - lo) / 2;
        SELECT l.recorded_at INTO at FROM event_log l WHERE l.position = mid;
        IF at < t THEN lo := mid; ELSE hi := mid; END IF;
    END LOOP;
    RETURN lo;
END
$$;
