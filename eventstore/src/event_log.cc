#include "stchat/eventstore/event_log.h"

#include <map>

#include "pg.h"

namespace stchat::eventstore {
namespace {

// One of append_batch's arrays, in binary: a field of each event (text, or bytea).
pqxx::binarystring column(const std::vector<new_event>& events, std::string new_event::*field,
                          uint32_t element_oid = pg::binary_array::text_oid) {
    pg::binary_array a(element_oid, events.size());
    for (const auto& e : events) a.add(e.*field);
    return a.done();
}

pqxx::binarystring source_times(const std::vector<new_event>& events) {
    pg::binary_array a(pg::binary_array::int8_oid, events.size());
    for (const auto& e : events) {
        if (e.source_time_us) a.add_int8(*e.source_time_us);
        else a.add_null();
    }
    return a.done();
}

const char* const k_select_events =
    "SELECT position, stream, stream_seq, type, payload, data::text, metadata::text,"
    " (extract(epoch FROM source_time) * 1000000)::bigint,"
    " (extract(epoch FROM recorded_at) * 1000000)::bigint FROM event_log";

// Rows of k_select_events' columns, starting at column `first`.
std::vector<recorded_event> to_events(const pqxx::result& r, int first = 0) {
    std::vector<recorded_event> out;
    out.reserve(r.size());
    for (const auto& row : r) {
        recorded_event e;
        e.position = row[first].as<int64_t>();
        e.stream = row[first + 1].as<std::string>();
        e.stream_seq = row[first + 2].as<int64_t>();
        e.type = row[first + 3].as<std::string>();
        e.payload = pqxx::binarystring(row[first + 4]).str();
        e.data_json = row[first + 5].as<std::string>();
        e.metadata_json = row[first + 6].as<std::string>();
        if (!row[first + 7].is_null()) e.source_time_us = row[first + 7].as<int64_t>();
        e.recorded_at_us = row[first + 8].as<int64_t>();
        out.push_back(std::move(e));
    }
    return out;
}

std::string join_commas(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
}

class listener final : public pqxx::notification_receiver {
public:
    listener(pqxx::connection_base& c) : pqxx::notification_receiver(c, "stchat_log") {}
    void operator()(const std::string&, int) override { notified = true; }
    bool notified = false;
};

class pg_event_log final : public event_log {
public:
    explicit pg_event_log(const store_config& config) : _config(config) {}

    std::vector<append_result> append_batch(const std::vector<new_event>& events) override {
        if (events.empty()) return {};
        return guarded([&] {
            // One statement in its own implicit transaction: one round trip instead of three
            // (BEGIN, the call, COMMIT); the rows arrive once Postgres has committed, fsync
            // included. A connection lost meanwhile leaves the commit in doubt, and the batch is
            // retried: safe because append_batch is idempotent by construction (the inbox keys
            // return the first append's positions as duplicates).
            pqxx::nontransaction tx(conn());
            // Every array in Postgres' binary format: nothing to escape here, nothing to parse there.
            pqxx::result r = tx.exec_params(
                "SELECT ord, log_position, log_stream_seq, duplicate, recorded_us FROM append_batch("
                "$1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[],"
                " $7::text[], $8::bigint[])",
                column(events, &new_event::source), column(events, &new_event::message_id),
                column(events, &new_event::stream), column(events, &new_event::type),
                column(events, &new_event::payload, pg::binary_array::bytea_oid), column(events, &new_event::data_json),
                column(events, &new_event::metadata_json), source_times(events));
            if (r.size() != events.size()) {
                throw store_error(failure::permanent,
                                  "append_batch returned " + std::to_string(r.size()) +
                                      " rows for " + std::to_string(events.size()) + " events");
            }
            std::vector<append_result> out(events.size());
            for (const auto& row : r) {
                auto& res = out.at(row[0].as<size_t>() - 1);
                res.position = row[1].as<int64_t>();
                res.stream_seq = row[2].as<int64_t>();
                res.duplicate = row[3].as<bool>();
                res.recorded_at_us = row[4].is_null() ? 0 : row[4].as<int64_t>();
            }
            tx.commit();
            return out;
        });
    }

    // Reads of one statement run in its implicit transaction (one snapshot): one round trip.
    std::vector<recorded_event> read_after(int64_t after, int max_events) override {
        return guarded([&] {
            pqxx::nontransaction tx(conn());
            auto r = tx.exec_params(std::string(k_select_events) +
                                        " WHERE position > $1 ORDER BY position LIMIT $2",
                                    after, max_events);
            tx.commit();
            return to_events(r);
        });
    }

    std::vector<recorded_event> read_stream(const std::string& stream, int64_t after_seq,
                                            int max_events) override {
        return guarded([&] {
            pqxx::nontransaction tx(conn());
            auto r = tx.exec_params(std::string(k_select_events) +
                                        " WHERE stream = $1 AND stream_seq > $2"
                                        " ORDER BY stream_seq LIMIT $3",
                                    stream, after_seq, max_events);
            tx.commit();
            return to_events(r);
        });
    }

    int64_t stream_head(const std::string& stream) override {
        return guarded([&] {
            pqxx::nontransaction tx(conn());
            auto r = tx.exec_params(
                "SELECT coalesce(max(stream_seq), 0) FROM event_log WHERE stream = $1", stream);
            return r[0][0].as<int64_t>();
        });
    }

    stream_reads read_streams(const std::vector<stream_read>& reads, int max_events) override {
        stream_reads out;
        if (reads.empty()) return out;
        return guarded([&] {
            pqxx::read_transaction tx(conn());
            std::map<std::string, int64_t> heads;
            for (const auto& r : reads) heads.emplace(r.stream, 0);
            std::vector<std::string> streams;
            for (const auto& h : heads) streams.push_back(h.first);
            for (const auto& row : tx.exec_params(
                     "SELECT s.stream, (SELECT coalesce(max(stream_seq), 0) FROM event_log e WHERE e.stream = s.stream)"
                     " FROM unnest($1::text[]) AS s(stream)",
                     pg::text_array(streams))) {
                heads[row[0].as<std::string>()] = row[1].as<int64_t>();
            }
            // Distinct (stream, after) pairs, each read once.
            std::map<std::pair<std::string, int64_t>, size_t> wanted;
            out.heads.reserve(reads.size());
            std::vector<std::pair<std::string, int64_t>> starts;
            for (const auto& r : reads) {
                int64_t head = heads[r.stream];
                out.heads.push_back(head);
                int64_t after = r.from_head ? std::max<int64_t>(0, head - r.after_seq) : r.after_seq;
                starts.emplace_back(r.stream, after);
                wanted.emplace(starts.back(), wanted.size());
            }
            std::vector<std::string> want_streams(wanted.size()), want_afters(wanted.size());
            for (const auto& [key, i] : wanted) {
                want_streams[i] = key.first;
                want_afters[i] = std::to_string(key.second);
            }
            auto r = tx.exec_params(
                "SELECT w.i, e.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS w(stream, after_seq, i)"
                " CROSS JOIN LATERAL (" + std::string(k_select_events) +
                    " WHERE stream = w.stream AND stream_seq > w.after_seq ORDER BY stream_seq LIMIT $3) AS e"
                " ORDER BY w.i, e.stream_seq",
                pg::text_array(want_streams), "{" + join_commas(want_afters) + "}", max_events);
            tx.commit();
            std::vector<std::shared_ptr<std::vector<recorded_event>>> pages(wanted.size());
            for (auto& p : pages) p = std::make_shared<std::vector<recorded_event>>();
            auto events = to_events(r, 1);
            for (size_t k = 0; k < r.size(); ++k) pages.at(r[k][0].as<size_t>() - 1)->push_back(std::move(events[k]));
            out.events.reserve(reads.size());
            for (const auto& s : starts) out.events.push_back(pages[wanted.at(s)]);
            return out;
        });
    }

    int64_t head() override {
        return guarded([&] {
            pqxx::nontransaction tx(conn());
            auto r = tx.exec("SELECT coalesce(max(position), 0) FROM event_log");
            return r[0][0].as<int64_t>();
        });
    }

    bool wait_for_append(std::chrono::milliseconds timeout) override {
        return guarded([&] {
            pqxx::connection& c = conn();
            if (!_listener) _listener = std::make_unique<listener>(c);
            _listener->notified = false;
            c.get_notifs();
            if (!_listener->notified) {
                auto us = timeout.count() * 1000;
                c.await_notification(static_cast<long>(us / 1000000),
                                     static_cast<long>(us % 1000000));
            }
            return _listener->notified;
        });
    }

private:
    // A failed connection is dropped, so the next call reconnects (and LISTENs again).
    template <typename F>
    auto guarded(F&& body) -> decltype(body()) {
        return pg::translate_or_drop(body, [this] {
            _listener.reset();
            _conn.reset();
        });
    }

    pqxx::connection& conn() {
        if (_conn && !_conn->is_open()) {
            _listener.reset();
            _conn.reset();
        }
        if (!_conn) _conn = pg::connect(_config);
        return *_conn;
    }

    store_config _config;
    std::unique_ptr<pqxx::connection> _conn;
    std::unique_ptr<listener> _listener;
};

}  // namespace

std::unique_ptr<event_log> make_event_log(const store_config& config) {
    return std::make_unique<pg_event_log>(config);
}

}  // namespace stchat::eventstore
