#include "stchat/ingest/ingest.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "batch_pipeline.h"
#include "nats_handles.h"
#include "stchat/common/log.h"
#include "stchat/common/number_text.h"
#include "stchat/common/shutdown.h"
#include "stchat/common/stall_watchdog.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/retry.h"
#include "stchat/eventstore/sql_session.h"
#include "stchat/ingest/reconcile.h"
#include "stchat/ingest/feed_codec.h"
#include "feed_record.h"
#include "stream_setup.h"

namespace stchat::ingest {
namespace {

constexpr const char* k_component = "ingest";

// A bound pull subscription and the stream instance it belongs to.
struct binding {
    nats::subscription_ptr sub;
    int64_t stream_created = 0;
    std::string source;  // inbox source: "nats:<stream>:<created ns>"
};

void add_consumer_if_missing(jsCtx* js, const ingest_config& config) {
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&raw, js, config.nats.stream.c_str(),
                                      config.consumer.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
        nats::consumer_info_ptr keep(raw);
        return;
    }
    if (s != NATS_NOT_FOUND) throw nats::nats_error(s, "consumer info for " + config.consumer);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = config.consumer.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = static_cast<int64_t>(config.ack_wait.count()) * 1000000;
    // Up to 7 batches are unacked at once (fetched, 2 queued, appending, 2 committed, acking).
    cc.MaxAckPending = std::max(20000, config.batch_size * 8);
    cc.MaxDeliver = -1;  // never give up on a message: it must reach the log
    s = js_AddConsumer(&raw, js, config.nats.stream.c_str(), &cc, nullptr, &jerr);
    nats::check(s, ("create consumer " + config.consumer).c_str());
    nats::consumer_info_ptr keep(raw);
    log::info(k_component, "created durable consumer " + config.consumer + " on stream " +
                               config.nats.stream);
}

binding bind(jsCtx* js, const ingest_config& config) {
    for (;;) {
        int64_t created = ensure_stream(js, config.nats);
        add_consumer_if_missing(js, config);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = config.nats.stream.c_str();
        so.Consumer = config.consumer.c_str();
        natsSubscription* raw = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_PullSubscribe(&raw, js, nullptr, config.consumer.c_str(), nullptr, &so,
                                        &jerr);
        nats::check(s, "pull subscribe");
        binding b;
        b.sub.reset(raw);
        // The stream may have been deleted and created again between the two calls: the key must
        // name the instance the consumer lives on, so check it did not change.
        if (ensure_stream(js, config.nats) != created) continue;
        b.stream_created = created;
        b.source = inbox_source(config.nats.stream, created);
        return b;
    }
}

bool consumer_exists(jsCtx* js, const ingest_config& config) {
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&raw, js, config.nats.stream.c_str(),
                                      config.consumer.c_str(), nullptr, &jerr);
    nats::consumer_info_ptr keep(raw);
    return s != NATS_NOT_FOUND;  // on other errors (server away) keep the binding and retry
}

uint64_t consumer_pending(jsCtx* js, const ingest_config& config) {
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&raw, js, config.nats.stream.c_str(),
                                      config.consumer.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return 1;
    nats::consumer_info_ptr info(raw);
    return info->NumPending + static_cast<uint64_t>(info->NumAckPending);
}

class ingestor {
public:
    explicit ingestor(const ingest_config& config)
        : _config(config), _log(eventstore::make_event_log(config.store)) {
        if (auto* m = config.metrics) {
            _m.received = &m->make_counter("stchat_ingest_messages_received_total", "Messages fetched from JetStream, redeliveries included");
            _m.appended = &m->make_counter("stchat_ingest_messages_ingested_total", "Messages appended to the log (new rows)");
            _m.duplicates = &m->make_counter("stchat_ingest_dedup_hits_total", "Redelivered messages the inbox recognised (appended nothing)");
            _m.redelivered = &m->make_counter("stchat_ingest_redeliveries_total", "Messages JetStream delivered more than once");
            _m.undecodable = &m->make_counter("stchat_ingest_undecodable_total", "Messages kept as undecodable records");
            _m.batches = &m->make_counter("stchat_ingest_batches_total", "Append transactions");
            _m.append_seconds = &m->make_histogram("stchat_ingest_append_seconds", "Duration of one append transaction");
            _m.retries = &m->make_counter("stchat_ingest_append_retries_total", "Appends tried again after Postgres failed");
            _m.pending = &m->make_gauge("stchat_ingest_consumer_pending",
                                        "Messages the stream still holds for the consumer after the last one fetched (the consumer's lag)");
        }
    }

    struct ingest_metrics {
        metrics::counter *received = nullptr, *appended = nullptr, *duplicates = nullptr, *redelivered = nullptr,
                         *undecodable = nullptr, *batches = nullptr;
        metrics::histogram* append_seconds = nullptr;
        metrics::counter* retries = nullptr;
        metrics::gauge* pending = nullptr;
    };

    ingest_stats run() {
        auto conn = nats::connect({_config.nats.nats_urls, "stchat-ingest", k_component});
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 2000;  // each JetStream API call: a stop is never more than this away
        jsCtx* raw_js = nullptr;
        nats::check(natsConnection_JetStream(&raw_js, conn.get(), &jo), "JetStream context");
        nats::js_ptr js(raw_js);
        log::info(k_component, "connecting to " + _config.nats.nats_urls + ", stream " +
                                   _config.nats.stream + ", consumer " + _config.consumer);

        // Declared before the pipeline, so destroyed after it: however run() ends, the batches in
        // hand are acked while their subscription still exists.
        binding b;
        // This thread fetches and decodes batch N+1 while the appender commits batch N and the
        // finisher acks and frees batch N-1 (batch_pipeline.h). Before a subscription is dropped
        // the pipeline is drained, because the messages in flight still belong to it.
        batch_pipeline<batch> pipeline({[this](batch& work) { return commit(work); },
                                        [this](batch& work) { ack(work); },
                                        2, 2,
                                        stall_watchdog_config{_config.health, k_component,
                                                              "nothing appended for %s while batches wait",
                                                              _config.stall_after}});
        std::string last_problem;
        int idle_fetches = 0;
        std::chrono::milliseconds backoff{100};
        auto unbind = [&] {
            pipeline.drain();
            b = binding{};
        };
        while (!stop_requested() && !pipeline.failure()) {
            try {
                if (!b.sub) {
                    b = bind(js.get(), _config);
                    log::info(k_component, "consuming " + _config.nats.stream + " (created " +
                                               utc_text(b.stream_created) + ") as " + _config.consumer);
                    last_problem.clear();
                    backoff = std::chrono::milliseconds(100);
                }
                auto list = std::make_unique<nats::msg_list>();
                jsErrCode jerr = static_cast<jsErrCode>(0);
                auto t0 = std::chrono::steady_clock::now();
                // No byte bound on the fetch: cnats 3.4.1's natsSubscription_FetchRequest with
                // MaxBytes wrote past its message array under valgrind (docs/architecture.md).
                natsStatus s = natsSubscription_Fetch(list->get(), b.sub.get(), _config.batch_size,
                                                      _config.fetch_wait.count(), &jerr);
                _fetch_side.fetch_us += micros_since(t0);
                if (list->size() == 0) {
                    if (s != NATS_OK && s != NATS_TIMEOUT) {
                        throw nats::nats_error(s, "fetch");
                    }
                    if (_m.pending) _m.pending->set(0);  // a fetch that waited and got nothing: caught up
                    // Idle: make sure the consumer still exists (a deleted stream takes its
                    // consumer with it, and the server then simply stops answering fetches).
                    if (++idle_fetches % 4 == 0 && !consumer_exists(js.get(), _config)) {
                        log::warn(k_component, "consumer " + _config.consumer +
                                                   " is gone (stream deleted?); binding again");
                        unbind();
                    }
                    if (_config.stop_when_drained) {
                        pipeline.drain();
                        if (consumer_pending(js.get(), _config) == 0) break;
                    }
                    continue;
                }
                idle_fetches = 0;
                if (!last_problem.empty()) {
                    log::info(k_component, "NATS is back: fetching again");
                    last_problem.clear();
                    if (_config.health) _config.health->set("nats", "");
                }
                batch work;
                work.events = decode(*list, b);
                work.msgs = std::move(list);
                pipeline.push(std::move(work));
            } catch (const std::exception& e) {
                // NATS away, or a batch that cannot be decoded (a message without JetStream
                // metadata): nothing of this batch was acked, so it comes again; bind afresh.
                if (last_problem != e.what()) {
                    log::warn(k_component, std::string(e.what()) + "; retrying");
                    last_problem = e.what();
                    if (_config.health) _config.health->set("nats", e.what());
                }
                unbind();
                if (sleep_unless_stopped(backoff)) break;
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
            }
        }
        // SIGTERM: the batches in hand are committed and acked before we return.
        pipeline.drain();
        if (natsConnection_Status(conn.get()) == NATS_CONN_STATUS_CONNECTED) {
            natsConnection_FlushTimeout(conn.get(), 2000);  // the last batches' acks
        }
        _stats.fetch_us = _fetch_side.fetch_us;
        _stats.decode_us = _fetch_side.decode_us;
        _stats.ack_us = _finish_side.ack_us;  // drained: the finisher is idle
        log::info(k_component, "stopped: " + summary());
        if (auto failure = pipeline.failure()) std::rethrow_exception(failure);
        return _stats;
    }

private:
    struct batch {
        std::unique_ptr<nats::msg_list> msgs;  // owned until acked, then destroyed
        std::vector<eventstore::new_event> events;
    };

    static uint64_t micros_since(std::chrono::steady_clock::time_point t) {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - t)
                                         .count());
    }

    // Stage 1 (fetching thread): decode a fetched batch into log events.
    std::vector<eventstore::new_event> decode(nats::msg_list& list, const binding& b) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<eventstore::new_event> events;
        events.reserve(static_cast<size_t>(list.size()));
        for (int i = 0; i < list.size(); ++i) {
            natsMsg* msg = list[i];
            jsMsgMetaData* raw_meta = nullptr;
            if (natsMsg_GetMetaData(&raw_meta, msg) != NATS_OK) {
                throw std::runtime_error("fetched a message without JetStream metadata");
            }
            nats::meta_ptr meta(raw_meta);
            if (meta->NumDelivered > 1 && _m.redelivered) _m.redelivered->add();
            if (_m.pending) _m.pending->set(static_cast<int64_t>(meta->NumPending));
            events.push_back(feed_record(_config.nats, b.source, msg,
                                         {meta->Sequence.Stream, meta->Timestamp, meta->NumDelivered, false}));
        }
        _fetch_side.decode_us += micros_since(t0);
        return events;
    }

    // Stage 3 (finishing thread): a committed batch's acks (its memory is freed there too).
    // natsMsg_Ack is fire-and-forget: cnats' flusher puts the acks on the wire without a round
    // trip per batch; run() flushes once before it returns. A lost ack costs a redelivery, which
    // the inbox recognises.
    void ack(batch& work) {
        auto t = std::chrono::steady_clock::now();
        for (int i = 0; i < work.msgs->size(); ++i) natsMsg_Ack((*work.msgs)[i], nullptr);
        _finish_side.ack_us += micros_since(t);
    }

    // Stage 2 (appending thread): one transaction for the batch. True when it committed (its
    // acks are then the finisher's); false when a stop came while Postgres was away (the batch
    // is dropped unacked: redelivery brings it).
    bool commit(batch& work) {
        auto t1 = std::chrono::steady_clock::now();
        auto results = append_with_retry(work.events);
        if (results.empty()) return false;  // stopped while Postgres was away: redelivery will bring it
        auto t2 = std::chrono::steady_clock::now();
        _stats.append_us += micros_since(t1);
        ++_stats.batches;
        _stats.received += work.events.size();
        for (size_t i = 0; i < results.size(); ++i) {
            if (results[i].duplicate) {
                ++_stats.duplicates;
            } else {
                ++_stats.appended;
                if (work.events[i].type == "undecodable") ++_stats.undecodable;
            }
        }
        if (_m.batches) {
            uint64_t dup = 0, bad = 0;
            for (size_t i = 0; i < results.size(); ++i) {
                if (results[i].duplicate) ++dup;
                else if (work.events[i].type == "undecodable") ++bad;
            }
            _m.batches->add();
            _m.received->add(results.size());
            _m.duplicates->add(dup);
            _m.appended->add(results.size() - dup);
            _m.undecodable->add(bad);
            _m.append_seconds->observe(std::chrono::duration<double>(t2 - t1).count());
        }
        return true;
    }

    // Empty when a stop came while Postgres was away.
    std::vector<eventstore::append_result> append_with_retry(
        const std::vector<eventstore::new_event>& events) {
        // Retrying is safe even after an in-doubt commit: the inbox makes the append idempotent,
        // so a batch that did commit comes back as duplicates.
        eventstore::retry_policy retry({k_component, eventstore::idempotence::idempotent, _config.health, _m.retries,
                                        std::chrono::milliseconds(100), std::chrono::milliseconds(2000), std::nullopt,
                                        "append", "Postgres is back: appending again"});
        int attempts = 0;
        auto r = retry.run([&] {
            ++attempts;
            return _log->append_batch(events);
        });
        if (!r) return {};
        if (attempts > 1 || !_instance_checked) check_instance();  // after every outage
        return std::move(*r);
    }

    // The Postgres the appends go to, as "<system identifier>/<timeline>", read after the first
    // append and after every outage. A promoted standby runs on a new timeline, and may lack
    // commits the old primary had (asynchronous replication) whose messages JetStream was told
    // were done: then the log is reconciled with what the stream still holds.
    void check_instance() {
        try {
            // A fresh connection: rare (once at start, once per outage), and never a stale one.
            auto sql = eventstore::make_sql_session(_config.store);
            auto rows = sql->exec("SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' ||"
                                   " substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)");
            std::string now = rows.at(0).at(0).value_or("");
            if (!_instance.empty() && now != _instance) {
                log::warn(k_component, "Postgres is a different instance now (" + _instance + " -> " + now +
                                           "): reconciling the log with JetStream");
                reconcile_config rc{_config.nats, _config.store, false};
                auto r = reconcile(rc);
                log::info(k_component, "reconciled: appended " + std::to_string(r.appended) + " (" +
                                           ranges_text(r.repaired) + "); lost: " + ranges_text(r.lost));
            }
            _instance = now;
            _instance_checked = true;
        } catch (const std::exception& e) {
            _instance_checked = true;  // not on every batch: after the next outage
            log::warn(k_component, std::string("could not check the Postgres instance (stchat reconcile repairs a failover by hand): ") + e.what());
        }
    }

    std::string summary() const {
        return thousands(static_cast<int64_t>(_stats.appended)) + " appended, " +
               thousands(static_cast<int64_t>(_stats.duplicates)) + " duplicates, " +
               thousands(static_cast<int64_t>(_stats.undecodable)) + " undecodable, " +
               thousands(static_cast<int64_t>(_stats.batches)) + " batches; time in fetch " +
               seconds_text(_stats.fetch_us / 1e6) + ", decode " + seconds_text(_stats.decode_us / 1e6) +
               ", append " + seconds_text(_stats.append_us / 1e6) + ", ack " + seconds_text(_stats.ack_us / 1e6);
    }

    const ingest_config& _config;
    ingest_metrics _m;
    std::unique_ptr<eventstore::event_log> _log;  // used by the appender thread only
    std::string _instance;                          // appender thread: the Postgres last appended to
    bool _instance_checked = false;
    ingest_stats _stats;                          // written by the appender thread
    struct {
        uint64_t fetch_us = 0, decode_us = 0;
    } _fetch_side;                                // written by the fetching thread
    struct {
        uint64_t ack_us = 0;
    } _finish_side;                               // written by the finishing thread
};

}  // namespace

ingest_stats run_ingest(const ingest_config& config) { return ingestor(config).run(); }

}  // namespace stchat::ingest
