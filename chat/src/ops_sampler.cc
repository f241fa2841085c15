#include "ops_sampler.h"

#include <memory>

#include "stchat/common/log.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::chat {

ops_sampler::ops_sampler(ops_sampler_config config) : _config(std::move(config)) {
    // A sample is a few index lookups; one that takes longer is not worth waiting for.
    _config.store.statement_timeout_ms = 2000;
    _thread = std::thread([this] { loop(); });
}

ops_sampler::~ops_sampler() {
    _stop = true;
    _thread.join();
}

std::string ops_sampler::samples_json() const {
    std::lock_guard<std::mutex> lock(_mutex);
    std::string out = "{\"every_ms\": " + std::to_string(_config.every.count()) + ", \"samples\": [";
    bool first = true;
    for (const auto& s : _samples) {
        if (!first) out += ",\n";
        out += s;
        first = false;
    }
    return out + "]}\n";
}

void ops_sampler::loop() {
    std::unique_ptr<eventstore::sql_session> sql;
    auto next = std::chrono::steady_clock::now();
    while (!_stop) {
        if (std::chrono::steady_clock::now() >= next) {
            next += _config.every;
            try {
                if (!sql) sql = eventstore::make_sql_session(_config.store);
                auto rows = sql->exec("SELECT ops_sample()::text", {});
                std::string sample = rows.at(0).at(0).value_or("{}");
                std::lock_guard<std::mutex> lock(_mutex);
                _samples.push_back(std::move(sample));
                while (_samples.size() > _config.keep) _samples.pop_front();
                _reported = false;
            } catch (const std::exception& e) {
                sql.reset();  // a new connection next time
                if (!_reported) log::warn("chat", std::string("ops: cannot take a sample (retrying): ") + e.what());
                _reported = true;
            }
            if (next < std::chrono::steady_clock::now()) next = std::chrono::steady_clock::now() + _config.every;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stop check's period
    }
}

}  // namespace stchat::chat
