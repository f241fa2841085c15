-- close_chat_memberships: node `me` ends the memberships (rooms[i], uids[i]) it still holds,
-- appending a `leave` for each whose last join or leave through `me` is a join, and returns how
-- many. For the users of a node a restarted process took over (adopt_chat_node) who did not
-- come back within the lease. Decided under the log's append lock, like heal_chat_node: a user
-- who is in the room through another node meanwhile (came back through it) gets a leave marked
-- {"still_here": true}, which ends `me`'s part only (append_chat_leaves). Keyed "chat-close:<me>" /
-- "<room>/<uid>@<position of the join closed>": a second call appends nothing.
--
-- Example: alice (lobby) did not come back, bob came back through node E:
--   SELECT close_chat_memberships('N', '{lobby,lobby}', '{u-alice,u-bob}');  -> 2
--   (alice: leave; bob: leave with still_here)
CREATE OR REPLACE FUNCTION close_chat_memberships(me text, rooms text[], uids text[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    streams text[];
    open_uids text[];
    usernames text[];
    positions bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(7311);  -- append_batch's lock: the log holds still while we read
    SELECT array_agg(m.stream ORDER BY m.position), array_agg(m.uid ORDER BY m.position),
           array_agg(m.username ORDER BY m.position), array_agg(m.position ORDER BY m.position)
    INTO streams, open_uids, usernames, positions
    FROM (SELECT DISTINCT ON (l.stream, l.data ->> 'uid')
                 l.stream, l.data ->> 'uid' AS uid, l.data ->> 'user' AS username, l.type, l.position
          FROM event_log l
          JOIN unnest(rooms, uids) AS w(r, u) ON l.stream = 'room.' || w.r AND (l.data ->> 'uid') = w.u
          WHERE l.type IN ('chat.join', 'chat.leave') AND (l.metadata ->> 'node') = me
          ORDER BY l.stream, l.data ->> 'uid', l.position DESC) m
    WHERE m.type = 'chat.join';
    RETURN append_chat_leaves(me, 'chat-close:' || me, jsonb_build_object('node', me), streams, open_uids,
                              usernames, positions);
END
$$;
