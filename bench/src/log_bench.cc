#include "stchat/bench/log_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "stchat/common/log.h"
#include "stchat/eventstore/migrations.h"
#include "stchat/eventstore/sql_session.h"
#include "stchat/ingest/ingest.h"
#include "stchat/ingest/outbox.h"
#include "stchat/ops/rebuild.h"
#include "stchat/ops/replay.h"
#include "stchat/projections/projector.h"

#include "median.h"

namespace stchat::bench {
namespace {

using steady = std::chrono::steady_clock;

template <typename F>
double seconds_of(F&& f) {
    auto t0 = steady::now();
    f();
    return std::chrono::duration<double>(steady::now() - t0).count();
}

}  // namespace

log_bench_result run_log_bench(const log_bench_config& c) {
    auto admin = eventstore::make_sql_session(c.store);
    std::string db = *admin->exec("SELECT current_database()").at(0).at(0) + "_bench_log";
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    admin->exec_nontx("CREATE DATABASE \"" + db + "\"");
    auto store = eventstore::with_database(c.store, db);
    eventstore::migrate(store);
    auto sql = eventstore::make_sql_session(store);
    std::printf("loading %lld events (half executions, a quarter sport events, a quarter chat messages)\n",
                static_cast<long long>(c.events));
    std::fflush(stdout);
    // Written directly, not through append_batch: this bench is about reading the log back.
    sql->exec(
        "INSERT INTO event_log (position, stream, stream_seq, type, payload, data, metadata, source_time)"
        " SELECT i, s.stream, row_number() OVER (PARTITION BY s.stream ORDER BY i), s.type, '\\x0a'::bytea, s.data,"
        "        jsonb_build_object('subject', s.type, 'stream_seq', i, 'delivered', 1), now()"
        " FROM generate_series(1, $1::bigint) i, LATERAL (SELECT CASE WHEN i % 4 < 2 THEN 'feed.execution'"
        "        WHEN i % 4 = 2 THEN 'feed.sport_event' ELSE 'room.lobby' END AS stream,"
        "      CASE WHEN i % 4 < 2 THEN 'execution' WHEN i % 4 = 2 THEN 'sport_event' ELSE 'chat.message' END AS type,"
        "      CASE WHEN i % 4 < 2 THEN jsonb_build_object('symbol', 'AAPL', 'market', 'NASDAQ', 'price', 187.25,"
        "             'quantity', i % 500, 'executionEpoch', 1764312000 + i, 'stateSymbol', 'FILLED')"
        "           WHEN i % 4 = 2 THEN jsonb_build_object('sport', 'TENNIS', 'match_title', 'Nadal vs Federer',"
        "             'data_event', 'ace at ' || i)"
        "           ELSE jsonb_build_object('room', 'lobby', 'user', 'ann', 'uid', 'u1', 'id', 'm-' || i,"
        "             'text', 'message number ' || i) END AS data) s",
        {std::to_string(c.events)});
    sql->exec_nontx("VACUUM ANALYZE event_log");
    log_bench_result res;
    std::vector<double> replay, raw, rebuild, incremental, outbox, ceiling, guarded;
    // The mean size of what the outbox publishes per event, for its baseline.
    size_t event_bytes = static_cast<size_t>(std::stod(*sql->exec(
        "SELECT avg(length(data::text) + length(metadata::text) + length(stream) + length(type) + 130)"
        " FROM event_log WHERE position <= 10000").at(0).at(0)));
    std::FILE* null = std::fopen("/dev/null", "w");
    for (int run = 1; run <= c.runs; ++run) {
        ops::replay_config rc;
        rc.store = store;
        double t_replay = seconds_of([&] { ops::replay(rc, null); });
        // Raw read: the same rows and JSON columns in one query, nothing formatted or written.
        double t_raw = seconds_of([&] {
            sql->exec("SELECT count(*), sum(length(data::text) + length(metadata::text)) FROM event_log");
        });
        // Incremental projector from 0 on a fresh set of tables, then the rebuild of all three.
        sql->exec("TRUNCATE event, execution, chat_log");
        sql->exec("UPDATE checkpoint SET position = 0");
        projections::projector_config pc;
        pc.store = store;
        pc.batch_size = 50000;
        pc.stop_when_caught_up = [] { return true; };
        double t_incremental = seconds_of([&] { projections::run_projectors(pc); });
        ops::rebuild_config bc;
        bc.store = store;
        bc.tables = projections::all_projectors();
        double t_rebuild = seconds_of([&] { ops::rebuild(bc); });
        double n = static_cast<double>(c.events);
        replay.push_back(n / t_replay);
        raw.push_back(n / t_raw);
        incremental.push_back(3 * n / t_incremental);
        rebuild.push_back(3 * n / t_rebuild);
        // The outbox: every event published to a fresh JetStream stream and acknowledged.
        ingest::stream_config bench_stream;
        bench_stream.nats_urls = c.nats_urls;
        bench_stream.stream = "STCHAT_BENCH_OUTBOX";
        ingest::delete_stream(bench_stream);
        sql->exec("DELETE FROM checkpoint WHERE projector = 'outbox:STCHAT_BENCH_OUTBOX'");
        ingest::outbox_config oc;
        oc.nats_urls = c.nats_urls;
        oc.store = store;
        oc.stream = bench_stream.stream;
        oc.subject_prefix = "bench_outbox";
        oc.stop_when_caught_up = [] { return true; };
        ingest::outbox_stats os;
        double t_outbox = seconds_of([&] { os = ingest::run_outbox(oc); });
        if (os.position != c.events) {
            throw std::runtime_error("outbox stopped at " + std::to_string(os.position) + " of " + std::to_string(c.events));
        }
        ingest::delete_stream(bench_stream);
        outbox.push_back(n / t_outbox);
        ceiling.push_back(ingest::measure_publish_ceiling(c.nats_urls, "STCHAT_BENCH_CEILING", c.events, event_bytes));
        guarded.push_back(ingest::measure_publish_ceiling(c.nats_urls, "STCHAT_BENCH_CEILING", c.events, event_bytes,
                                                          ingest::publish_guards::msg_id_and_expected_sequence));
        std::printf("run %d  replay %9.0f ev/s  raw read %9.0f ev/s  rebuild %9.0f ev/s  incremental %9.0f ev/s"
                    "  outbox %9.0f ev/s  publish ceiling %9.0f msg/s (guarded %9.0f msg/s)\n", run, replay.back(),
                    raw.back(), rebuild.back(), incremental.back(), outbox.back(), ceiling.back(), guarded.back());
        std::fflush(stdout);
    }
    std::fclose(null);
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    res = {median(replay), median(raw), median(rebuild), median(incremental), median(outbox), median(ceiling),
           median(guarded)};
    std::printf("medians of %d runs, %lld events; replay/raw %.2f, rebuild/incremental %.2f, outbox/publish ceiling %.2f"
                " (outbox/guarded ceiling %.2f)\n",
                c.runs, static_cast<long long>(c.events), res.replay_rate / res.raw_read_rate,
                res.rebuild_rate / res.incremental_rate, res.outbox_rate / res.publish_ceiling,
                res.outbox_rate / res.guarded_ceiling);
    std::printf("replay: %.0f events/s (raw read: %.0f events/s); rebuild: %.0f events/s (incremental projector: %.0f events/s);"
                " outbox: %.0f events/s (bare JetStream publishes: %.0f msgs/s; with Msg-Id and expected sequence: %.0f msgs/s)\n",
                res.replay_rate, res.raw_read_rate, res.rebuild_rate, res.incremental_rate, res.outbox_rate,
                res.publish_ceiling, res.guarded_ceiling);
    return res;
}

}  // namespace stchat::bench
