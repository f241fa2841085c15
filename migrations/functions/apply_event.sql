-- apply_event: writes the `event` rows (sport events, 002_feed_projections) for the log
-- positions in (after_position, upto_position] into `target` (the live table, or the shadow
-- "event_rebuild" of an online rebuild). Returns the rows written.
-- Every projection is an apply_<name>(bigint, bigint, text) function: that is the list of
-- projections (projection_check.sql), kept nowhere else in SQL.
--
-- Example: SELECT apply_event(120, 1120);  -- the sport events among positions 121..1120
CREATE OR REPLACE FUNCTION apply_event(after_position bigint, upto_position bigint,
                                       target text DEFAULT 'event')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, sport, match_title, data_event, position)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''sport'', l.data ->> ''match_title'',
                l.data ->> ''data_event'', l.position
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2 AND l.type = ''sport_event''', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
