-- apply_chat_log: writes the `chat_log` rows (003_chat_log) for the log positions in
-- (after_position, upto_position] into `target` (the live table or its rebuild shadow).
-- chat.join -> 'join', chat.leave -> 'exit', chat.message -> 'message', as the original named them;
-- uid: the author's (010_chat_log_uid), which tells apart two users of the same name.
-- A leave marked still_here (heal_chat_node: the user stayed through another chat process) is
-- no exit and gets no row.
--
-- Example: SELECT apply_chat_log(811, 820);  -- lobby: alice join (812), hi (815), exit (820)
CREATE OR REPLACE FUNCTION apply_chat_log(after_position bigint, upto_position bigint,
                                          target text DEFAULT 'chat_log')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE format(
        'INSERT INTO %I (timestamp, room, username, action, message, seq, position, uid)
         SELECT coalesce(l.source_time, l.recorded_at), l.data ->> ''room'', l.data ->> ''user'',
                CASE l.type WHEN ''chat.join'' THEN ''join'' WHEN ''chat.leave'' THEN ''exit''
                            ELSE ''message'' END,
                l.data ->> ''text'', l.stream_seq, l.position, l.data ->> ''uid''
         FROM event_log l
         WHERE l.position > $1 AND l.position <= $2
           AND l.type IN (''chat.join'', ''chat.leave'', ''chat.message'')
           AND (l.data ->> ''still_here'') IS DISTINCT FROM ''true''', target)
    USING after_position, upto_position;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
