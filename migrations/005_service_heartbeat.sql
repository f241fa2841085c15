-- Long-running st-chat processes say they are alive here every few seconds, with what they
-- serve; `stchat status` reads it. A row whose seen_at is old belongs to a process that died
-- without saying goodbye (a clean stop deletes its row).
--
--   id               kind   pid    port  sessions  seen_at
--   chat@host:8888   chat   4242   8888  17        2026-11-28 19:00:03+00
CREATE TABLE IF NOT EXISTS service_heartbeat (
    id          text        PRIMARY KEY,  -- "<kind>@<host>:<port>"
    kind        text        NOT NULL,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    port        integer,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    info        jsonb       NOT NULL DEFAULT '{}'  -- e.g. {"sessions": 17, "sessions_legacy": 2}
);
