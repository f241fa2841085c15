#include "stchat/ops/replay.h"

#include <pqxx/pqxx>

#include <cerrno>
#include <climits>
#include <ctime>
#include <memory>

#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_log.h"
#include "time_text.h"

namespace stchat::ops {
namespace {

void json_string(std::string& out, const char* p, size_t n) {
    static const char* hex = "0123456789abcdef";
    out.push_back('"');
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = static_cast<unsigned char>(p[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

// libpqxx failures as the store's errors: a lost connection may be retried, the rest not.
template <typename F>
auto guarded(F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const pqxx::broken_connection& e) {
        throw eventstore::store_error(eventstore::failure::transient, e.what());
    } catch (const pqxx::sql_error& e) {
        throw eventstore::store_error(eventstore::failure::permanent, e.what());
    }
}

}  // namespace

replay_result replay(const replay_config& config, std::FILE* out) {
    auto conn = guarded([&] { return std::make_unique<pqxx::connection>(config.store.database); });
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
    guarded([&] {
        pqxx::read_transaction tx(*conn);
        if (config.stream && tx.exec_params("SELECT 1 FROM event_log WHERE stream = $1 LIMIT 1", *config.stream).empty()) {
            auto known = tx.exec("SELECT string_agg(DISTINCT stream, ', ') FROM event_log");
            throw replay_argument_error("no stream '" + *config.stream + "' in the log (streams: " +
                                        (known[0][0].is_null() ? "none" : known[0][0].as<std::string>()) + ")");
        }
        if (config.type && tx.exec_params("SELECT 1 FROM event_log WHERE type = $1 LIMIT 1", *config.type).empty()) {
            auto known = tx.exec("SELECT string_agg(DISTINCT type, ', ') FROM event_log");
            throw replay_argument_error("no event of type '" + *config.type + "' in the log (types: " +
                                        (known[0][0].is_null() ? "none" : known[0][0].as<std::string>()) + ")");
        }
        return 0;
    });
    // Without --follow the replay ends at the head as it is now (or --to): a busy log still ends.
    int64_t upper = config.to.value_or(LLONG_MAX);
    if (!config.follow && !config.to) {
        upper = guarded([&] {
            pqxx::read_transaction tx(*conn);
            return tx.exec("SELECT coalesce(max(position), 0) FROM event_log")[0][0].as<int64_t>();
        });
    }
    std::string sql =
        "SELECT position, stream, stream_seq, type,"
        " (extract(epoch FROM recorded_at) * 1000000)::bigint,"
        " (extract(epoch FROM source_time) * 1000000)::bigint,"
        " data::text, metadata::text,"
        " CASE WHEN type = 'undecodable' THEN encode(payload, 'hex') END"
        " FROM event_log WHERE position >= $1 AND position <= $2" +
        filter_sql + " ORDER BY position LIMIT $3";
    std::unique_ptr<eventstore::event_log> waiter;  // LISTEN for --follow
    time_text times;
    int64_t next = config.from;
    std::string buf;
    while (next <= upper && !stop_requested()) {
        pqxx::result page = guarded([&] {
            pqxx::read_transaction tx(*conn);
            return filter_sql.empty() ? tx.exec_params(sql, next, upper, config.page)
                                      : tx.exec_params(sql, next, upper, config.page, filter_value);
        });
        buf.clear();
        for (const auto& row : page) {
            if (config.format == replay_format::jsonl) {
                buf += "{\"position\":";
                buf += row[0].c_str();
                buf += ",\"stream\":";
                json_string(buf, row[1].c_str(), row[1].size());
                buf += ",\"stream_seq\":";
                buf += row[2].c_str();
                buf += ",\"type\":";
                json_string(buf, row[3].c_str(), row[3].size());
                buf += ",\"recorded_at\":\"";
                buf += times.iso(row[4].as<int64_t>());
                buf += "\",\"source_time\":";
                if (row[5].is_null()) {
                    buf += "null";
                } else {
                    buf += '"';
                    buf += times.iso(row[5].as<int64_t>());
                    buf += '"';
                }
                buf += ",\"data\":";
                buf.append(row[6].c_str(), row[6].size());
                buf += ",\"metadata\":";
                buf.append(row[7].c_str(), row[7].size());
                if (!row[8].is_null()) {
                    buf += ",\"payload_hex\":\"";
                    buf.append(row[8].c_str(), row[8].size());
                    buf += '"';
                }
                buf += "}\n";
            } else {
                // pretty: one readable line per event
                //   #42  2026-11-28T05:50:00.123456Z  feed.sport_event#21  sport_event  {"sport": ...}
                buf += '#';
                buf += row[0].c_str();
                buf += "  ";
                buf += times.iso(row[4].as<int64_t>());
                buf += "  ";
                buf.append(row[1].c_str(), row[1].size());
                buf += '#';
                buf += row[2].c_str();
                buf += "  ";
                buf.append(row[3].c_str(), row[3].size());
                buf += "  ";
                buf.append(row[6].c_str(), row[6].size());
                if (!row[8].is_null()) {
                    buf += "  payload=";
                    buf.append(row[8].c_str(), row[8].size());
                }
                buf += '\n';
            }
        }
        if (!page.empty()) {
            result.events += static_cast<int64_t>(page.size());
            result.last_position = page.back()[0].as<int64_t>();
            next = result.last_position + 1;
            if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size() || std::fflush(out) != 0) {
                result.output_closed = true;  // EPIPE: the reader is gone
                return result;
            }
        }
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
