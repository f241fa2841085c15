#include "room_replay.h"

#include <algorithm>
#include <memory>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

namespace stchat::chat {

void room_replay::start(replay_cursor c, const room_read& r) {
    // From memory only when who is in the room is known already (a read with_members says it).
    if (!r.with_members && _config.presence->known(c.room)) {
        if (auto recent = _config.fanout->recent(r, k_read_page)) {
            if (_config.from_memory) _config.from_memory->add();
            if (c.first) {
                c.head = recent->head;
                c.after = r.from_head ? std::max<int64_t>(0, recent->head - r.after_seq) : r.after_seq;
            }
            return page(c, recent->events);
        }
    }
    read(c, r);
}

// Reads a page on the reader thread (batched with the other sessions' reads). The first read
// also fixes where the replay starts, from the room's head. A complete page (up to the head) is
// remembered for the room's next replays.
void room_replay::read(replay_cursor c, room_read r) {
    _config.reader->read({r, [this, c, r](const room_page* p) mutable {
                              if (!p) return failed(c);
                              if (c.first) {
                                  c.head = p->head;
                                  c.after = r.from_head ? std::max<int64_t>(0, p->head - r.after_seq)
                                                        : std::min(r.after_seq, p->head);
                              }
                              int64_t after = c.first ? c.after : r.after_seq;
                              asio::post(_io, [this, c, r, after, head = p->head, events = p->events,
                                               members = p->members] {
                                  replay_session s;
                                  if (static_cast<int>(events->size()) < k_read_page && _config.find(c, &s)) {
                                      // Read for a member still in the room: it may teach.
                                      _config.fanout->learn(c.room, after, *events, head);
                                  }
                                  if (r.with_members) {
                                      if (members) {
                                          _config.presence->seed(c.room, c.presence_token, members->as_of_position,
                                                                 members->members);
                                      } else {
                                          _config.presence->failed(c.room, c.presence_token);
                                      }
                                  }
                                  page(c, *events);
                              });
                          }});
}

void room_replay::failed(const replay_cursor& c) {
    asio::post(_io, [this, c] {
        // Who is in the room, if this read was to say it, is asked again by the next join.
        if (c.presence_token) _config.presence->failed(c.room, c.presence_token);
        replay_session s;
        if (_config.find(c, &s)) _config.on_failed(c);
    });
}

void room_replay::page(replay_cursor c, const std::vector<room_event>& events) {
    replay_session s;
    if (!_config.find(c, &s)) return;  // gone, left, or joined again
    session_room* st = s.state;
    if (c.first) {
        st->last_seq = c.after;  // live events up to here are the client's already
        _config.on_joined(c, std::max(c.head, events.empty() ? c.head : events.back().seq));
        c.first = false;
        c.presence_token = 0;  // later pages read no members
    }
    const size_t half = _config.max_buffered / 2;
    bool more = static_cast<int>(events.size()) == k_read_page;
    size_t from = 0;  // the first event of the page this session has not seen
    while (from < events.size() && events[from].seq <= st->last_seq) ++from;
    server_t::message_ptr together = !s.legacy && events.size() - from > 1 ? _config.frames->run(events, from) : nullptr;
    if (together && s.out->buffered() + together->get_payload().size() <= half) {
        // The rest of the page in one write, its frames shared with the same page's other replays.
        s.out->send(together, events.size() - from);
        st->last_seq = c.after = events.back().seq;
    } else {
        for (const auto& e : events) {
            if (s.out->buffered() > half) {
                more = true;  // the rest of this page comes again with the next read
                break;
            }
            event_frames frames{e, s.legacy || e.seq <= st->last_seq ? nullptr : _config.frames->one(e), nullptr};
            deliver({s.out, s.legacy, st}, frames);
            c.after = e.seq;
        }
    }
    if (more) return next_page(c);
    st->replaying = false;
    auto pending = std::move(st->pending);
    for (const auto& e : pending) {
        event_frames frames{e, s.legacy || e.seq <= st->last_seq ? nullptr : _config.frames->one(e), nullptr};
        deliver({s.out, s.legacy, st}, frames);
    }
}

// The next page once the client has drained its buffer below a quarter of the bound.
void room_replay::next_page(replay_cursor c) {
    replay_session s;
    if (!_config.find(c, &s)) return;
    if (s.out->buffered() <= _config.max_buffered / 4) return start(c, {c.room, c.after, false});
    auto timer = std::make_shared<asio::steady_timer>(_io, std::chrono::milliseconds(10));
    timer->async_wait([this, c, timer](const std::error_code& ec) {
        if (!ec) next_page(c);
    });
}

}  // namespace stchat::chat
