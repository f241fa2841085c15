#pragma once
// `stchat bench chat`: delivered frames/s and delivery latency of `stchat chat`, measured against
// a plain in-memory broadcast server (same frames, nothing stored) in the same run, then the
// chat server's memory with many idle connections.
//
// U users in R rooms (user i in room i % R); S sends/s in all, round-robin over the users, each
// text carrying its send time; every member of the room receives it. Latency = send -> receive
// of each delivered frame, measured by the one client process (one clock).
#include <cstdint>
#include <string>

#include "stchat/eventstore/store_config.h"

namespace stchat::bench {

struct chat_bench_config {
    eventstore::store_config store;  // the bench works in a scratch database <current>_bench_chat
    int users = 1000;
    int rooms = 1;
    double sends_per_second = 200;
    double seconds = 10;   // of sending, per run
    int runs = 3;          // each server, alternating; medians reported
    int idle = 10000;      // idle connections for the memory figure (0: skip)
    int idle_rooms = 100;  // rooms the idle connections join
    // Saturation: each server at rates of 0.25x to 5x `sends_per_second`, this long per step
    // (0: skip); the highest offered frames/s with >= 99% delivered and p99 < 50 ms.
    double saturation_seconds = 3;
    // After the chat's join storm: SIGKILL the chat process, start it again, and time the idle
    // connections' return (hello with token, join with since) until each has its `joined`.
    bool resume = true;
};

struct chat_bench_result {
    double chat_frames_per_second = 0;
    double chat_p50_ms = 0, chat_p99_ms = 0, chat_p999_ms = 0;
    double plain_frames_per_second = 0;
    double plain_p99_ms = 0;
    double idle_rss_mib = 0;  // chat server RSS with `idle` more connections open
    // The idle connections' hello + join + joined, all at once (at most 500 handshakes in
    // flight), per second: the join rate a reconnect storm meets.
    double chat_joins_per_second = 0, plain_joins_per_second = 0;
    double chat_saturation = 0, plain_saturation = 0;  // frames/s offered
    double resume_seconds = 0;  // the resume storm: restart -> every idle connection joined again
};

chat_bench_result run_chat_bench(const chat_bench_config& config);

}  // namespace stchat::bench
