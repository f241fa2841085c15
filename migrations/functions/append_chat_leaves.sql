-- append_chat_leaves: appends a `leave` through node `me` for each (streams[i], uids[i]) in
-- the order given, closing the membership whose last join through `me` is at positions[i]; the
-- shared end of heal_chat_node and close_chat_memberships. The caller holds the log's append
-- lock (7311) and has checked that each pair is open. A user who is in the room through another
-- node (that node's last join or leave of them there is a join) gets a leave marked
-- {"still_here": true}: `me`'s part ends, the user stays. Inbox keys: `key_source` /
-- "<room>/<uid>@<position>", so a second call for the same joins appends nothing. Returns how
-- many were given.
--
-- Example: SELECT append_chat_leaves('N', 'chat-close:N', '{"node": "N"}',
--                                    '{room.lobby}', '{u-alice}', '{alice}', '{41}');  -> 1
CREATE OR REPLACE FUNCTION append_chat_leaves(me text, key_source text, metadata jsonb, streams text[],
                                              uids text[], usernames text[], positions bigint[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(streams, 1), 0);
    ids text[];
    datas text[];
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(substr(p.stream, 6) || '/' || p.uid || '@' || p.position ORDER BY p.i),
           array_agg((jsonb_build_object('room', substr(p.stream, 6), 'user', p.username, 'uid', p.uid)
                      || CASE WHEN e.uid IS NOT NULL THEN '{"still_here": true}'::jsonb ELSE '{}'::jsonb END)::text
                     ORDER BY p.i)
    INTO ids, datas
    FROM unnest(streams, uids, usernames, positions) WITH ORDINALITY AS p(stream, uid, username, position, i)
    LEFT JOIN (
        -- The users of those rooms whose last join or leave through another node is a join.
        SELECT DISTINCT last.stream, last.uid
        FROM (SELECT DISTINCT ON (l.stream, l.data ->> 'uid', l.metadata ->> 'node')
                     l.stream, l.data ->> 'uid' AS uid, l.type
              FROM event_log l
              WHERE l.stream = ANY (streams) AND l.type IN ('chat.join', 'chat.leave')
                AND (l.metadata ->> 'node') IS NOT NULL AND (l.metadata ->> 'node') <> me
              ORDER BY l.stream, l.data ->> 'uid', l.metadata ->> 'node', l.position DESC) last
        WHERE last.type = 'chat.join') e ON e.stream = p.stream AND e.uid = p.uid;
    PERFORM append_batch(array_fill(key_source, ARRAY[n]), ids, streams, array_fill('chat.leave'::text, ARRAY[n]),
                         array_fill(''::bytea, ARRAY[n]), datas, array_fill(metadata::text, ARRAY[n]),
                         array_fill(NULL::bigint, ARRAY[n]));
    RETURN n;
END
$$;
