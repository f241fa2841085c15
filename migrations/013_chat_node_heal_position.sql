-- 013_chat_node_heal_position: a heal closes every membership a dead node had open up to a log
-- position; `healed_position` remembers it, so the next heal of the same node (it came back,
-- joined users again, and died again) reads only what came after. The index finds one node's joins
-- and leaves after a position (it replaces 011's index on the node alone).
ALTER TABLE chat_node ADD COLUMN IF NOT EXISTS healed_position bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS event_log_node_membership ON event_log ((metadata ->> 'node'), position)
    WHERE type IN ('chat.join', 'chat.leave');
DROP INDEX IF EXISTS event_log_presence;
