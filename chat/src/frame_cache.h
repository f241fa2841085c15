#pragma once
// Private to chat/: room events' v1 frames, built once and shared by every session that gets
// them outside the live fan-out (which shares its own): replays and the live events a session
// kept while its replay ran. In a reconnect storm the members of a room resume from the same
// `since`, so they replay the same page: its frames are serialized once, and go to each of them
// as one message of several frames (one write), not one frame per event and session.
//
// A room's events never change once written, and a page is gap-free seqs of one room: (room,
// first seq, last seq) names its content. Entries are dropped all at once past k_max_entries or
// k_max_bytes (a page of long messages is megabytes).
//
// Example: 100 members of "lobby" resume with since=40, the head at 90:
//   run("lobby", page /*41..90*/, 0)  -> built once: 50 frames, one message; 99 times shared
//
// Thread-safety: none; the chat's Asio thread only.
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol_codec.h"
#include "stchat/chat/room_log.h"
#include "ws_frames.h"

namespace stchat::chat {

class frame_cache {
public:
    static constexpr size_t k_max_entries = 4096;
    static constexpr size_t k_max_bytes = 64u << 20;

    // The v1 frame of `e`.
    server_t::message_ptr one(const room_event& e) {
        return cached(e.room + "#" + std::to_string(e.seq), [&] { return prepared_text(event_frame(e)); });
    }

    // The v1 frames of page[from..] as one message (the page: consecutive seqs of one room).
    server_t::message_ptr run(const std::vector<room_event>& page, size_t from) {
        const room_event& first = page.at(from);
        return cached(first.room + "#" + std::to_string(first.seq) + "-" + std::to_string(page.back().seq), [&] {
            std::vector<server_t::message_ptr> frames;
            frames.reserve(page.size() - from);
            for (size_t i = from; i < page.size(); ++i) frames.push_back(one(page[i]));
            return prepared_together(frames);
        });
    }

    size_t size() const { return _entries.size(); }
    size_t bytes() const { return _bytes; }

private:
    template <typename Build>
    server_t::message_ptr cached(const std::string& key, Build&& build) {
        if (auto it = _entries.find(key); it != _entries.end()) return it->second;
        auto frame = build();
        size_t bytes = frame->get_header().size() + frame->get_payload().size();
        if (_entries.size() >= k_max_entries || _bytes + bytes > k_max_bytes) {
            _entries.clear();
            _bytes = 0;
        }
        _entries.emplace(key, frame);
        _bytes += bytes;
        return frame;
    }

    std::unordered_map<std::string, server_t::message_ptr> _entries;
    size_t _bytes = 0;
};

}  // namespace stchat::chat
