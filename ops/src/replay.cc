#include "stchat/ops/replay.h"

#include <cerrno>
#include <climits>
#include <ctime>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/event_json.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::ops {
namespace {

using page_rows = std::vector<eventstore::row>;

// `--format pretty`: aligned columns for people, the header once (k_pretty_header).
//     position  recorded at (UTC)        stream #seq                   type            data
//           42  2026-11-28 05:50:00.123  feed.sport_event #21          sport_event     {"sport": …}
const char* const k_pretty_header =
    "  position  recorded at (UTC)        stream #seq                   type            data\n";

void pad_to(std::string& buf, size_t start, size_t width) {
    size_t used = buf.size() - start;
    buf.append(used < width ? width - used : 1, ' ');
}

void append_pretty(std::string& buf, const eventstore::row& row, time_text& times) {
    const std::string& pos = *row[0];
    if (pos.size() < 10) buf.append(10 - pos.size(), ' ');
    buf += pos;
    buf += "  ";
    // "2026-11-28T05:50:00.123456Z" -> "2026-11-28 05:50:00.123"
    std::string iso = times.iso(std::stoll(*row[4]));
    iso[10] = ' ';
    buf.append(iso, 0, 23);
    buf += "  ";
    size_t col = buf.size();
    buf += *row[1];
    buf += " #";
    buf += *row[2];
    pad_to(buf, col, 30);
    col = buf.size();
    buf += *row[3];
    pad_to(buf, col, 16);
    buf += *row[6];
    if (row[8]) {
        buf += "  payload=";
        buf += *row[8];
    }
}

void format(const page_rows& page, replay_format fmt, time_text& times, std::string& buf) {
    for (const auto& row : page) {
        if (fmt == replay_format::jsonl) {
            eventstore::append_event_json(buf, row, times);
            buf += '\n';
        } else {
            append_pretty(buf, row, times);
            buf += '\n';
        }
    }
}

// Fetches position ranges [lo + k*size, lo + (k+1)*size) on several connections at once, handed
// out in order by take(k). Postgres's jsonb-to-text output is the replay's bottleneck; two
// backends use both cores. At most two ranges per thread wait in memory.
class range_fetcher {
public:
    range_fetcher(const replay_config& c, std::string sql, std::optional<std::string> filter, int64_t lo,
                  int64_t hi, int threads)
        : _config(c), _sql(std::move(sql)), _filter(std::move(filter)), _lo(lo), _hi(hi),
          _count((hi - lo) / c.page + 1), _threads(threads) {
        for (int t = 0; t < threads; ++t) _workers.emplace_back([this, t] { work(t); });
    }
    ~range_fetcher() {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _stop = true;
        }
        _cv.notify_all();
        for (auto& w : _workers) w.join();
    }
    int64_t count() const { return _count; }

    page_rows take(int64_t k) {
        std::unique_lock<std::mutex> lock(_mutex);
        _cv.wait(lock, [&] { return _ready.count(k) > 0; });
        auto slot = std::move(_ready[k]);
        _ready.erase(k);
        _taken = k + 1;
        _cv.notify_all();
        if (slot.error) std::rethrow_exception(slot.error);
        return slot.rows;
    }

private:
    struct slot {
        page_rows rows;
        std::exception_ptr error;
    };

    void work(int t) {
        std::unique_ptr<eventstore::sql_session> sql;
        for (int64_t k = t; k < _count; k += _threads) {
            {
                std::unique_lock<std::mutex> lock(_mutex);
                _cv.wait(lock, [&] { return _stop || k < _taken + 2 * _threads; });
                if (_stop) return;
            }
            slot s;
            try {
                if (!sql) sql = eventstore::make_sql_session(_config.store);
                int64_t a = _lo + k * _config.page, b = std::min(_hi, a + _config.page - 1);
                std::vector<std::string> params{std::to_string(a), std::to_string(b), std::to_string(_config.page)};
                if (_filter) params.push_back(*_filter);
                s.rows = sql->exec(_sql, params);
            } catch (...) {
                s.error = std::current_exception();
            }
            bool failed = s.error != nullptr;
            std::lock_guard<std::mutex> lock(_mutex);
            _ready[k] = std::move(s);
            _cv.notify_all();
            if (failed) return;
        }
    }

    const replay_config& _config;
    std::string _sql;
    std::optional<std::string> _filter;
    int64_t _lo, _hi, _count;
    int _threads;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::map<int64_t, slot> _ready;
    int64_t _taken = 0;
    bool _stop = false;
    std::vector<std::thread> _workers;
};

}  // namespace

replay_result replay(const replay_config& config, std::FILE* out) {
    auto sql_session = eventstore::make_sql_session(config.store);
    replay_result result;
    std::string filter_sql;
    std::string filter_value;
    if (config.stream) {
        filter_sql = " AND stream = $4";
        filter_value = *config.stream;
    } else if (config.type) {
        filter_sql = " AND type = $4";
        filter_value = *config.type;
    }
    if (config.stream && sql_session->exec("SELECT 1 FROM event_log WHERE stream = $1 LIMIT 1", {*config.stream}).empty()) {
        auto known = sql_session->exec("SELECT string_agg(DISTINCT stream, ', ') FROM event_log");
        throw replay_argument_error("no stream '" + *config.stream + "' in the log (streams: " +
                                    known.at(0).at(0).value_or("none") + ")");
    }
    if (config.type && sql_session->exec("SELECT 1 FROM event_log WHERE type = $1 LIMIT 1", {*config.type}).empty()) {
        auto known = sql_session->exec("SELECT string_agg(DISTINCT type, ', ') FROM event_log");
        throw replay_argument_error("no event of type '" + *config.type + "' in the log (types: " +
                                    known.at(0).at(0).value_or("none") + ")");
    }
    int64_t head = std::stoll(*sql_session->exec("SELECT coalesce(max(position), 0) FROM event_log").at(0).at(0));
    // Without --follow the replay ends at the head as it is now (or --to): a busy log still ends.
    int64_t upper = config.to.value_or(config.follow ? LLONG_MAX : head);
    std::string sql = std::string("SELECT ") + eventstore::k_event_json_columns +
                      ", CASE WHEN type = 'undecodable' THEN encode(payload, 'hex') END"
                      " FROM event_log WHERE position >= $1 AND position <= $2" +
                      filter_sql + " ORDER BY position LIMIT $3";
    std::unique_ptr<eventstore::event_log> waiter;  // LISTEN for --follow
    time_text times;
    int64_t next = config.from;
    std::string buf;
    bool header_due = config.format == replay_format::pretty;
    auto emit = [&](const page_rows& page) {
        if (page.empty()) return true;
        buf.clear();
        if (header_due) {
            buf += k_pretty_header;
            header_due = false;
        }
        format(page, config.format, times, buf);
        result.events += static_cast<int64_t>(page.size());
        result.last_position = std::stoll(*page.back()[0]);
        if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size() || std::fflush(out) != 0) {
            result.output_closed = true;  // EPIPE: the reader is gone
            return false;
        }
        return true;
    };
    // What the log holds now: fetched in parallel position ranges, written in order.
    int64_t bounded = std::min(upper, head);
    if (next <= bounded) {
        std::optional<std::string> filter;
        if (!filter_sql.empty()) filter = filter_value;
        range_fetcher fetcher(config, sql, filter, next, bounded, 2);
        for (int64_t k = 0; k < fetcher.count(); ++k) {
            if (stop_requested()) return result;
            if (!emit(fetcher.take(k))) return result;
        }
        next = bounded + 1;
    }
    // Then (with --follow) what commits from now on, by keyset pages.
    while (next <= upper && !stop_requested()) {
        std::vector<std::string> params{std::to_string(next), std::to_string(upper), std::to_string(config.page)};
        if (!filter_sql.empty()) params.push_back(filter_value);
        page_rows page = sql_session->exec(sql, params);
        if (!emit(page)) return result;
        if (!page.empty()) next = result.last_position + 1;
        if (static_cast<int>(page.size()) < config.page) {
            if (!config.follow) break;
            // Caught up: wait for the next commit (NOTIFY, or the poll fallback).
            if (!waiter) waiter = eventstore::make_event_log(config.store);
            waiter->wait_for_append(std::chrono::milliseconds(500));
        }
    }
    return result;
}

}  // namespace stchat::ops
