-- dead_chat_nodes: the chat processes but `me` whose lease has expired, oldest name first; each
-- is then healed in a transaction of its own (heal_chat_node; one at a time, so two healers never
-- wait on each other's rows). Forgets nodes dead for over a day with nothing joined since their
-- last heal. Run by every chat process at start and every third of the lease.
--
-- Example: SELECT * FROM dead_chat_nodes('chat@web1[3f2a9c1b0d4e]:8888/17644…', interval '15 seconds');
--   chat@web2[8d1e77a0c3b2]:8888/1764479000654321
CREATE OR REPLACE FUNCTION dead_chat_nodes(me text, lease interval)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chat_node c
    WHERE c.seen_at < clock_timestamp() - interval '1 day'
      AND NOT EXISTS (SELECT 1 FROM event_log l
                      WHERE (l.metadata ->> 'node') = c.node AND l.type IN ('chat.join', 'chat.leave')
                        AND l.position > c.healed_position AND l.type = 'chat.join');
    RETURN QUERY SELECT c.node FROM chat_node c
                 WHERE c.node <> me AND c.seen_at < clock_timestamp() - lease ORDER BY c.node;
END
$$;
