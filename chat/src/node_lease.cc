#include "node_lease.h"

#include <unistd.h>

#include <fstream>

#include "stchat/common/log.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::chat {
namespace {
constexpr const char* k_component = "chat";

std::string interval_of(std::chrono::milliseconds d) { return std::to_string(d.count()) + " milliseconds"; }
}  // namespace

std::string node_name(const std::string& host, const std::string& machine, int port, int64_t start_us) {
    std::string out = "chat@";
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == '_';
        out.push_back(ok ? c : '_');
    }
    return out + "[" + machine + "]:" + std::to_string(port) + "/" + std::to_string(start_us);
}

std::string machine_tag(const std::string& path) {
    for (const std::string& file : {path, std::string(path == "/etc/machine-id" ? "/var/lib/dbus/machine-id" : "")}) {
        if (file.empty()) continue;
        std::ifstream in(file);
        std::string line;
        if (!in || !std::getline(in, line)) continue;
        std::string hex;
        for (char c : line) {
            if (hex.size() == 12) break;
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) hex.push_back(c);
            else break;  // not a machine id
        }
        if (hex.size() == 12) return hex;
    }
    return "";
}

std::string make_node_name(int port) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch()).count();
    static const std::string machine = machine_tag();
    return node_name(host, machine, port, us);
}

int heal_earlier_nodes_of_this_port(const eventstore::store_config& store, const std::string& self) {
    auto slash = self.rfind('/');
    if (slash == std::string::npos || self.find(":0/") != std::string::npos) return 0;  // no fixed port
    std::string prefix = self.substr(0, slash + 1);
    int leaves = 0;
    try {
        auto sql = eventstore::make_sql_session(store);
        for (const auto& row : sql->exec("SELECT node FROM chat_node WHERE left(node, length($1)) = $1 AND node <> $2",
                                         {prefix, self})) {
            std::string node = row.at(0).value_or("");
            auto healed = sql->exec("SELECT heal_chat_node($1, interval '0 seconds')", {node});
            int n = std::stoi(healed.at(0).at(0).value_or("0"));
            if (n > 0) log::warn(k_component, "healed chat node " + node + " (an earlier process on this port): " +
                                                  std::to_string(n) + " leave(s) appended");
            leaves += n;
        }
    } catch (const std::exception& e) {
        log::warn(k_component, std::string("cannot heal the earlier processes of this port now (the lease will): ") + e.what());
    }
    return leaves;
}

node_start adopt_earlier_node_of_this_port(const eventstore::store_config& store, const std::string& fresh) {
    node_start out{fresh, {}};
    auto slash = fresh.rfind('/');
    if (slash == std::string::npos || fresh.find(":0/") != std::string::npos) return out;
    try {
        auto sql = eventstore::make_sql_session(store);
        for (const auto& row : sql->exec("SELECT node, room, uid, username FROM adopt_chat_node($1)",
                                         {fresh.substr(0, slash + 1)})) {
            out.node = row.at(0).value_or(fresh);
            out.members.push_back({row.at(1).value_or(""), row.at(2).value_or(""), row.at(3).value_or("")});
        }
        if (!out.members.empty()) {
            log::info(k_component, "took over chat node " + out.node + " (an earlier process on this port) with " +
                                       std::to_string(out.members.size()) + " user(s) in rooms");
        }
    } catch (const std::exception& e) {
        log::warn(k_component, std::string("cannot take over the earlier process of this port (the lease will heal it): ") +
                                   e.what());
        out = {fresh, {}};
    }
    return out;
}

node_lease::node_lease(node_lease_config config) : _config(std::move(config)) {
    // No call may outlive a stop by more than this (the calls take milliseconds).
    if (!_config.store.statement_timeout_ms || *_config.store.statement_timeout_ms > 3000) {
        _config.store.statement_timeout_ms = 3000;
    }
    _thread = std::thread([this] { loop(); });
}

node_lease::~node_lease() {
    _stop = true;
    _thread.join();
}

void node_lease::loop() {
    auto next = std::chrono::steady_clock::now();
    while (!_stop) {
        if (std::chrono::steady_clock::now() >= next) {
            tick();
            next = std::chrono::steady_clock::now() + _config.renew_every;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stop check's period
    }
}

void node_lease::tick() {
    try {
        // A connection per tick: every 5 s, and never a stale one after an outage.
        auto sql = eventstore::make_sql_session(_config.store);
        auto renewed = sql->exec("SELECT healed FROM renew_chat_node($1)", {_config.node});
        if (_reported) {
            log::info(k_component, "lease: renewed again");
            _reported = false;
        }
        if (renewed.at(0).at(0).value_or("f") == "t") {
            log::warn(k_component, "lease: this node's lease had expired and its users were healed (left): joining them again");
            _config.on_healed();
        }
        // Each dead node healed in a transaction of its own: one node's row locked at a time.
        for (const auto& dead : sql->exec("SELECT dead_chat_nodes($1, $2::interval)",
                                          {_config.node, interval_of(_config.lease)})) {
            std::string node = dead.at(0).value_or("");
            auto healed = sql->exec("SELECT heal_chat_node($1, $2::interval)", {node, interval_of(_config.lease)});
            std::string leaves = healed.at(0).at(0).value_or("0");
            if (leaves != "0") {
                log::warn(k_component, "healed chat node " + node + " (lease expired): " + leaves + " leave(s) appended");
            }
        }
    } catch (const std::exception& e) {
        if (!_reported) log::warn(k_component, std::string("lease: cannot renew (retrying): ") + e.what());
        _reported = true;
    }
}

}  // namespace stchat::chat
