-- heal_dead_chat_nodes: heal_chat_node for every chat process but `me` whose lease has expired,
-- and forget nodes healed more than a day ago. Run by every chat process at start and every 5 s.
-- Returns the nodes healed now and the leaves appended for each.
--
-- Example: SELECT * FROM heal_dead_chat_nodes('chat@web1:8888/17644…', interval '15 seconds');
--   node                           leaves
--   chat@web2:8888/1764479000654321   3
CREATE OR REPLACE FUNCTION heal_dead_chat_nodes(me text, lease interval)
RETURNS TABLE (node text, leaves integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    d text;
    n integer;
BEGIN
    FOR d IN
        SELECT c.node FROM chat_node c
        WHERE c.node <> me AND c.seen_at < now() - lease AND (c.healed_at IS NULL OR c.healed_at < c.seen_at)
    LOOP
        n := heal_chat_node(d, lease);
        node := d;
        leaves := n;
        RETURN NEXT;
    END LOOP;
    DELETE FROM chat_node c WHERE c.healed_at >= c.seen_at AND c.healed_at < now() - interval '1 day';
END
$$;
