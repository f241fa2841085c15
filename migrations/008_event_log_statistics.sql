-- 008_event_log_statistics: no planner statistics on the log's wide columns.
--
-- Autovacuum's ANALYZE of event_log sorted samples of every jsonb document (data, metadata) and
-- payload to build statistics nobody uses: no query filters the log by those columns (readers go
-- by position, stream or type). Measured in `stchat bench ingest`: ~10% of both cores went to
-- compareJsonbContainers under ANALYZE while the feeds were appended (docs/benchmarks.md).
ALTER TABLE event_log ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE event_log ALTER COLUMN metadata SET STATISTICS 0;
ALTER TABLE event_log ALTER COLUMN payload SET STATISTICS 0;
