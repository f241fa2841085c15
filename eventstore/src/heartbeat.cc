#include "stchat/eventstore/heartbeat.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <chrono>

#include "stchat/eventstore/sql_session.h"

namespace stchat::eventstore {

heartbeat::heartbeat(heartbeat_config config) : _config(std::move(config)) {
    _thread = std::thread([this] { loop(); });
}

heartbeat::~heartbeat() {
    _stop = true;
    _thread.join();
}

void heartbeat::loop() {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    std::string pid = std::to_string(::getpid());
    std::string id = _config.kind + "@" + host + (_config.port ? ":" + std::to_string(_config.port) : "#" + pid);
    std::string started = std::to_string(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    std::unique_ptr<sql_session> sql;
    while (!_stop) {
        try {
            if (!sql) sql = make_sql_session(_config.store);
            rapidjson::StringBuffer health;
            rapidjson::Writer<rapidjson::StringBuffer> w(health);
            std::string h = _config.health();
            w.String(h.c_str(), static_cast<rapidjson::SizeType>(h.size()));
            std::string extra = _config.info();
            std::string info = "{" + extra + (extra.empty() ? "" : ", ") + "\"health\": " + health.GetString() + "}";
            sql->exec("INSERT INTO service_heartbeat (id, kind, host, pid, port, started_at, seen_at, info)"
                      " VALUES ($1, $2, $3, $4, nullif($5, '0')::int, to_timestamp($6::bigint / 1e6), now(), $7::jsonb)"
                      " ON CONFLICT (id) DO UPDATE SET pid = $4, seen_at = now(), info = $7::jsonb,"
                      " started_at = to_timestamp($6::bigint / 1e6)",
                      {id, _config.kind, host, pid, std::to_string(_config.port), started, info});
        } catch (const std::exception&) {
            sql.reset();  // Postgres away: the process's own health says so; try again next beat
        }
        for (int i = 0; i < 25 && !_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    try {
        if (sql) sql->exec("DELETE FROM service_heartbeat WHERE id = $1 AND pid = $2", {id, pid});
    } catch (const std::exception&) {
    }
}

}  // namespace stchat::eventstore
