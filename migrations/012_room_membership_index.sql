-- 012_room_membership_index: the joins and leaves of one room without reading its messages. A
-- chat process reads who is in a room from them (the first time one of its sessions joins it;
-- then it follows the room's events), so `members` is the same on every process.
--
--   SELECT data->>'uid', sum(CASE type WHEN 'chat.join' THEN 1 ELSE -1 END) FROM event_log
--   WHERE stream = 'room.lobby' AND type IN ('chat.join', 'chat.leave') GROUP BY 1;
CREATE INDEX IF NOT EXISTS event_log_room_membership ON event_log (stream, position)
    WHERE type IN ('chat.join', 'chat.leave');
