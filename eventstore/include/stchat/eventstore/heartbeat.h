#pragma once
// A long-running st-chat process says it is alive, and how it is, every 5 s in `service_heartbeat`
// (migrations/005); `stchat status` lists what it finds there. A clean stop deletes the row; a
// row not seen for 15 s belongs to a process that died.
//
//   id                     kind     pid    port  info
//   chat@host:8888         chat     4242   8888  {"sessions": 17, "health": ""}
//   ingest@host:8891       ingest   4243   8891  {"health": "stall: nothing appended for 17 s …"}
//   project@host#4244      project  4244         {"health": ""}      (no port: the pid names it)
//
// Thread-safety: the writer is a thread of its own; `info` and `health` are called there and
// must be thread-safe. The destructor stops it (within 200 ms) and deletes the row.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

struct heartbeat_config {
    store_config store;
    std::string kind;   // chat | ingest | project
    uint16_t port = 0;  // the port it serves (chat, metrics); 0: none
    // Extra members of the info JSON object, e.g. "\"sessions\": 17" ("" for none).
    std::function<std::string()> info = [] { return std::string(); };
    // The health problems ("" when healthy), as /healthz says them.
    std::function<std::string()> health = [] { return std::string(); };
};

class heartbeat {
public:
    explicit heartbeat(heartbeat_config config);
    ~heartbeat();
    heartbeat(const heartbeat&) = delete;
    heartbeat& operator=(const heartbeat&) = delete;

private:
    void loop();
    heartbeat_config _config;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

}  // namespace stchat::eventstore
