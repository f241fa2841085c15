-- adopt_chat_node: a chat process starting on a host and port takes over the node of the last
-- process that served there (`prefix`: "chat@<host>[<machine>]:<port>/"), which is dead since the port is
-- now held by the caller, together with the rooms its users were in. Its users come back to
-- the same address within seconds (a restart): they are still in their rooms through this node,
-- so their joins need not be appended again, nor the leaves before them; the caller appends
-- the leaves of those who do not come back. The node's row is locked and renewed first, so no
-- other process heals it meanwhile (heal_chat_node checks the lease under the same lock); one
-- it healed already has nothing open, and nothing is adopted.
-- Returns (node, room, uid, username) per open membership: none when there is nothing to adopt.
--
-- Example: chat@web1[3f2a9c1b0d4e]:8888/1764470000000000 was SIGKILLed with alice in lobby:
--   SELECT * FROM adopt_chat_node('chat@web1[3f2a9c1b0d4e]:8888/');
--   -> chat@web1[3f2a9c1b0d4e]:8888/1764470000000000 | lobby | u-alice | alice
CREATE OR REPLACE FUNCTION adopt_chat_node(prefix text)
RETURNS TABLE (node text, room text, uid text, username text)
LANGUAGE plpgsql AS $$
DECLARE
    last_node text;
    since bigint;
BEGIN
    SELECT c.node, c.healed_position INTO last_node, since FROM chat_node c
    WHERE left(c.node, length(prefix)) = prefix
    ORDER BY c.seen_at DESC LIMIT 1
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE chat_node c SET seen_at = clock_timestamp() WHERE c.node = last_node;
    -- append_batch's lock: a commit of the killed process still in flight lands before this read.
    PERFORM pg_advisory_xact_lock(7311);
    RETURN QUERY
        SELECT last_node, substr(m.stream, 6), m.uid, m.username
        FROM (SELECT l.stream, l.data ->> 'uid' AS uid,
                     (array_agg(l.data ->> 'user' ORDER BY l.position DESC))[1] AS username,
                     (array_agg(l.type ORDER BY l.position DESC))[1] AS last_type
              FROM event_log l
              WHERE (l.metadata ->> 'node') = last_node AND l.type IN ('chat.join', 'chat.leave')
                AND l.position > since
              GROUP BY l.stream, l.data ->> 'uid') m
        WHERE m.last_type = 'chat.join'
        ORDER BY 2, 3;
END
$$;
