#pragma once
// `stchat reconcile`: repairs the log after Postgres lost commits that JetStream was already told
// about (an asynchronous standby promoted before it had them): every message the stream still
// holds whose inbox key is missing is appended, exactly once (the same inbox key the ingest uses:
// a message that is there already, or that the ingest appends meanwhile, is a duplicate result).
//
// Example: the stream holds sequences 1..2500; the promoted standby's inbox has 1..1000.
//   reconcile -> appended 1,500 (1001-2500); lost: none
// Sequences the stream no longer holds (its retention dropped them) and the inbox lacks cannot be
// repaired: they are named, as ranges.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "stchat/eventstore/store_config.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ingest {

struct reconcile_config {
    stream_config nats;
    eventstore::store_config store;
    bool dry_run = false;  // find and report, append nothing
};

using seq_ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // inclusive

struct reconcile_result {
    std::string stream;
    int64_t created_ns = 0;
    uint64_t first_seq = 0, last_seq = 0;  // what the stream holds now
    uint64_t missing = 0;                  // held by the stream, absent from the inbox
    uint64_t appended = 0;                 // of those, appended now (the rest: appended meanwhile)
    seq_ranges repaired;                   // the sequences found missing and held by the stream
    seq_ranges lost;                       // absent from the inbox and gone from the stream
};

// Throws nats::nats_error / eventstore::store_error when NATS or Postgres cannot be reached
// (after ~10 s of trying), or when the stream does not exist.
reconcile_result reconcile(const reconcile_config& config);

// "1001-2500, 2600": ranges for people.
std::string ranges_text(const seq_ranges& ranges);

}  // namespace stchat::ingest
