#pragma once
// `stchat status`: is anything behind? The log, each projector's lag, the ingest consumer as
// JetStream sees it, undecodable records, and the chat processes with their sessions.
#include <cstdint>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ops {

struct projector_status {
    std::string name;     // event, execution, chat_log; "rebuild:<name>" while a rebuild runs
    int64_t checkpoint = 0;
    int64_t lag = 0;      // log head - checkpoint
    std::string updated_at;
};

struct process_status {
    std::string id, kind;
    int pid = 0;
    int64_t sessions = 0;
    double seen_seconds_ago = 0;
    bool alive = false;   // seen within the last 15 s
    std::string health;   // its /healthz problems when it last reported ("" healthy)
};

struct status_report {
    int64_t head = 0;         // = number of events: positions are gap-free
    int64_t log_bytes = 0;    // event_log with its indexes and TOAST
    int64_t inbox_bytes = 0;
    int64_t undecodable = 0;
    std::vector<projector_status> projectors;
    ingest::consumer_state ingest;
    std::vector<process_status> processes;
};

status_report read_status(const eventstore::store_config& store, const ingest::stream_config& nats,
                          const std::string& consumer);
std::string status_table(const status_report& r);
std::string status_json(const status_report& r);

}  // namespace stchat::ops
