#pragma once
// Private to chat/: room events' v1 frames, built once and shared by every session that gets
// them outside the live fan-out (which shares its own): replays and the live events a session
// kept while its replay ran. In a reconnect storm the members of a room resume from the same
// `since`, so they replay the same page: its frames are serialized once, and go to each of them
// as one message of several frames (one write), not one frame per event and session.
//
// A room's events never change once written, and a page is gap-free seqs of one room: (room,
// first seq, last seq) names its content. Two generations bound it: entries go into the newer;
// one found only in the older is moved up; when the newer reaches half of k_max_entries or of
// k_max_bytes (a page of long messages is megabytes), the older is dropped and the newer becomes
// it. What a storm keeps using (each room's last events) survives the turnover; dropping all at
// once did not: 100 rooms' last 50 events and their pages exceed any small bound, and every
// join's replay framed its page's events again.
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
    static constexpr size_t k_max_entries = 32768;
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

    size_t size() const { return _newer.entries.size() + _older.entries.size(); }
    size_t bytes() const { return _newer.bytes + _older.bytes; }

private:
    struct generation {
        std::unordered_map<std::string, server_t::message_ptr> entries;
        size_t bytes = 0;
    };

    static size_t bytes_of(const server_t::message_ptr& m) {
        return m->get_header().size() + m->get_payload().size();
    }

    template <typename Build>
    server_t::message_ptr cached(const std::string& key, Build&& build) {
        if (auto it = _newer.entries.find(key); it != _newer.entries.end()) return it->second;
        server_t::message_ptr frame;
        if (auto it = _older.entries.find(key); it != _older.entries.end()) {
            frame = std::move(it->second);
            _older.bytes -= bytes_of(frame);
            _older.entries.erase(it);
        } else {
            frame = build();  // may add entries itself (a page's frames)
        }
        size_t bytes = bytes_of(frame);
        if (_newer.entries.size() >= k_max_entries / 2 || _newer.bytes + bytes > k_max_bytes / 2) {
            _older = std::move(_newer);
            _newer = generation{};
        }
        _newer.entries.emplace(key, frame);
        _newer.bytes += bytes;
        return frame;
    }

    generation _newer, _older;
};

}  // namespace stchat::chat
