-- stchat_grant_reader: (re)grants the reader role its SELECTs. `stchat rebuild` calls it after a
-- swap (a rebuilt table is a new table). Secrets stay out: chat_secret entirely, and of
-- private_room only which rooms are private and since when.
CREATE OR REPLACE FUNCTION stchat_grant_reader() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stchat_reader') THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO stchat_reader', current_database());
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;  -- not the database's owner: CONNECT is PUBLIC's by default
    END;
    GRANT USAGE ON SCHEMA public TO stchat_reader;
    GRANT SELECT ON event_log, inbox, checkpoint, event, execution, chat_log, undecodable,
                    service_heartbeat, schema_migrations, inbox_floor, inbox_compaction, log_identity, chat_node
                    TO stchat_reader;
    GRANT SELECT (room, hash_kind, created_at) ON private_room TO stchat_reader;
    REVOKE ALL ON chat_secret FROM stchat_reader;
END
$$;
