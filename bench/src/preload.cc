#include "preload.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "median.h"
#include "stchat/common/log.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"
#include "stchat/ops/replay.h"

namespace stchat::bench {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr int64_t k_chunk = 1000000;  // one transaction per million events: progress, bounded WAL

double ms_since(clock_type::time_point t) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// A FILE* that notes when the first byte is written to it and discards everything.
struct first_write {
    clock_type::time_point at{};
    bool seen = false;
};
ssize_t note_write(void* cookie, const char*, size_t n) {
    auto* w = static_cast<first_write*>(cookie);
    if (!w->seen) {
        w->seen = true;
        w->at = clock_type::now();
    }
    return static_cast<ssize_t>(n);
}

}  // namespace

void preload_log(const eventstore::store_config& store, int64_t n) {
    auto s = store;
    s.statement_timeout_ms = 0;
    auto sql = eventstore::make_sql_session(s);
    auto start = clock_type::now();
    for (int64_t lo = 1; lo <= n; lo += k_chunk) {
        int64_t hi = std::min(n, lo + k_chunk - 1);
        // Odd positions: sport events, even: executions; stream_seq = (g + 1) / 2 in each.
        sql->exec(
            "WITH g AS (SELECT g FROM generate_series($1::bigint, $2::bigint) g),"
            " l AS (INSERT INTO event_log (position, stream, stream_seq, type, payload, data, metadata, source_time)"
            "  SELECT g, CASE WHEN g % 2 = 1 THEN 'feed.sport_event' ELSE 'feed.execution' END, (g + 1) / 2,"
            "   CASE WHEN g % 2 = 1 THEN 'sport_event' ELSE 'execution' END,"
            "   decode(substr(md5(g::text) || md5((g + 1)::text), 1, 76), 'hex'),"
            "   CASE WHEN g % 2 = 1"
            "    THEN jsonb_build_object('sport', 'BASEBALL', 'data_event', 'triple at ' || (g % 90) || '''',"
            "                            'match_title', 'Astros vs Braves')"
            "    ELSE jsonb_build_object('symbol', 'KO', 'market', 'NYSE', 'price', 59.51 + (g % 100) / 100.0,"
            "                            'quantity', g % 1000, 'executionEpoch', 1764312000 + g, 'stateSymbol', 'NY') END,"
            "   jsonb_build_object('subject', CASE WHEN g % 2 = 1 THEN 'sport_event' ELSE 'execution' END,"
            "                      'stream_seq', g, 'delivered', 1,"
            "                      'headers', jsonb_build_object('Nats-Msg-Id', 'preload-' || g)),"
            "   now() - interval '1 day' + g * interval '1 microsecond'"
            "  FROM g RETURNING position),"
            " i AS (INSERT INTO inbox (source, message_id, position) SELECT 'preload', g::text, g FROM g RETURNING 1)"
            " SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM i)",
            {std::to_string(lo), std::to_string(hi)});
        sql->exec("SELECT apply_event($1 - 1, $2), apply_execution($1 - 1, $2)", {std::to_string(lo), std::to_string(hi)});
        log::info("bench", "preloaded " + std::to_string(hi) + " / " + std::to_string(n) + " events (" +
                               std::to_string(static_cast<int>(ms_since(start) / 1000)) + " s)");
    }
    sql->exec("INSERT INTO checkpoint (projector, position) SELECT p, $1::bigint FROM unnest(ARRAY['event', 'execution', 'chat_log']) p"
              " ON CONFLICT (projector) DO UPDATE SET position = excluded.position",
              {std::to_string(n)});
    // A room on top, written the way chat writes: through append_batch.
    auto log = eventstore::make_event_log(store);
    std::vector<eventstore::new_event> batch;
    for (int i = 1; i <= 1000; ++i) {
        eventstore::new_event e;
        e.source = "chat:preload";
        e.message_id = std::to_string(i);
        e.stream = "room.preload";
        e.type = "chat.message";
        e.data_json = R"({"room":"preload","user":"eve","uid":"u1","text":"message )" + std::to_string(i) + "\"}";
        batch.push_back(std::move(e));
    }
    log->append_batch(batch);
    sql->exec_nontx("VACUUM ANALYZE event_log");
    sql->exec_nontx("VACUUM ANALYZE inbox");
}

head_reads measure_head_reads(const eventstore::store_config& store) {
    auto log = eventstore::make_event_log(store);
    int64_t head = log->head();
    int64_t room_head = log->stream_head("room.preload");
    std::vector<double> replay_ms, room_ms;
    for (int i = 0; i < 7; ++i) {
        first_write w;
        cookie_io_functions_t io{nullptr, note_write, nullptr, nullptr};
        std::FILE* out = fopencookie(&w, "w", io);
        ops::replay_config rc;
        rc.store = store;
        rc.from = std::max<int64_t>(1, head - 100);
        auto t = clock_type::now();
        ops::replay(rc, out);
        std::fclose(out);
        replay_ms.push_back(std::chrono::duration<double, std::milli>(w.at - t).count());
        auto r0 = clock_type::now();
        auto events = log->read_stream("room.preload", std::max<int64_t>(0, room_head - 50), 200);
        room_ms.push_back(ms_since(r0));
        if (events.size() != static_cast<size_t>(std::min<int64_t>(50, room_head))) {
            throw std::runtime_error("room read returned " + std::to_string(events.size()) + " events, not 50");
        }
    }
    return {median(replay_ms), median(room_ms)};
}

double bytes_per_event(const eventstore::store_config& store) {
    auto sql = eventstore::make_sql_session(store);
    // Per relation: heap (with TOAST) and indexes, per event of the log; printed, then summed.
    auto rows = sql->exec(
        "SELECT r, pg_table_size(r::regclass)::double precision / e, pg_indexes_size(r::regclass)::double precision / e"
        " FROM unnest(ARRAY['event_log', 'inbox', 'event', 'execution', 'chat_log']) r,"
        " (SELECT greatest(1, max(position))::double precision AS e FROM event_log) n");
    double total = 0;
    std::string line = "bytes per event:";
    for (const auto& r : rows) {
        double heap = std::stod(*r.at(1)), index = std::stod(*r.at(2));
        total += heap + index;
        char part[96];
        std::snprintf(part, sizeof part, " %s %.0f + %.0f (indexes);", r.at(0)->c_str(), heap, index);
        line += part;
    }
    std::printf("%s total %.0f\n", line.c_str(), total);
    return total;
}

}  // namespace stchat::bench
