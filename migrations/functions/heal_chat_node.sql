-- heal_chat_node: if chat process `dead` has not renewed its lease for `lease`, appends a
-- `leave` for each (room, user) whose last join or leave by that node is a join, and returns how
-- many. Exactly once, however many processes heal at the same time: the node's row is locked and
-- its lease checked again, the log's append lock is taken before the memberships are read (no
-- join or leave of the node commits in between), and each leave's inbox key names the event it
-- closes ("chat-heal:<node>", "<room>/<uid>@<position>"). The leaves carry the dead node in their
-- metadata (with "healed": true), so the node's last event for each pair is then a leave and a
-- second heal finds nothing. Only events after the last heal's position are read.
-- A user still in the room through another node (they came back through it) gets a leave marked
-- {"still_here": true} (append_chat_leaves): the dead node's part ends, the user stays; chat_log
-- writes no `exit` for it and clients show nothing.
-- `healed_at` is set when leaves were appended: a node healed while alive learns it at its next
-- renewal (renew_chat_node) and joins its users again.
--
-- Example: node N died with alice in lobby (her join at position 41) and bob in lobby and dev:
--   SELECT heal_chat_node('N', interval '15 seconds');   -> 3 (lobby: alice, bob; dev: bob)
--   SELECT heal_chat_node('N', interval '15 seconds');   -> 0
CREATE OR REPLACE FUNCTION heal_chat_node(dead text, lease interval)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    since bigint;
    streams text[];
    uids text[];
    usernames text[];
    positions bigint[];
BEGIN
    SELECT healed_position INTO since FROM chat_node
    WHERE node = dead AND seen_at < clock_timestamp() - lease
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;  -- alive, or unknown
    END IF;
    IF NOT EXISTS (SELECT 1 FROM event_log
                   WHERE (metadata ->> 'node') = dead AND type IN ('chat.join', 'chat.leave')
                     AND position > since AND type = 'chat.join') THEN
        RETURN 0;  -- nothing joined since the last heal (e.g. it stopped cleanly)
    END IF;
    PERFORM pg_advisory_xact_lock(7311);  -- append_batch's lock: the log holds still while we read
    SELECT array_agg(m.stream ORDER BY m.first_position), array_agg(m.uid ORDER BY m.first_position),
           array_agg(m.username ORDER BY m.first_position), array_agg(m.last_position ORDER BY m.first_position)
    INTO streams, uids, usernames, positions
    FROM (SELECT stream, data ->> 'uid' AS uid,
                 (array_agg(data ->> 'user' ORDER BY position DESC))[1] AS username,
                 (array_agg(type ORDER BY position DESC))[1] AS last_type,
                 max(position) AS last_position, min(position) AS first_position
          FROM event_log
          WHERE (metadata ->> 'node') = dead AND type IN ('chat.join', 'chat.leave') AND position > since
          GROUP BY stream, data ->> 'uid') m
    WHERE m.last_type = 'chat.join';
    n := append_chat_leaves(dead, 'chat-heal:' || dead, jsonb_build_object('node', dead, 'healed', true),
                            streams, uids, usernames, positions);
    IF n > 0 THEN
        UPDATE chat_node SET healed_at = clock_timestamp() WHERE node = dead;
    END IF;
    UPDATE chat_node SET healed_position = (SELECT coalesce(max(position), 0) FROM event_log) WHERE node = dead;
    RETURN n;
END
$$;
