#pragma once
// `stchat compact`: retires inbox keys without ever letting a duplicate through (the contract is
// in migrations/007_inbox_floor.sql, the work in migrations/functions/compact_inbox.sql).
//
//   sequence sources (nats:<stream>:<created>): the run of ids 1..F all present becomes one floor
//       row; any later append of an id <= F is still a duplicate. Nothing is forgotten.
//   client sources (chat:<uid>, chat-session:<uid>): keys older than `chat_days` are deleted; a
//       client that resends an unacknowledged message after that long gets it stored again.
//
// Example: a feed source with ids 1..4,180,000 present and the last hour kept whole:
//   compact({store, std::chrono::hours(1), 7, false})
//   -> {{"nats:STCHAT_FEEDS:…", sequence, keys 4,180,000, retired 4,150,000, floor 4,150,000}}
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::ops {

struct compact_config {
    eventstore::store_config store;
    std::chrono::seconds keep{3600};  // keys of events recorded this recently are never touched
    int chat_days = 7;                // client keys: the retention window of the contract
    bool dry_run = false;             // report what would be retired; change nothing
};

struct compacted_source {
    std::string source;
    bool sequence = false;       // retired under a floor (else: client keys retired by age)
    int64_t keys = 0;            // keys the source had
    int64_t retired = 0;         // keys retired (or, dry run, that would be)
    std::optional<int64_t> floor;  // the source's floor after (sequence sources)
};

struct compact_result {
    int64_t below_position = 0;  // only keys of events at or below this position were considered
    std::vector<compacted_source> sources;
    int64_t inbox_after = 0;     // keys left in the inbox (dry run: now)
};

// One transaction: either everything retired or nothing. Throws store_error when Postgres fails.
compact_result compact(const compact_config& config);

}  // namespace stchat::ops
