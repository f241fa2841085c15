-- 011_chat_node: the lease of each running chat process ("node"), so that the presence of a
-- process that died (SIGKILL, a lost host) heals: its users' `leave` events are appended by
-- another chat process, or by the next one to start (functions/heal_chat_node.sql).
--
--   node                              started_at  seen_at   healed_at
--   chat@web1:8888/1764480000123456   09:00:00    09:41:05            (alive: renewed every 5 s)
--   chat@web2:8888/1764479000654321   08:40:00    09:12:30  09:12:46  (died; its leaves appended)
--
-- Every chat.join and chat.leave a node appends carries {"node": "<node>"} in its metadata; the
-- partial index finds a node's joins and leaves without reading the rest of the log.
CREATE TABLE IF NOT EXISTS chat_node (
    node        text        PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    healed_at   timestamptz  -- the last heal; the node learns of it at its next renewal
);

CREATE INDEX IF NOT EXISTS event_log_presence ON event_log ((metadata ->> 'node'))
    WHERE type IN ('chat.join', 'chat.leave');
