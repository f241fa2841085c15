-- apply_execution: writes the `execution` rows (002_feed_projections) for the log positions in
-- (after_position, upto_position] into `target` (the live table or its rebuild shadow).
--
-- Example: SELECT apply_execution(0, 5000, 'execution_rebuild');
CREATE OR REPLACE FUNCTION apply_execution(after_position bigint, upto_position bigint,
                                           target text DEFAULT 'execution')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, symbol, market, price, quantity, executionepoch, statesymbol, position)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''symbol'', l.data ->> ''market'',
                (l.data ->> ''price'')::real, (l.data ->> ''quantity'')::real,
                (l.data ->> ''executionEpoch'')::bigint, l.data ->> ''stateSymbol'', l.position
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2 AND l.type = ''execution''', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
