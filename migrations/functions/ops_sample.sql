-- ops_sample: one sample of what the operator's page (/ops on a chat port) charts: the log's
-- head, the undecodable records, each projector's position, and every live process (a heartbeat
-- seen in the last 15 s) with what it reports (sessions, its metrics' counters and gauges).
-- Each chat process takes one every 5 s and keeps the last 10 minutes; rates and lags are
-- differences of two samples, worked out by the page.
--
-- Example: SELECT ops_sample();
--   {"at": "2026-11-30T08:00:05.1+00:00", "head": 52110, "undecodable": 3,
--    "projections": {"event": 52100, "execution": 52110, "chat_log": 52110},
--    "processes": [{"id": "ingest@web1:8891", "kind": "ingest", "seen_at": "…",
--                   "info": {"metrics": {"stchat_ingest_messages_ingested_total": 41000, …}}}, …]}
CREATE OR REPLACE FUNCTION ops_sample() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'at', clock_timestamp(),
        'head', (SELECT coalesce(max(position), 0) FROM event_log),
        'undecodable', (SELECT count(*) FROM event_log WHERE type = 'undecodable'),
        'projections', (SELECT coalesce(jsonb_object_agg(projector, position ORDER BY projector), '{}')
                        FROM checkpoint),
        'processes', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'kind', kind, 'pid', pid,
                                                                   'seen_at', seen_at, 'info', info)
                                                ORDER BY kind, id), '[]')
                      FROM service_heartbeat
                      WHERE seen_at > now() - interval '15 seconds'))
$$;
