-- renew_chat_node: a chat process renews its lease (every third of it); `healed` says whether
-- another process healed it (appended the leaves of its users) since its last renewal, because
-- its lease had expired (a Postgres outage, a stopped process): it then joins its users again.
-- The row lock orders a renewal and a heal of the same node (heal_chat_node locks it too), and
-- both write clock_timestamp() after taking it, so their times follow that order.
--
-- Example: SELECT healed FROM renew_chat_node('chat@web1[3f2a9c1b0d4e]:8888/1764480000123456');  -> false
CREATE OR REPLACE FUNCTION renew_chat_node(me text, OUT healed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    last_seen timestamptz;
    last_healed timestamptz;
BEGIN
    INSERT INTO chat_node (node) VALUES (me) ON CONFLICT (node) DO NOTHING;
    SELECT seen_at, healed_at INTO last_seen, last_healed FROM chat_node WHERE node = me FOR UPDATE;
    healed := last_healed IS NOT NULL AND last_healed >= last_seen;
    UPDATE chat_node SET seen_at = clock_timestamp() WHERE node = me;
END
$$;
