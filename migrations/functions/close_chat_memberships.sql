-- close_chat_memberships: node `me` ends the memberships (rooms[i], uids[i]) it still holds,
-- appending a `leave` for each whose last join or leave through `me` is a join, and returns how
-- many. For the users of a node a restarted process took over (adopt_chat_node) who did not
-- come back within the lease. Decided under the log's append lock, like heal_chat_node: a user
-- who is in the room through another node meanwhile (came back through it) gets a leave marked
-- {"still_here": true}, which ends `me`'s part only. Keyed "chat-close:<me>" /
-- "<room>/<uid>@<position of the join closed>": a second call appends nothing.
--
-- Example: alice (lobby) did not come back, bob came back through node E:
--   SELECT close_chat_memberships('N', '{lobby,lobby}', '{u-alice,u-bob}');  -> 2
--   (alice: leave; bob: leave with still_here)
CREATE OR REPLACE FUNCTION close_chat_memberships(me text, rooms text[], uids text[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    o record;
    sources text[] := '{}';
    ids text[] := '{}';
    streams text[] := '{}';
    datas text[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(7311);  -- append_batch's lock: the log holds still while we read
    FOR o IN
        WITH wanted AS (SELECT 'room.' || w.r AS stream, w.u AS uid FROM unnest(rooms, uids) AS w(r, u)),
        mine AS (
            SELECT DISTINCT ON (l.stream, l.data ->> 'uid')
                   l.stream, l.data ->> 'uid' AS uid, l.data ->> 'user' AS username, l.type, l.position
            FROM event_log l JOIN wanted w ON w.stream = l.stream AND w.uid = (l.data ->> 'uid')
            WHERE l.type IN ('chat.join', 'chat.leave') AND (l.metadata ->> 'node') = me
            ORDER BY l.stream, l.data ->> 'uid', l.position DESC),
        elsewhere AS (
            SELECT DISTINCT last.stream, last.uid
            FROM (SELECT DISTINCT ON (l.stream, l.data ->> 'uid', l.metadata ->> 'node')
                         l.stream, l.data ->> 'uid' AS uid, l.type
                  FROM event_log l
                  WHERE l.stream IN (SELECT w.stream FROM wanted w) AND l.type IN ('chat.join', 'chat.leave')
                    AND (l.metadata ->> 'node') IS NOT NULL AND (l.metadata ->> 'node') <> me
                  ORDER BY l.stream, l.data ->> 'uid', l.metadata ->> 'node', l.position DESC) last
            WHERE last.type = 'chat.join')
        SELECT m.stream, m.uid, m.username, m.position, (e.uid IS NOT NULL) AS still_here
        FROM mine m LEFT JOIN elsewhere e ON e.stream = m.stream AND e.uid = m.uid
        WHERE m.type = 'chat.join'
        ORDER BY m.position
    LOOP
        sources := sources || ('chat-close:' || me);
        ids := ids || (substr(o.stream, 6) || '/' || o.uid || '@' || o.position);
        streams := streams || o.stream;
        datas := datas || (jsonb_build_object('room', substr(o.stream, 6), 'user', o.username, 'uid', o.uid)
                           || CASE WHEN o.still_here THEN '{"still_here": true}'::jsonb ELSE '{}'::jsonb END)::text;
    END LOOP;
    n := coalesce(array_length(sources, 1), 0);
    IF n > 0 THEN
        PERFORM append_batch(sources, ids, streams, array_fill('chat.leave'::text, ARRAY[n]),
                             array_fill(''::bytea, ARRAY[n]), datas,
                             array_fill(jsonb_build_object('node', me)::text, ARRAY[n]),
                             array_fill(NULL::bigint, ARRAY[n]));
    END IF;
    RETURN n;
END
$$;
