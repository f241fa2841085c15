#include "stchat/ingest/outbox.h"

#include <atomic>
#include <mutex>

#include "nats_handles.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_json.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::ingest {
namespace {

constexpr const char* k_component = "outbox";
// Msg-Id de-duplication is a second guard only (the expected sequence is the argument): JetStream's
// default window, 2 minutes, whose id map nats-server keeps in memory.
constexpr int64_t k_duplicate_window_ns = 2LL * 60 * 1000000000;

// The refusals of one publish round. Written by cnats' reply thread.
struct ack_tally {
    std::atomic<uint64_t> failed{0};
    std::mutex mutex;
    std::string first_error;

    void reset() {
        failed = 0;
        std::lock_guard<std::mutex> lock(mutex);
        first_error.clear();
    }
};

// Called by cnats for a publish JetStream refused or never answered (a successful one is counted
// by js_PublishAsyncComplete returning OK: every publish of the round answered, none refused).
void on_publish_error(jsCtx*, jsPubAckErr* pae, void* closure) {
    auto* tally = static_cast<ack_tally*>(closure);
    ++tally->failed;
    std::lock_guard<std::mutex> lock(tally->mutex);
    if (tally->first_error.empty()) {
        tally->first_error = std::string(natsStatus_GetText(pae->Err)) +
                             (pae->ErrText ? std::string(" (") + pae->ErrText + ")" : "");
    }
}

// "room.*" -> "room.%" with LIKE's own characters escaped; as a Postgres text[] literal.
std::string like_patterns(const std::vector<std::string>& globs) {
    std::string out = "{";
    for (size_t i = 0; i < globs.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (char c : globs[i]) {
            if (c == '*') {
                out += '%';
            } else if (c == '%' || c == '_') {
                out += "\\\\";
                out += c;
            } else if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else {
                out += c;
            }
        }
        out += '"';
    }
    return out + "}";
}

class outbox {
public:
    explicit outbox(const outbox_config& config) : _config(config) {
        if (auto* m = config.metrics) {
            _m_published = &m->make_counter("stchat_outbox_published_total", "Events published to JetStream and acknowledged");
            _m_recoveries = &m->make_counter("stchat_outbox_recoveries_total", "Resumptions from the stream's last message after a failure");
            _m_position = &m->make_gauge("stchat_outbox_position", "Last log position published (or passed over by the filter)");
            _m_lag = &m->make_gauge("stchat_outbox_lag_events", "Log events after the outbox's position");
        }
        _checkpoint = "outbox:" + config.stream;
        _filter = config.streams.empty() ? "" : like_patterns(config.streams);
    }

    outbox_stats run() {
        std::chrono::milliseconds backoff{100};
        std::string last_problem;
        while (!stop_requested()) {
            try {
                if (!_js) open_nats();
                if (!_sql) open_store();
                if (!_resumed) resume();
                bool caught_up = step();
                if (!last_problem.empty()) {
                    log::info(k_component, "publishing again");
                    last_problem.clear();
                    set_health("");
                    backoff = std::chrono::milliseconds(100);
                }
                if (caught_up) {
                    if (_config.stop_when_caught_up && _config.stop_when_caught_up()) break;
                    _log->wait_for_append(_config.idle_wait);
                }
            } catch (const eventstore::store_error& e) {
                // Reads, and a checkpoint set with greatest(): idempotent.
                if (!e.retry_may_help(eventstore::idempotence::idempotent)) throw;
                problem(last_problem, std::string("Postgres: ") + e.what());
                _sql.reset();
                _log.reset();
                if (sleep_unless_stopped(backoff)) break;
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
            } catch (const nats::nats_error& e) {
                problem(last_problem, std::string("NATS: ") + e.what());
                // A new context (publishes still pending in the old one are dropped with it), and
                // the stream's last message says where to go on.
                _resumed = false;
                _js.reset();
                _conn.reset();
                if (sleep_unless_stopped(backoff)) break;
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
            }
        }
        if (_js && _sql && _flight.any) {
            try {
                finish_flight();  // the last round's acks and checkpoint
            } catch (const std::exception& e) {
                log::warn(k_component, std::string("at stop: ") + e.what() + " (published again at the next start)");
            }
        }
        log::info(k_component, "stopped at position " + std::to_string(_stats.position) + ": " +
                                   std::to_string(_stats.published) + " published, " +
                                   std::to_string(_stats.recoveries) + " recoveries");
        return _stats;
    }

private:
    void problem(std::string& last, const std::string& what) {
        if (last != what) log::warn(k_component, what + "; retrying");
        last = what;
        set_health(what);
    }
    void set_health(const std::string& what) {
        if (_config.health) _config.health->set("outbox", what);
    }

    void open_nats() {
        _conn = nats::connect({_config.nats_urls, "stchat-outbox", k_component});
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 5000;
        jo.PublishAsync.MaxPending = 2 * _config.batch;  // a round in flight while the next is published
        jo.PublishAsync.ErrHandler = on_publish_error;
        jo.PublishAsync.ErrHandlerClosure = &_tally;
        jsCtx* raw = nullptr;
        nats::check(natsConnection_JetStream(&raw, _conn.get(), &jo), "JetStream context");
        _js.reset(raw);
        ensure_stream();
    }

    void ensure_stream() {
        jsStreamInfo* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_GetStreamInfo(&raw, _js.get(), _config.stream.c_str(), nullptr, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(raw);
            return;
        }
        if (s != NATS_NOT_FOUND) throw nats::nats_error(s, "stream info for " + _config.stream);
        std::string subjects = _config.subject_prefix + ".>";
        const char* list[] = {subjects.c_str()};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = _config.stream.c_str();
        cfg.Subjects = list;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = _config.replicas;
        cfg.Duplicates = k_duplicate_window_ns;
        s = js_AddStream(&raw, _js.get(), &cfg, nullptr, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(raw);
            log::info(k_component, "created JetStream stream " + _config.stream + " (subjects " + subjects +
                                       "; file storage; replicas " + std::to_string(_config.replicas) + ")");
        } else if (js_GetStreamInfo(&raw, _js.get(), _config.stream.c_str(), nullptr, &jerr) == NATS_OK) {
            jsStreamInfo_Destroy(raw);  // made by another process meanwhile
        } else {
            throw nats::nats_error(s, "create stream " + _config.stream);
        }
    }

    void open_store() {
        _sql = eventstore::make_sql_session(_config.store);
        _log = eventstore::make_event_log(_config.store);
        if (_identity.empty()) {
            _identity = _sql->exec("SELECT identity::text FROM log_identity").at(0).at(0).value_or("");
        }
        _sql->exec("INSERT INTO checkpoint (projector) VALUES ($1) ON CONFLICT DO NOTHING", {_checkpoint});
    }

    // Where to go on: after the position in the stream's last message (what JetStream holds is
    // the truth), or after the checkpoint when the stream has none of ours (new or purged).
    void resume() {
        jsStreamInfo* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        nats::check(js_GetStreamInfo(&raw, _js.get(), _config.stream.c_str(), nullptr, &jerr),
                    ("stream info for " + _config.stream).c_str());
        nats::stream_info_ptr info(raw);
        _expected_seq = info->State.LastSeq;
        int64_t from_stream = -1;
        if (_expected_seq > 0) {
            natsMsg* last = nullptr;
            natsStatus s = js_GetMsg(&last, _js.get(), _config.stream.c_str(), _expected_seq, nullptr, &jerr);
            nats::msg_ptr owned(last);
            const char* id = nullptr;
            if (s == NATS_OK && natsMsgHeader_Get(last, "Nats-Msg-Id", &id) == NATS_OK && id) {
                std::string msg_id = id;
                auto colon = msg_id.rfind(':');
                if (colon == std::string::npos || msg_id.substr(0, colon) != _identity) {
                    throw std::runtime_error("stream " + _config.stream + " ends with message id '" + msg_id +
                                             "', not one of this log's (" + _identity +
                                             ":<position>): publish to a stream of its own with --stream");
                }
                from_stream = std::stoll(msg_id.substr(colon + 1));
            } else if (s != NATS_OK && s != NATS_NOT_FOUND) {
                throw nats::nats_error(s, "read the last message of " + _config.stream);
            }
        }
        int64_t checkpoint = std::stoll(*_sql->exec("SELECT position FROM checkpoint WHERE projector = $1",
                                                     {_checkpoint}).at(0).at(0));
        int64_t was = _stats.position;
        _stats.position = std::max(checkpoint, from_stream);
        if (from_stream > checkpoint) save_checkpoint();
        _read_pos = _stats.position;
        _flight = {};
        _resumed = true;
        if (_ever_resumed) {
            ++_stats.recoveries;
            if (_m_recoveries) _m_recoveries->add(1);
        }
        _ever_resumed = true;
        log::info(k_component, "publishing " + (_filter.empty() ? std::string("every stream") : _filter) +
                                   " to " + _config.stream + " from position " + std::to_string(_stats.position + 1) +
                                   " (stream at sequence " + std::to_string(_expected_seq) + ", last event " +
                                   (from_stream < 0 ? std::string("none of ours") : std::to_string(from_stream)) +
                                   ", checkpoint " + std::to_string(checkpoint) + ")" +
                                   (was > _stats.position ? "; " + std::to_string(was - _stats.position) +
                                                                " events to publish again" : ""));
    }

    void save_checkpoint() {
        // Idempotent (a position, not an increment): safe to retry after a commit in doubt.
        _sql->exec("UPDATE checkpoint SET position = greatest(position, $2::bigint), updated_at = now()"
                   " WHERE projector = $1",
                   {_checkpoint, std::to_string(_stats.position)});
    }

    // One round, pipelined with the one before: read up to `batch` positions after what was
    // published, then wait for the acks of the round in flight and move the checkpoint past it,
    // then publish the rows just read (asynchronously: their acks are waited for by the next
    // round). The read overlaps the previous round's acks. True when the log had nothing new
    // (and nothing is in flight any more).
    //
    // Example (batch 1000, log head 2500): round 1 reads 1..1000, publishes them; round 2 reads
    // 1001..2000, waits for 1..1000's acks, checkpoint 1000, publishes 1001..2000; round 3 reads
    // 2001..2500, checkpoint 2000, publishes; round 4 reads nothing, checkpoint 2500: caught up.
    bool step() {
        int64_t from = _read_pos;
        std::string upto_sql = std::to_string(from + _config.batch);
        auto head_row = _sql->exec("SELECT least($1::bigint, coalesce(max(position), 0)) FROM event_log", {upto_sql});
        int64_t upto = std::stoll(*head_row.at(0).at(0));
        std::vector<eventstore::row> rows;
        if (upto > from) {
            std::string sql = std::string("SELECT ") + eventstore::k_event_json_columns +
                              ", CASE WHEN stream LIKE 'feed.%' OR type = 'undecodable' THEN encode(payload, 'hex') END"
                              " FROM event_log WHERE position > $1 AND position <= $2" +
                              (_filter.empty() ? "" : " AND stream LIKE ANY ($3::text[])") + " ORDER BY position";
            std::vector<std::string> params{std::to_string(from), std::to_string(upto)};
            if (!_filter.empty()) params.push_back(_filter);
            rows = _sql->exec(sql, params);
        }
        finish_flight();
        if (upto <= from) {
            if (_m_lag) _m_lag->set(0);
            return true;
        }

        _tally.reset();
        std::string json, msg_id, subject;
        uint64_t sent = 0;
        for (const auto& r : rows) {
            json.clear();
            eventstore::append_event_json(json, r, _times);
            subject = outbox_subject(_config.subject_prefix, *r.at(1));
            msg_id = _identity + ":" + *r.at(0);
            natsMsg* msg = nullptr;
            nats::check(natsMsg_Create(&msg, subject.c_str(), nullptr, json.data(), static_cast<int>(json.size())),
                        "natsMsg_Create");
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MsgId = msg_id.c_str();
            po.ExpectLastSeq = _expected_seq + sent;  // 0 (an empty stream) sets no expectation
            natsStatus s = js_PublishMsgAsync(_js.get(), &msg, &po);
            natsMsg_Destroy(msg);  // no-op when the library took it
            if (s != NATS_OK) {
                _resumed = false;
                throw nats::nats_error(s, "publish to " + subject);
            }
            ++sent;
        }
        _expected_seq += sent;
        _read_pos = upto;
        _flight = {upto, sent, true};
        return false;
    }

    // The round in flight: every ack waited for (a refusal or a silence: resume from the
    // stream), then the checkpoint moved past it. Idempotent checkpoint: a position, greatest().
    void finish_flight() {
        if (!_flight.any) return;
        if (_flight.sent > 0) {
            jsPubOptions wait;
            jsPubOptions_Init(&wait);
            wait.MaxWait = 10000;
            natsStatus done = js_PublishAsyncComplete(_js.get(), &wait);
            if (done != NATS_OK || _tally.failed > 0) {
                std::string why;
                {
                    std::lock_guard<std::mutex> lock(_tally.mutex);
                    why = _tally.first_error.empty() ? natsStatus_GetText(done) : _tally.first_error;
                }
                uint64_t sent = _flight.sent;
                _resumed = false;
                _flight = {};
                throw nats::nats_error(done == NATS_OK ? NATS_ERR : done,
                                       std::to_string(_tally.failed.load()) + " of " + std::to_string(sent) +
                                           " publishes refused or unanswered (" + why + ")");
            }
        }
        _stats.published += _flight.sent;
        _stats.position = _flight.upto;
        save_checkpoint();
        if (_m_published) _m_published->add(_flight.sent);
        if (_m_position) _m_position->set(_flight.upto);
        if (_m_lag) {
            auto h = _sql->exec("SELECT coalesce(max(position), 0) FROM event_log");
            _m_lag->set(std::max<int64_t>(0, std::stoll(*h.at(0).at(0)) - _flight.upto));
        }
        _flight = {};
    }

    const outbox_config& _config;
    std::string _checkpoint, _filter, _identity;
    nats::connection_ptr _conn;
    nats::js_ptr _js;
    std::unique_ptr<eventstore::sql_session> _sql;
    std::unique_ptr<eventstore::event_log> _log;  // LISTEN for new appends
    ack_tally _tally;
    uint64_t _expected_seq = 0;
    // The round published and not yet acknowledged; what was read (and published) up to.
    struct in_flight {
        int64_t upto = 0;
        uint64_t sent = 0;
        bool any = false;
    } _flight;
    int64_t _read_pos = 0;
    bool _resumed = false, _ever_resumed = false;
    time_text _times;
    outbox_stats _stats;
    metrics::counter *_m_published = nullptr, *_m_recoveries = nullptr;
    metrics::gauge *_m_position = nullptr, *_m_lag = nullptr;
};

}  // namespace

std::string outbox_subject(const std::string& prefix, const std::string& log_stream) {
    std::string out = prefix + ".";
    for (char c : log_stream) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
        out.push_back(ok ? c : '_');
    }
    return out;
}

outbox_stats run_outbox(const outbox_config& config) {
    outbox o(config);
    return o.run();
}

}  // namespace stchat::ingest
