#pragma once
// Private to ingest: creating the JetStream stream that captures the feed subjects.
#include <cstdint>

#include "nats_handles.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ingest {

// Returns the stream's creation time (ns since the epoch), creating the stream (file storage,
// the configured subjects and replicas) when it does not exist. Throws nats_error.
int64_t ensure_stream(jsCtx* js, const stream_config& config);

}  // namespace stchat::ingest
