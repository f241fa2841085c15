-- 007_inbox_floor: how inbox keys are retired without ever admitting a duplicate.
--
-- Every append leaves an inbox key (source, message_id) forever: at 50k msgs/s, 4.3 billion a
-- day. `stchat compact` (compact_inbox) retires keys in two ways, each a contract:
--
--   * Sequence sources (JetStream: 'nats:<stream>:<created>', ids are the stream sequence). The
--     keys 1..F of a source, all present, are replaced by one row here: floor = F. An append of
--     any id <= F is a duplicate (inbox_key_retired), recognised as surely as by the keys
--     themselves: nothing is forgotten, only the original position (reported as 0). F only moves
--     over ids that are all in the inbox, so an id that never arrived (a gap) is never covered.
--   * Client sources ('chat:<uid>', 'chat-session:<uid>', ids chosen by the client): keys older
--     than the retention window (`stchat compact --chat-days`, default 7) are deleted. A client
--     must not resend an unacknowledged message after that long; docs/protocol.md says so.
--
-- Every retirement is logged in inbox_compaction. event_log stays append-only, always.
--
--   source                                  floor     retired    updated_at
--   nats:STCHAT_FEEDS:1764312000123456789   4180000   4180000    2026-11-30 03:00:00+00
-- The check of a projection name is now projection_check (functions/).
DROP FUNCTION IF EXISTS rebuild_check(text);

CREATE TABLE IF NOT EXISTS inbox_floor (
    source      text        COLLATE "C" PRIMARY KEY,
    floor       bigint      NOT NULL CHECK (floor >= 0),
    retired     bigint      NOT NULL DEFAULT 0,  -- keys of this source retired in all
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS inbox_compaction (
    id            bigserial   PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    below_position bigint     NOT NULL,  -- only keys of events at or below this position
    sequence_keys bigint      NOT NULL,  -- retired under floors
    client_keys   bigint      NOT NULL,  -- retired by age
    inbox_after   bigint      NOT NULL   -- keys left in the inbox
);
