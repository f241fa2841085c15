-- 009_log_identity: the log's identity, made once per database from Postgres' strong random
-- source. `stchat outbox` publishes event N as Nats-Msg-Id "<identity>:<N>", so a JetStream
-- stream can tell this log's events from another's (a database recreated from scratch gets a new
-- identity; a restored backup keeps it).
--
--   id  identity                               created_at
--   1   5f0c2d1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f   2026-11-30 03:00:00+00
CREATE TABLE IF NOT EXISTS log_identity (
    id          int         PRIMARY KEY CHECK (id = 1),
    identity    uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO log_identity (id, identity) VALUES (1, gen_random_uuid()) ON CONFLICT DO NOTHING;
