#pragma once
// `stchat replay`: the event log read back in position order, one JSON object per line.
//
// Positions are the log's own: gap-free 1, 2, 3 ... `from` and `to` are inclusive:
//   log positions 1..10, replay_config{from = 4, to = 6}  -> positions 4, 5, 6
//   replay_config{from = 4, stream = "room.lobby"}       -> the lobby's events at position >= 4
//   replay_config{from = 9, follow = true}               -> 9, 10, then each new event as it commits
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "stchat/eventstore/store_config.h"

namespace stchat::ops {

enum class replay_format { jsonl, pretty };

struct replay_config {
    eventstore::store_config store;
    int64_t from = 1;               // first position written (inclusive)
    std::optional<int64_t> to;      // last position written (inclusive); none: the head
    std::optional<std::string> stream;
    std::optional<std::string> type;
    bool follow = false;            // after the head, wait for new events (until stop_requested)
    replay_format format = replay_format::jsonl;
    int page = 10000;               // rows per keyset page: memory stays flat
};

struct replay_result {
    int64_t events = 0;
    int64_t last_position = 0;
    bool output_closed = false;     // the reader went away (e.g. `| head`): not an error
};

// Thrown for arguments that name nothing in the log (unknown stream or type): exit code 2.
struct replay_argument_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Writes the events to `out`. Throws replay_argument_error, or store_error if Postgres fails.
replay_result replay(const replay_config& config, std::FILE* out);

}  // namespace stchat::ops
