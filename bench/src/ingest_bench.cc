#include "stchat/bench/ingest_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/migrations.h"
#include "stchat/eventstore/sql_session.h"
#include "stchat/ingest/feed_codec.h"
#include "stchat/ingest/feed_simulator.h"
#include "stchat/ingest/ingest.h"
#include "stchat/projections/projector.h"

#include "median.h"
#include "preload.h"

namespace stchat::bench {
namespace {

constexpr const char* k_component = "bench";
constexpr uint64_t k_seed = 20261128;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

void fresh_database(eventstore::sql_session& admin, const std::string& db) {
    admin.exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    admin.exec_nontx("CREATE DATABASE \"" + db + "\"");
}

struct bench_message {
    ingest::feed_kind kind;
    std::string payload;
};

// The same messages the loader published: the generator is deterministic for a seed.
std::vector<bench_message> regenerate(int64_t count, int64_t total) {
    std::vector<bench_message> out;
    int64_t half = total / 2;
    for (int64_t i = 0; i < count; ++i) {
        auto kind = i % 2 ? ingest::feed_kind::execution : ingest::feed_kind::sport_event;
        int64_t n = i / 2;
        if (n >= half) break;
        out.push_back({kind, ingest::make_feed_payload(kind, k_seed, static_cast<uint64_t>(n))});
    }
    return out;
}

// Rows already in event + execution before the run (a preloaded log has millions).
int64_t projected_rows(const eventstore::store_config& store) {
    auto rows = eventstore::make_sql_session(store)->exec(
        "SELECT (SELECT count(*) FROM event) + (SELECT count(*) FROM execution)");
    return std::stoll(*rows.at(0).at(0));
}

double measure_ingest(const ingest_bench_config& config, const eventstore::store_config& store,
                      const ingest::stream_config& stream, const std::string& consumer, int64_t expected) {
    int64_t before = projected_rows(store);
    ingest::ingest_config ic;
    ic.nats = stream;
    ic.store = store;
    ic.consumer = consumer;
    ic.batch_size = config.batch;
    ic.stop_when_drained = true;
    ic.fetch_wait = std::chrono::milliseconds(200);
    std::atomic<bool> ingest_done{false};
    projections::projector_config pc;
    pc.store = store;
    pc.poll_interval = std::chrono::milliseconds(50);
    pc.stop_when_caught_up = [&] { return ingest_done.load(); };

    auto start = clock_type::now();
    std::thread projector([&] { projections::run_projectors(pc); });
    ingest::ingest_stats stats = ingest::run_ingest(ic);
    ingest_done = true;
    projector.join();
    double secs = seconds_since(start);
    int64_t projected = projected_rows(store) - before;
    if (projected != expected || static_cast<int64_t>(stats.appended) != expected) {
        throw std::runtime_error("bench " + consumer + ": expected " +
                                 std::to_string(expected) + " rows, got " +
                                 std::to_string(stats.appended) + " appended, " +
                                 std::to_string(projected) + " projected");
    }
    return static_cast<double>(expected) / secs;
}

double measure_naive(eventstore::sql_session& s, const std::vector<bench_message>& msgs) {
    s.exec("CREATE TABLE IF NOT EXISTS naive_event (id bigserial PRIMARY KEY, timestamp timestamptz,"
           " sport text, match_title text, data_event text)");
    s.exec("CREATE TABLE IF NOT EXISTS naive_execution (id bigserial PRIMARY KEY,"
           " timestamp timestamptz, symbol text, market text, price real, quantity real,"
           " executionepoch bigint, statesymbol text)");
    auto start = clock_type::now();
    for (const auto& m : msgs) {
        auto d = ingest::decode_feed(m.kind, m.payload);
        // One statement, one commit per message: what the original did.
        if (m.kind == ingest::feed_kind::sport_event) {
            s.exec("INSERT INTO naive_event (timestamp, sport, match_title, data_event)"
                   " SELECT now(), d->>'sport', d->>'match_title', d->>'data_event'"
                   " FROM (SELECT $1::jsonb AS d) x",
                   {d.data_json});
        } else {
            s.exec("INSERT INTO naive_execution (timestamp, symbol, market, price, quantity,"
                   " executionepoch, statesymbol) SELECT now(), d->>'symbol', d->>'market',"
                   " (d->>'price')::real, (d->>'quantity')::real, (d->>'executionEpoch')::bigint,"
                   " d->>'stateSymbol' FROM (SELECT $1::jsonb AS d) x",
                   {d.data_json});
        }
    }
    return static_cast<double>(msgs.size()) / seconds_since(start);
}

double measure_ceiling(eventstore::sql_session& s, const std::vector<bench_message>& msgs, int run) {
    std::string table = "ceiling_" + std::to_string(run);
    s.exec("CREATE TABLE " + table + " (id bigint PRIMARY KEY, payload bytea NOT NULL)");
    static const char* hex = "0123456789abcdef";
    auto start = clock_type::now();
    for (size_t i = 0; i < msgs.size(); i += 1000) {
        std::string sql = "INSERT INTO " + table + " (id, payload) VALUES ";
        size_t end = std::min(msgs.size(), i + 1000);
        for (size_t k = i; k < end; ++k) {
            if (k > i) sql += ',';
            sql += '(' + std::to_string(k + 1) + ",'\\x";
            for (unsigned char c : msgs[k].payload) {
                sql.push_back(hex[c >> 4]);
                sql.push_back(hex[c & 15]);
            }
            sql += "')";
        }
        s.exec(sql);
    }
    return static_cast<double>(msgs.size()) / seconds_since(start);
}

}  // namespace

ingest_bench_result run_ingest_bench(const ingest_bench_config& config) {
    auto admin = eventstore::make_sql_session(config.store);
    std::string db = *admin->exec("SELECT current_database()").at(0).at(0) + "_bench";
    auto store = eventstore::with_database(config.store, db);
    int64_t total = config.messages - config.messages % 2;

    // Load the messages once: half sport events, half executions, acked (nothing lost).
    ingest::stream_config stream;
    stream.nats_urls = config.nats_urls;
    stream.stream = "STCHAT_BENCH";
    stream.sport_event_subject = "bench.sport_event";
    stream.execution_subject = "bench.execution";
    {
        ingest::delete_stream(stream);  // leftovers of an earlier bench would be counted
        ingest::feed_config fc;
        fc.nats = stream;
        fc.rate = 0;
        fc.acked = true;
        fc.seed = k_seed;
        fc.count = total / 2;
        fc.run_id = "bench-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
        auto start = clock_type::now();
        fc.kind = ingest::feed_kind::sport_event;
        ingest::run_feed(fc);
        fc.kind = ingest::feed_kind::execution;
        ingest::run_feed(fc);
        std::printf("loaded %lld messages into stream %s in %.1f s\n", static_cast<long long>(total),
                    stream.stream.c_str(), seconds_since(start));
    }

    std::vector<double> ingest_rates, naive_rates, ceiling_rates;
    auto naive_msgs = regenerate(config.naive_messages, total);
    auto ceiling_msgs = regenerate(total, total);
    for (int run = 1; run <= config.runs && !stop_requested(); ++run) {
        fresh_database(*admin, db);
        eventstore::migrate(store);
        double r = measure_ingest(config, store, stream, "bench-run-" + std::to_string(run), total);
        auto s = eventstore::make_sql_session(store);
        double b = measure_naive(*s, naive_msgs);
        double c = measure_ceiling(*s, ceiling_msgs, run);
        std::printf("run %d: ingest %.0f msgs/s, naive %.0f msgs/s, ceiling %.0f msgs/s\n", run, r,
                    b, c);
        std::fflush(stdout);
        ingest_rates.push_back(r);
        naive_rates.push_back(b);
        ceiling_rates.push_back(c);
    }
    ingest_bench_result res{median(ingest_rates), median(naive_rates), median(ceiling_rates)};
    if (config.preload > 0 && !stop_requested()) {
        fresh_database(*admin, db);
        eventstore::migrate(store);
        auto start = clock_type::now();
        preload_log(store, config.preload);
        std::printf("preloaded %lld events in %.0f s\n", static_cast<long long>(config.preload), seconds_since(start));
        res.preloaded_rate = measure_ingest(config, store, stream, "bench-preloaded", total);
        auto reads = measure_head_reads(store);
        res.replay_first_ms = reads.replay_first_ms;
        res.room_read_ms = reads.room_read_ms;
        res.bytes_per_event = bytes_per_event(store);
        std::printf("at %lld events: ingest %.0f msgs/s (%.2f of the empty log's), replay near the head: first line"
                    " in %.1f ms, a join's room read (since = head - 50): %.1f ms, %.0f bytes/event\n",
                    static_cast<long long>(config.preload), res.preloaded_rate, res.preloaded_rate / res.ingest_rate,
                    res.replay_first_ms, res.room_read_ms, res.bytes_per_event);
    }
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    std::printf("medians of %zu runs; ingest/naive %.1fx, ingest/ceiling %.2f\n",
                ingest_rates.size(), res.ingest_rate / res.naive_rate,
                res.ingest_rate / res.ceiling_rate);
    std::printf("ingest: %.0f msgs/s, naive: %.0f msgs/s, ceiling: %.0f msgs/s", res.ingest_rate,
                res.naive_rate, res.ceiling_rate);
    if (res.preloaded_rate > 0) {
        std::printf("; at %lld events: %.0f msgs/s (%.2f ratio), %.0f bytes/event", static_cast<long long>(config.preload),
                    res.preloaded_rate, res.preloaded_rate / res.ingest_rate, res.bytes_per_event);
    }
    std::printf("\n");
    return res;
}

}  // namespace stchat::bench
