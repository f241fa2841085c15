#pragma once
// Private to ingest: one JetStream message as the log event the ingest appends. One conversion
// for the live ingest and for `stchat reconcile`, so a message reconciled after a failover is the
// same row (same inbox key, same decoding) the ingest would have appended.
//
// Example: stream STCHAT_FEEDS created at 1764312000123456789 ns, sequence 42, subject execution:
//   source "nats:STCHAT_FEEDS:1764312000123456789", message_id "42", stream "feed.execution",
//   metadata {"subject":"execution","stream_seq":42,"delivered":1}
#include <nats/nats.h>

#include <cstdint>
#include <string>

#include "stchat/eventstore/event_log.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ingest {

// "nats:<stream>:<created ns>": the inbox source of a stream instance.
std::string inbox_source(const std::string& stream, int64_t created_ns);

struct message_facts {
    uint64_t stream_seq = 0;
    int64_t time_ns = 0;     // when JetStream stored it
    uint64_t delivered = 0;  // delivery count; 0 for a message read back by reconcile
    bool reconciled = false;
};

eventstore::new_event feed_record(const stream_config& nats, const std::string& source, natsMsg* msg,
                                  const message_facts& facts);

}  // namespace stchat::ingest
