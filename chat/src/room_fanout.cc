#include "room_fanout.h"

#include <algorithm>
#include <string_view>

#include "protocol_codec.h"

namespace stchat::chat {
namespace {

// The v1 frames of several events as one prepared message: one write to the socket.
server_t::message_ptr together_frames(std::vector<event_frames>& frames) {
    std::vector<server_t::message_ptr> v1;
    v1.reserve(frames.size());
    for (auto& f : frames) {
        if (!f.v1) f.v1 = prepared_text(event_frame(f.event));
        v1.push_back(f.v1);
    }
    return prepared_together(v1);
}

}  // namespace

void deliver(const fanout_member& m, event_frames& frames) {
    const room_event& e = frames.event;
    if (e.seq <= m.state->last_seq) return;
    m.state->last_seq = e.seq;
    if (m.legacy) {
        if (e.still_here) return;  // not news in the original protocol's words: the user is still here
        if (!frames.legacy) frames.legacy = prepared_text(legacy_event_frame(e));
        return m.out->send(frames.legacy);
    }
    if (!frames.v1) frames.v1 = prepared_text(event_frame(e));
    m.out->send(frames.v1);
}

void room_fanout::add(const std::string& room, uint64_t session, fanout_member member) {
    _members[room][session] = member;
}

void room_fanout::remove(const std::string& room, uint64_t session) {
    auto it = _members.find(room);
    if (it == _members.end()) return;
    it->second.erase(session);
    if (it->second.empty()) _members.erase(it);
}

void room_fanout::relayed(const std::vector<room_event>& batch) {
    std::vector<const room_event*> fresh;
    fresh.reserve(batch.size());
    for (const auto& e : batch) {
        int64_t& last = _fanned[e.room];
        if (e.seq <= last) continue;  // fanned out already, straight from the writer
        last = e.seq;
        fresh.push_back(&e);
        remember(e);
    }
    if (_config.from_relay) _config.from_relay->add(fresh.size());
    fan_out(fresh);
}

void room_fanout::own(const std::vector<room_event>& events) {
    std::vector<const room_event*> next;
    next.reserve(events.size());
    for (const auto& e : events) {
        auto it = _fanned.find(e.room);
        if (it == _fanned.end() || e.seq != it->second + 1) continue;  // the relay brings it, in order
        it->second = e.seq;
        next.push_back(&e);
        remember(e);
    }
    if (_config.from_writer) _config.from_writer->add(next.size());
    fan_out(next);
}

void room_fanout::forget_empty_rooms() {
    for (auto it = _fanned.begin(); it != _fanned.end();) {
        it = _members.count(it->first) ? std::next(it) : _fanned.erase(it);
    }
    for (auto it = _recent.begin(); it != _recent.end();) {
        if (_members.count(it->first)) {
            ++it;
        } else {
            _recent_total -= it->second.size();
            it = _recent.erase(it);
        }
    }
}

void room_fanout::remember(const room_event& e) {
    if (!_members.count(e.room)) return;  // nobody here to replay it to
    auto& q = _recent[e.room];
    if (!q.empty() && e.seq <= q.back().seq) return;  // learned from a read already
    if (!q.empty() && e.seq != q.back().seq + 1) {   // a gap: start again from here
        _recent_total -= q.size();
        q.clear();
    }
    q.push_back(e);
    ++_recent_total;
    if (q.size() > k_recent_per_room) {
        q.pop_front();
        --_recent_total;
    }
    if (_recent_total > k_recent_total) {
        _recent.clear();
        _recent_total = 0;
    }
}

std::optional<room_fanout::recent_page> room_fanout::recent(const room_read& r, size_t limit) const {
    auto it = _recent.find(r.room);
    if (it == _recent.end() || it->second.empty()) return std::nullopt;
    const auto& q = it->second;
    int64_t first = q.front().seq, head = q.back().seq;
    // Never short of what is fanned out here. (Without a last seq here, the memory was learned
    // from the read of a session that is in the room: forget_empty_rooms drops both together.)
    if (auto f = _fanned.find(r.room); f != _fanned.end() && head < f->second) return std::nullopt;
    int64_t after = r.from_head ? std::max<int64_t>(0, head - r.after_seq) : r.after_seq;
    if (after > head || after + 1 < first) return std::nullopt;  // beyond, or before, what is remembered
    recent_page page;
    page.head = head;
    for (size_t i = static_cast<size_t>(after + 1 - first); i < q.size() && page.events.size() < limit; ++i) {
        page.events.push_back(q[i]);
    }
    return page;
}

void room_fanout::learn(const std::string& room, int64_t after, const std::vector<room_event>& page, int64_t head) {
    if (page.empty() || !_members.count(room)) return;
    // Only a page of consecutive seqs from after + 1 to head.
    if (page.front().seq != after + 1 || page.back().seq != head ||
        page.back().seq - page.front().seq + 1 != static_cast<int64_t>(page.size())) {
        return;
    }
    auto& q = _recent[room];
    if (q.empty()) {
        q.assign(page.begin(), page.end());
        _recent_total += page.size();
    } else if (page.front().seq < q.front().seq && head + 1 >= q.front().seq) {
        int64_t first = q.front().seq;
        for (auto e = page.rbegin(); e != page.rend(); ++e) {
            if (e->seq >= first) continue;
            q.push_front(*e);
            ++_recent_total;
        }
    }
    while (q.size() > k_recent_per_room) {
        q.pop_front();
        --_recent_total;
    }
}

void room_fanout::flush_held() {
    if (_held.empty()) return;
    auto held = std::move(_held);
    _held.clear();
    _held_count = 0;
    std::vector<const room_event*> all;
    for (const auto& [room, list] : held) {
        for (const auto& e : list) all.push_back(&e);
    }
    _last_flush_writes = fan_out(all, true);
}

std::chrono::milliseconds room_fanout::next_hold() const {
    auto budget = std::chrono::milliseconds(_last_flush_writes / 5);  // 20 µs a write, ×10
    return std::clamp(budget, _config.hold_min, _config.hold_max);
}

size_t room_fanout::fan_out(const std::vector<const room_event*>& events, bool flushing) {
    size_t writes = 0;
    if (events.empty()) return writes;
    if (_config.presence && !flushing) {
        for (const room_event* e : events) _config.presence->apply(*e);
    }
    // Each room's events, in order (a batch interleaves rooms; a relay batch may hold 20,000
    // events of as many rooms: grouped through a hash map, not a search per event).
    std::vector<std::pair<const std::string*, std::vector<const room_event*>>> rooms;
    std::unordered_map<std::string_view, size_t> index;
    for (const room_event* e : events) {
        auto [at, added] = index.try_emplace(e->room, rooms.size());
        if (added) rooms.push_back({&e->room, {}});
        rooms[at->second].second.push_back(e);
    }
    std::vector<frame_sink*> too_far;
    std::vector<room_event> taken;  // held events a message takes along
    for (auto& [room, list] : rooms) {
        auto it = _members.find(*room);
        if (it == _members.end()) continue;
        if (!flushing && _config.hold_max.count() > 0) {
            bool presence_only = true;
            for (const room_event* e : list) presence_only = presence_only && (e->kind == "join" || e->kind == "leave");
            if (presence_only && _held_count + list.size() <= 10000) {
                bool first = _held.empty();
                auto& held = _held[*room];
                for (const room_event* e : list) held.push_back(*e);
                _held_count += list.size();
                if (first && _config.on_hold) _config.on_hold(next_hold());
                continue;
            }
            if (auto h = _held.find(*room); h != _held.end()) {
                taken = std::move(h->second);
                _held_count -= taken.size();
                _held.erase(h);
                std::vector<const room_event*> before;
                for (const auto& e : taken) before.push_back(&e);
                list.insert(list.begin(), before.begin(), before.end());
            }
        }
        std::vector<event_frames> frames;
        frames.reserve(list.size());
        for (const room_event* e : list) frames.push_back({*e, nullptr, nullptr});
        server_t::message_ptr together;  // every v1 frame of `list`, one message
        // Nothing below changes _members: sessions come and go in handlers that run later.
        for (auto& entry : it->second) {
            const fanout_member& m = entry.second;
            session_room& st = *m.state;
            if (st.replaying) {
                for (const room_event* e : list) {
                    if (st.pending.size() >= _config.max_pending) {
                        too_far.push_back(m.out);  // its replay cannot keep up with the room: resume later
                        break;
                    }
                    st.pending.push_back(*e);
                }
            } else if (list.size() > 1 && !m.legacy && st.last_seq < list.front()->seq) {
                if (!together) together = together_frames(frames);
                st.last_seq = list.back()->seq;
                m.out->send(together, list.size());
                ++writes;
            } else {
                for (auto& f : frames) deliver(m, f);
                writes += frames.size();
            }
        }
    }
    for (frame_sink* out : too_far) out->close_slow();
    return writes;
}

}  // namespace stchat::chat
