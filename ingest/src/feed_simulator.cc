#include "stchat/ingest/feed_simulator.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "nats_handles.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stream_setup.h"

namespace stchat::ingest {
namespace {

constexpr const char* k_component = "feed";

const char* const k_teams[7][8] = {
    {"Yankees", "Red Sox", "Dodgers", "Cubs", "Giants", "Astros", "Braves", "Mets"},
    {"Lakers", "Celtics", "Warriors", "Bulls", "Heat", "Knicks", "Spurs", "Nets"},
    {"Patriots", "Packers", "Cowboys", "Steelers", "Chiefs", "49ers", "Eagles", "Bears"},
    {"Ali", "Frazier", "Tyson", "Holyfield", "Lewis", "Fury", "Joshua", "Usyk"},
    {"Woods", "McIlroy", "Mickelson", "Spieth", "Rahm", "Scheffler", "Koepka", "Thomas"},
    {"Daytona 500", "Talladega", "Bristol", "Martinsville", "Watkins Glen", "Phoenix",
     "Charlotte", "Darlington"},
    {"Federer", "Nadal", "Djokovic", "Murray", "Alcaraz", "Sinner", "Williams", "Swiatek"},
};
const char* const k_plays[7][6] = {
    {"home run", "strikeout", "double play", "stolen base", "walk", "triple"},
    {"three-pointer", "slam dunk", "free throw", "block", "steal", "buzzer beater"},
    {"touchdown", "field goal", "interception", "sack", "fumble", "safety"},
    {"knockdown", "uppercut", "round ends", "jab", "clinch", "TKO"},
    {"birdie", "eagle", "bogey", "par", "hole in one", "double bogey"},
    {"lead change", "pit stop", "caution flag", "green flag", "last lap", "crash"},
    {"ace", "double fault", "break point", "deuce", "set point", "tiebreak"},
};
struct instrument { const char* symbol; const char* market; double base; };
const instrument k_instruments[] = {
    {"AAPL", "NASDAQ", 190}, {"MSFT", "NASDAQ", 410}, {"TSLA", "NASDAQ", 240},
    {"IBM", "NYSE", 170},    {"KO", "NYSE", 60},      {"JPM", "NYSE", 195},
    {"BTC-USD", "CRYPTO", 65000}, {"ETH-USD", "CRYPTO", 3400},
};
const char* const k_states[] = {"NY", "NJ", "PA", "CO", "IL", "IN", "MI", "VA", "TN", "AZ"};

std::string feed_payload(feed_kind kind, uint64_t seed, uint64_t n) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + n);
    if (kind == feed_kind::sport_event) {
        sport_event_fields f;
        f.sport = static_cast<int>(rng() % 7) + 1;
        const auto& teams = k_teams[f.sport - 1];
        size_t a = rng() % 8, b = (a + 1 + rng() % 7) % 8;
        f.match_title = f.sport == 6 ? std::string(teams[a])
                                     : std::string(teams[a]) + " vs " + teams[b];
        f.data_event = std::string(k_plays[f.sport - 1][rng() % 6]) + " at " +
                       std::to_string(1 + rng() % 90) + "'";
        return encode(f);
    }
    const instrument& ins = k_instruments[rng() % 8];
    execution_fields f;
    f.symbol = ins.symbol;
    f.market = ins.market;
    double drift = std::sin(static_cast<double>(n) / 500.0) * 0.02;
    double noise = (static_cast<double>(rng() % 2001) - 1000.0) / 100000.0;
    f.price = static_cast<float>(std::round(ins.base * (1.0 + drift + noise) * 100.0) / 100.0);
    f.quantity = static_cast<float>(1 + rng() % 500);
    f.execution_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    f.state_symbol = k_states[rng() % 10];
    return encode(f);
}

// Acked publishing: failures reported by the library are queued and published again with the
// same Nats-Msg-Id, which JetStream deduplicates within its window (2 minutes by default).
struct resend_queue {
    std::mutex mutex;
    std::vector<natsMsg*> msgs;
    ~resend_queue() {
        for (natsMsg* m : msgs) natsMsg_Destroy(m);  // stopped before they could be sent again
    }
};

void on_pub_error(jsCtx*, jsPubAckErr* pae, void* closure) {
    auto* q = static_cast<resend_queue*>(closure);
    std::lock_guard<std::mutex> lock(q->mutex);
    q->msgs.push_back(pae->Msg);
    pae->Msg = nullptr;  // ours now: the library must not destroy it
}

std::string rate_text(double rate) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", rate);
    return buf;
}

}  // namespace

std::string make_feed_payload(feed_kind kind, uint64_t seed, uint64_t n) {
    return feed_payload(kind, seed, n);
}

feed_stats run_feed(const feed_config& config) {
    std::random_device rd;
    uint64_t seed = config.seed ? config.seed : (static_cast<uint64_t>(rd()) << 32) ^ rd();
    std::string run_id = config.run_id.empty() ? std::to_string(seed) : config.run_id;
    const std::string& subject = config.kind == feed_kind::sport_event
                                     ? config.nats.sport_event_subject
                                     : config.nats.execution_subject;

    auto conn = nats::connect({config.nats.nats_urls, "stchat-feed", k_component});
    resend_queue failed;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;  // each JetStream API call: a stop is never more than this away
    jo.PublishAsync.MaxPending = 4000;
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = &failed;
    jsCtx* raw_js = nullptr;
    nats::check(natsConnection_JetStream(&raw_js, conn.get(), &jo), "JetStream context");
    nats::js_ptr js(raw_js);
    if (config.acked) {
        for (;;) {
            try {
                ensure_stream(js.get(), config.nats);
                break;
            } catch (const nats::nats_error& e) {
                log::warn(k_component, std::string(e.what()) + "; retrying");
                if (sleep_unless_stopped(std::chrono::milliseconds(500))) return {};
            }
        }
    }
    log::info(k_component, std::string("publishing ") + to_string(config.kind) + " on '" +
                               subject + "'" + (config.acked ? " (acked)" : "") + " at " +
                               (config.rate > 0 ? rate_text(config.rate) + "/s" : "full speed"));

    feed_stats stats;
    auto resend_failed = [&] {
        std::vector<natsMsg*> again;
        {
            std::lock_guard<std::mutex> lock(failed.mutex);
            again.swap(failed.msgs);
        }
        for (natsMsg* m : again) {
            ++stats.retried;
            natsMsg* owned = m;
            // On success the library takes the message; on failure it stays ours.
            if (js_PublishMsgAsync(js.get(), &owned, nullptr) != NATS_OK) {
                std::lock_guard<std::mutex> lock(failed.mutex);
                failed.msgs.push_back(owned);
            }
        }
        return !again.empty();
    };
    // Waits until every acked publish is confirmed, publishing again what timed out or failed.
    auto drain = [&] {
        for (;;) {
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MaxWait = 1000;  // short: a stop is noticed between waits
            natsStatus s = js_PublishAsyncComplete(js.get(), &po);
            bool resent = resend_failed();
            if (s == NATS_OK && !resent) {
                std::lock_guard<std::mutex> lock(failed.mutex);
                if (failed.msgs.empty()) return;
                continue;
            }
            if (s == NATS_TIMEOUT) {
                natsMsgList pending{};
                if (js_PublishAsyncGetPendingList(&pending, js.get()) == NATS_OK) {
                    for (int i = 0; i < pending.Count; ++i) {
                        ++stats.retried;
                        natsMsg* m = pending.Msgs[i];
                        pending.Msgs[i] = nullptr;
                        if (js_PublishMsgAsync(js.get(), &m, nullptr) != NATS_OK) {
                            std::lock_guard<std::mutex> lock(failed.mutex);
                            failed.msgs.push_back(m);
                        }
                    }
                    natsMsgList_Destroy(&pending);
                }
            }
            if (stop_requested() && s != NATS_OK) return;
        }
    };

    auto start = std::chrono::steady_clock::now();
    for (uint64_t n = 0; config.count < 0 || n < static_cast<uint64_t>(config.count); ++n) {
        if (stop_requested()) break;
        if (config.rate > 0) {
            auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(n) / config.rate));
            // In short steps: a slow rate must not delay a stop.
            for (auto now = std::chrono::steady_clock::now(); now < due; now = std::chrono::steady_clock::now()) {
                auto step = std::min<std::chrono::steady_clock::duration>(due - now, std::chrono::milliseconds(200));
                if (sleep_unless_stopped(std::chrono::duration_cast<std::chrono::milliseconds>(step) +
                                         std::chrono::milliseconds(1))) {
                    break;
                }
            }
            if (stop_requested()) break;
        }
        std::string payload;
        if (config.malformed_every > 0 && (n + 1) % static_cast<uint64_t>(config.malformed_every) == 0) {
            // Alternates the ways a payload goes wrong: garbage bytes, empty, a truncated message.
            switch ((n / static_cast<uint64_t>(config.malformed_every)) % 3) {
                case 0: payload = "\xff\xfe not protobuf \x01"; break;
                case 1: payload.clear(); break;
                default: {
                    payload = feed_payload(config.kind, seed, n);
                    payload.resize(payload.size() / 2);
                }
            }
            ++stats.malformed;
        } else {
            payload = feed_payload(config.kind, seed, n);
        }
        if (config.acked) {
            std::string id = run_id + "-" + to_string(config.kind) + "-" + std::to_string(n);
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MsgId = id.c_str();
            natsStatus s;
            while ((s = js_PublishAsync(js.get(), subject.c_str(), payload.data(),
                                        static_cast<int>(payload.size()), &po)) != NATS_OK) {
                if (stop_requested()) break;
                resend_failed();
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            if (s != NATS_OK) break;
            if ((n + 1) % 10000 == 0) resend_failed();
        } else {
            natsConnection_Publish(conn.get(), subject.c_str(), payload.data(),
                                   static_cast<int>(payload.size()));
        }
        ++stats.published;
    }
    if (config.acked) drain();
    if (natsConnection_Status(conn.get()) == NATS_CONN_STATUS_CONNECTED) {
        natsConnection_FlushTimeout(conn.get(), stop_requested() ? 1000 : 5000);
    }
    log::info(k_component, "done: " + std::to_string(stats.published) + " published (" +
                               std::to_string(stats.malformed) + " malformed, " +
                               std::to_string(stats.retried) + " retried)");
    return stats;
}

}  // namespace stchat::ingest
