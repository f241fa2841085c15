#include "stchat/ops/status.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/prettywriter.h>

#include <cstdio>

#include "stchat/eventstore/sql_session.h"

namespace stchat::ops {
namespace {

int64_t num(const std::optional<std::string>& v) { return v ? std::stoll(*v) : 0; }

std::string bytes_text(int64_t b) {
    char buf[32];
    if (b >= (1LL << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", b / double(1LL << 30));
    else if (b >= (1 << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1 << 20));
    else std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024.0);
    return buf;
}

}  // namespace

status_report read_status(const eventstore::store_config& store, const ingest::stream_config& nats,
                          const std::string& consumer) {
    status_report r;
    auto sql = eventstore::make_sql_session(store);
    auto head = sql->exec(
        "SELECT coalesce(max(position), 0), pg_total_relation_size('event_log'), pg_total_relation_size('inbox'),"
        " (SELECT count(*) FROM event_log WHERE type = 'undecodable') FROM event_log");
    r.head = num(head.at(0).at(0));
    r.log_bytes = num(head[0][1]);
    r.inbox_bytes = num(head[0][2]);
    r.undecodable = num(head[0][3]);
    // The lag in the same statement (one snapshot) as the checkpoint: read apart, a projector
    // that moved on in between showed a negative lag.
    for (const auto& row : sql->exec("SELECT projector, position, to_char(updated_at AT TIME ZONE 'UTC',"
                                     " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                                     " (SELECT coalesce(max(position), 0) FROM event_log) - position"
                                     " FROM checkpoint ORDER BY projector")) {
        projector_status p;
        p.name = row.at(0).value_or("");
        p.checkpoint = num(row.at(1));
        p.lag = num(row.at(3));
        p.updated_at = row.at(2).value_or("");
        r.projectors.push_back(p);
    }
    for (const auto& row : sql->exec("SELECT id, kind, pid, coalesce((info->>'sessions')::bigint, 0),"
                                     " extract(epoch FROM now() - seen_at), coalesce(info->>'health', '')"
                                     " FROM service_heartbeat ORDER BY kind, id")) {
        process_status p;
        p.id = row.at(0).value_or("");
        p.kind = row.at(1).value_or("");
        p.pid = static_cast<int>(num(row.at(2)));
        p.sessions = num(row.at(3));
        p.seen_seconds_ago = row.at(4) ? std::stod(*row[4]) : 0;
        p.alive = p.seen_seconds_ago < 15;
        p.health = row.at(5).value_or("");
        r.processes.push_back(p);
    }
    r.ingest = ingest::read_consumer_state(nats, consumer);
    return r;
}

std::string status_table(const status_report& r) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "log        head %lld (events), %s, inbox %s, undecodable %lld\n",
                  static_cast<long long>(r.head), bytes_text(r.log_bytes).c_str(), bytes_text(r.inbox_bytes).c_str(),
                  static_cast<long long>(r.undecodable));
    out += line;
    if (r.ingest.reachable) {
        std::snprintf(line, sizeof line,
                      "ingest     stream holds %llu, pending %llu, awaiting ack %llu, redelivered %llu\n",
                      static_cast<unsigned long long>(r.ingest.stream_messages),
                      static_cast<unsigned long long>(r.ingest.pending),
                      static_cast<unsigned long long>(r.ingest.ack_pending),
                      static_cast<unsigned long long>(r.ingest.redelivered));
        out += line;
    } else {
        out += "ingest     " + r.ingest.error + "\n";
    }
    out += "\nprojector            checkpoint        lag  updated\n";
    for (const auto& p : r.projectors) {
        std::snprintf(line, sizeof line, "%-20s %10lld %10lld  %s\n", p.name.c_str(),
                      static_cast<long long>(p.checkpoint), static_cast<long long>(p.lag), p.updated_at.c_str());
        out += line;
    }
    out += "\nprocess                          pid  sessions  last seen  health\n";
    if (r.processes.empty()) out += "(no process has reported)\n";
    for (const auto& p : r.processes) {
        std::string health = !p.alive ? "gone?" : p.health.empty() ? "ok" : p.health.substr(0, p.health.find('\n'));
        std::snprintf(line, sizeof line, "%-30s %6d %9lld  %5.0f s ago  ", p.id.c_str(), p.pid,
                      static_cast<long long>(p.sessions), p.seen_seconds_ago);
        out += line + health + "\n";
    }
    return out;
}

std::string status_json(const status_report& r) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("log");
    w.StartObject();
    w.Key("head");
    w.Int64(r.head);
    w.Key("bytes");
    w.Int64(r.log_bytes);
    w.Key("inbox_bytes");
    w.Int64(r.inbox_bytes);
    w.Key("undecodable");
    w.Int64(r.undecodable);
    w.EndObject();
    w.Key("ingest");
    w.StartObject();
    w.Key("reachable");
    w.Bool(r.ingest.reachable);
    if (r.ingest.reachable) {
        w.Key("stream_messages");
        w.Uint64(r.ingest.stream_messages);
        w.Key("pending");
        w.Uint64(r.ingest.pending);
        w.Key("ack_pending");
        w.Uint64(r.ingest.ack_pending);
        w.Key("redelivered");
        w.Uint64(r.ingest.redelivered);
    } else {
        w.Key("error");
        w.String(r.ingest.error.c_str());
    }
    w.EndObject();
    w.Key("projectors");
    w.StartArray();
    for (const auto& p : r.projectors) {
        w.StartObject();
        w.Key("name");
        w.String(p.name.c_str());
        w.Key("checkpoint");
        w.Int64(p.checkpoint);
        w.Key("lag");
        w.Int64(p.lag);
        w.Key("updated_at");
        w.String(p.updated_at.c_str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("processes");
    w.StartArray();
    for (const auto& p : r.processes) {
        w.StartObject();
        w.Key("id");
        w.String(p.id.c_str());
        w.Key("kind");
        w.String(p.kind.c_str());
        w.Key("pid");
        w.Int(p.pid);
        w.Key("sessions");
        w.Int64(p.sessions);
        w.Key("seen_seconds_ago");
        w.Double(p.seen_seconds_ago);
        w.Key("alive");
        w.Bool(p.alive);
        w.Key("health");
        w.String(p.health.c_str(), static_cast<rapidjson::SizeType>(p.health.size()));
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace stchat::ops
