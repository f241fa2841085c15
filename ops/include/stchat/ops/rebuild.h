#pragma once
// `stchat rebuild`: a read table rebuilt from the log while st-chat keeps running (see
// migrations/functions/rebuild_begin.sql): a shadow table filled from position 0 in steps, given its keys and
// indexes, caught up with the live tail, then swapped in by one transaction.
#include <cstdint>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::ops {

struct rebuild_config {
    eventstore::store_config store;
    std::vector<std::string> tables;  // event, execution, chat_log
    int64_t batch = 50000;            // log positions per step (one transaction each)
    bool progress_bar = false;        // a live bar on a terminal; else a line every 5 s
};

enum class rebuild_outcome { swapped, interrupted };

struct rebuild_result {
    rebuild_outcome outcome = rebuild_outcome::swapped;
    int64_t log_events = 0;  // the log's head as the last table was swapped in
    std::vector<std::pair<std::string, int64_t>> rows;  // per table swapped in: its rows
    double seconds = 0;
};

// Throws store_error for an unknown table (before touching anything) and when Postgres fails (the live
// tables are untouched either way; the shadow of the failed rebuild is dropped when possible).
rebuild_result rebuild(const rebuild_config& config);

}  // namespace stchat::ops
