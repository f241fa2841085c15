-- 010_chat_log_uid: chat_log gains the author's uid, so two users who both call themselves
-- "eve" can be told apart in SQL. The uid is in every chat event's data since the start; rows
-- projected before this migration get it from the log here, once.
--
--   room   username  uid                                action   seq
--   lobby  eve       3f6c0e8e-…                         message  41
--   lobby  eve       9a1d27b4-…                         message  42
ALTER TABLE chat_log ADD COLUMN IF NOT EXISTS uid text;
UPDATE chat_log c SET uid = l.data ->> 'uid'
FROM event_log l
WHERE l.position = c.position AND c.uid IS NULL AND l.data ? 'uid';
