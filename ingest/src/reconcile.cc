#include "stchat/ingest/reconcile.h"

#include <chrono>
#include <thread>

#include "feed_record.h"
#include "nats_handles.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/retry.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::ingest {
namespace {

constexpr const char* k_component = "reconcile";
constexpr uint64_t k_range = 100000;  // sequences checked per query
constexpr size_t k_batch = 500;       // messages per append

void add(seq_ranges& ranges, uint64_t seq) {
    if (!ranges.empty() && ranges.back().second + 1 == seq) {
        ranges.back().second = seq;
    } else {
        ranges.push_back({seq, seq});
    }
}

// Sequences in [from, to] without an inbox key of `source`, ascending.
std::vector<uint64_t> absent(eventstore::sql_session& sql, const std::string& source, uint64_t from, uint64_t to) {
    std::vector<uint64_t> out;
    for (uint64_t lo = from; lo <= to && lo != 0; lo += k_range) {
        uint64_t hi = std::min(to, lo + k_range - 1);
        // A key retired under the source's floor (stchat compact) was appended: not absent.
        for (const auto& row : sql.exec("SELECT s FROM generate_series($2::bigint, $3::bigint) s WHERE NOT EXISTS"
                                        " (SELECT 1 FROM inbox i WHERE i.source = $1 AND i.message_id = s::text)"
                                        " AND NOT inbox_key_retired(coalesce((SELECT f.floor FROM inbox_floor f"
                                        " WHERE f.source = $1), 0), s::text)"
                                        " ORDER BY s",
                                        {source, std::to_string(lo), std::to_string(hi)})) {
            out.push_back(std::stoull(*row.at(0)));
        }
        if (hi == to) break;
    }
    return out;
}

}  // namespace

std::string ranges_text(const seq_ranges& ranges) {
    if (ranges.empty()) return "none";
    std::string out;
    for (const auto& [a, b] : ranges) {
        out += (out.empty() ? "" : ", ") + std::to_string(a) + (a == b ? "" : "-" + std::to_string(b));
    }
    return out;
}

reconcile_result reconcile(const reconcile_config& config) {
    auto conn = nats::connect({config.nats.nats_urls, "stchat-reconcile", k_component});
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    jsCtx* raw_js = nullptr;
    nats::check(natsConnection_JetStream(&raw_js, conn.get(), &jo), "JetStream context");
    nats::js_ptr js(raw_js);

    reconcile_result r;
    r.stream = config.nats.stream;
    // The connection comes up in the background: try for ~10 s.
    for (int attempt = 0;; ++attempt) {
        jsStreamInfo* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_GetStreamInfo(&raw, js.get(), config.nats.stream.c_str(), nullptr, &jerr);
        if (s == NATS_OK) {
            nats::stream_info_ptr info(raw);
            r.created_ns = info->Created;
            r.first_seq = info->State.FirstSeq;
            r.last_seq = info->State.LastSeq;
            break;
        }
        if (s == NATS_NOT_FOUND || attempt >= 5 || stop_requested()) {
            throw nats::nats_error(s, "stream info for " + config.nats.stream);
        }
        sleep_unless_stopped(std::chrono::milliseconds(500));
    }
    std::string source = inbox_source(r.stream, r.created_ns);
    auto sql = eventstore::make_sql_session(config.store);

    // Gone from the stream (retention) and never catalogued: cannot be repaired, only named.
    if (r.first_seq > 1) {
        for (uint64_t seq : absent(*sql, source, 1, r.first_seq - 1)) add(r.lost, seq);
    }
    if (r.last_seq == 0) return r;  // an empty stream
    auto missing = absent(*sql, source, std::max<uint64_t>(1, r.first_seq), r.last_seq);
    r.missing = missing.size();
    if (config.dry_run) {
        for (uint64_t seq : missing) add(r.repaired, seq);
        return r;
    }
    auto log = eventstore::make_event_log(config.store);
    std::vector<eventstore::new_event> batch;
    auto flush = [&] {
        if (batch.empty()) return;
        // Idempotent by construction (inbox keys): retried, also after a commit in doubt; for 5 s.
        eventstore::retry_policy retry({k_component, eventstore::idempotence::idempotent, nullptr, nullptr,
                                        std::chrono::milliseconds(100), std::chrono::milliseconds(1000),
                                        std::chrono::milliseconds(5000), "reconcile append"});
        auto results = retry.run([&] { return log->append_batch(batch); });
        if (!results) throw std::runtime_error("stopped while Postgres was away");
        for (const auto& res : *results) r.appended += res.duplicate ? 0 : 1;
        batch.clear();
    };
    for (uint64_t seq : missing) {
        if (stop_requested()) break;
        natsMsg* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_GetMsg(&raw, js.get(), r.stream.c_str(), seq, nullptr, &jerr);
        if (s == NATS_NOT_FOUND) {  // deleted from the middle of the stream
            add(r.lost, seq);
            continue;
        }
        nats::check(s, ("read message " + std::to_string(seq) + " of " + r.stream).c_str());
        nats::msg_ptr msg(raw);
        batch.push_back(feed_record(config.nats, source, msg.get(), {seq, natsMsg_GetTime(msg.get()), 0, true}));
        add(r.repaired, seq);
        if (batch.size() >= k_batch) flush();
    }
    flush();
    return r;
}

}  // namespace stchat::ingest
