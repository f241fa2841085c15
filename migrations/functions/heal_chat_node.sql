-- heal_chat_node: if chat process `dead` has not renewed its lease for `lease`, appends a
-- `leave` for each (room, user) it joined and did not leave, and marks it healed. Exactly once,
-- however many processes heal at the same time: the node's row is locked and checked again, and
-- each leave's inbox key names the join it closes ("chat-heal:<node>", "<room>/<uid>@<position>").
-- The leaves carry the dead node in their metadata (with "healed": true), so the node's joins and
-- leaves balance afterwards and a second heal finds nothing. Returns the leaves appended.
--
-- Example: node N died with alice in lobby (join at position 41) and bob in lobby and dev:
--   SELECT heal_chat_node('N', interval '15 seconds');   -> 3 (lobby: alice, bob; dev: bob)
--   SELECT heal_chat_node('N', interval '15 seconds');   -> 0
CREATE OR REPLACE FUNCTION heal_chat_node(dead text, lease interval)
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
    PERFORM 1 FROM chat_node
    WHERE node = dead AND seen_at < now() - lease AND (healed_at IS NULL OR healed_at < seen_at)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;  -- alive, healed already, or unknown
    END IF;
    FOR o IN
        SELECT stream, data ->> 'uid' AS uid,
               (array_agg(data ->> 'user' ORDER BY position DESC))[1] AS username,
               max(position) FILTER (WHERE type = 'chat.join') AS last_join
        FROM event_log
        WHERE (metadata ->> 'node') = dead AND type IN ('chat.join', 'chat.leave')
        GROUP BY stream, data ->> 'uid'
        HAVING sum(CASE WHEN type = 'chat.join' THEN 1 ELSE -1 END) > 0
        ORDER BY min(position)
    LOOP
        sources := sources || ('chat-heal:' || dead);
        ids := ids || (substr(o.stream, 6) || '/' || o.uid || '@' || o.last_join);
        streams := streams || o.stream;
        datas := datas || jsonb_build_object('room', substr(o.stream, 6), 'user', o.username, 'uid', o.uid)::text;
    END LOOP;
    n := coalesce(array_length(sources, 1), 0);
    IF n > 0 THEN
        PERFORM append_batch(sources, ids, streams, array_fill('chat.leave'::text, ARRAY[n]),
                             array_fill(''::bytea, ARRAY[n]), datas,
                             array_fill(jsonb_build_object('node', dead, 'healed', true)::text, ARRAY[n]),
                             array_fill(NULL::bigint, ARRAY[n]));
    END IF;
    UPDATE chat_node SET healed_at = now() WHERE node = dead;
    RETURN n;
END
$$;
