// `stchat bench` (and its benches)
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/bench/chat_bench.h"
#include "stchat/bench/ingest_bench.h"
#include "stchat/bench/log_bench.h"
#include "stchat/chat/broadcast_server.h"
#include "stchat/common/shutdown.h"

namespace stchat::cli {

namespace {

int cmd_bench_ingest(int argc, char** argv) {
    args a(argc, argv, 3, {}, options_for(conn_database | conn_nats, {"messages", "naive", "runs", "batch", "preload"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench ingest [options]\n\n"
                     "Loads N messages into a bench stream (STCHAT_BENCH), then measures on the\n"
                     "same messages, in one run:\n"
                     "  1. ingest: JetStream -> committed log + inbox + projected rows\n"
                     "  2. naive: one INSERT and COMMIT per message (the original's way)\n"
                     "  3. ceiling: 1,000-row multi-row INSERTs into a bare table\n"
                     "Works in a scratch database <yours>_bench, created and dropped by the bench.\n"
                     "Last line: ingest: R msgs/s, naive: B msgs/s, ceiling: C msgs/s\n\n"
                  << connections_help(conn_database | conn_nats)
                  << "  --messages N       messages to load (default 500000)\n"
                     "  --naive N          messages for the naive baseline (default 20000)\n"
                     "  --runs N           repetitions of each measurement; medians reported (default 3)\n"
                     "  --batch N          messages per fetch and append transaction (default 2000)\n"
                     "  --preload N        then once more on a log already holding N events (filled in\n"
                     "                     SQL, ~1 min per 4M), with replay and room reads at its head\n"
                     "                     and the disk bytes per event; the last line gains\n"
                     "                     \"; at N events: R2 msgs/s (R2/R ratio), B bytes/event\"\n"
                     "\nExamples:\n  stchat bench ingest\n  stchat bench ingest --messages 100000 --runs 5\n"
                     "  stchat bench ingest --runs 1 --preload 20000000\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    bench::ingest_bench_config c;
    c.store = store_of(a);
    c.nats_urls = nats_urls_of(a, "nats://127.0.0.1:4222");
    c.messages = a.integer("messages", c.messages, 1000, 100000000);
    c.naive_messages = a.integer("naive", c.naive_messages, 100, 10000000);
    c.runs = static_cast<int>(a.integer("runs", c.runs, 1, 100));
    c.batch = static_cast<int>(a.integer("batch", c.batch, 1, 100000));
    c.preload = a.integer("preload", 0, 0, 2000000000);
    install_shutdown_handlers();
    bench::run_ingest_bench(c);
    return 0;
}

int cmd_bench_chat(int argc, char** argv) {
    args a(argc, argv, 3, {"no-resume"}, options_for(conn_database, {"users", "rooms", "rate", "seconds", "runs", "idle", "idle-rooms", "saturation-seconds", "no-resume"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench chat [options]\n\n"
                     "Starts a `stchat chat` on a scratch database <yours>_bench_chat and a plain\n"
                     "in-memory broadcast server (the same frames, nothing stored: the baseline),\n"
                     "connects U users in R rooms to each, and sends S messages/s in all for T seconds,\n"
                     "alternating the two servers; every room member receives every message. Then\n"
                     "the join storm: N connections do hello + join at once, to each server (J: the\n"
                     "chat's joins/s), and the chat server's memory (RSS) with them open. Then the\n"
                     "resume storm: the chat process killed (SIGKILL) and restarted, and all N back\n"
                     "with their token and since (printed as `resume: N users back ... in R s`).\n"
                     "Reports delivered frames/s and send->receive latency; medians of the runs.\n"
                     "Saturation (S, P): each server's rate stepped from S/4 to 5S; the highest offered\n"
                     "frames/s at which >= 99% arrives with p99 < 50 ms.\n"
                     "Last line: chat: F frames/s delivered, p50 a ms, p99 b ms, p999 c ms;\n"
                     "           plain broadcast: G frames/s, p99 d ms; saturation: chat S frames/s,\n"
                     "           plain P frames/s; joins: J/s\n\n"
                  << connections_help(conn_database)
                  << "  --users U          connected users per server (default 1000)\n"
                     "  --rooms R          rooms, users spread evenly (default 1)\n"
                     "  --rate S           sends per second in all (default 200)\n"
                     "  --seconds T        sending time per run (default 10)\n"
                     "  --runs N           runs of each server; medians reported (default 3)\n"
                     "  --idle N           idle connections for the memory figure, 0 to skip (default 10000)\n"
                     "  --idle-rooms N     rooms the idle connections join (default 100)\n"
                     "  --saturation-seconds T  sending time per saturation step, 0 to skip (default 3)\n"
                     "  --no-resume        skip the resume storm (the chat process killed with SIGKILL\n"
                     "                     and restarted; the idle connections back with token + since)\n"
                     "\nExamples:\n  stchat bench chat\n"
                     "  stchat bench chat --users 100 --rooms 10 --rate 500 --idle 0\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    bench::chat_bench_config c;
    c.store = store_of(a);
    c.users = static_cast<int>(a.integer("users", c.users, 1, 100000));
    c.rooms = static_cast<int>(a.integer("rooms", c.rooms, 1, 100000));
    c.sends_per_second = a.number("rate", c.sends_per_second, 0.1);
    c.seconds = a.number("seconds", c.seconds, 0.1);
    c.runs = static_cast<int>(a.integer("runs", c.runs, 1, 100));
    c.idle = static_cast<int>(a.integer("idle", c.idle, 0, 1000000));
    c.idle_rooms = static_cast<int>(a.integer("idle-rooms", c.idle_rooms, 1, 1000000));
    c.saturation_seconds = a.number("saturation-seconds", c.saturation_seconds, 0);
    c.resume = !a.flag("no-resume");
    if (c.rooms > c.users) throw usage_error("--rooms cannot exceed --users");
    install_shutdown_handlers();
    bench::run_chat_bench(c);
    return 0;
}

int cmd_bench_log(int argc, char** argv) {
    args a(argc, argv, 3, {}, options_for(conn_database | conn_nats, {"events", "runs"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench log [options]\n\n"
                     "Loads N events into a scratch database <yours>_bench_log (created and dropped),\n"
                     "then per run measures, on the same log:\n"
                     "  1. replay: stchat replay of the whole log to /dev/null; baseline: a raw read of\n"
                     "     the same rows and JSON columns in one query (nothing formatted);\n"
                     "  2. rebuild: stchat rebuild all; baseline: the incremental projector catching up\n"
                     "     all three tables from position 0;\n"
                     "  3. outbox: stchat outbox publishing the whole log to a JetStream stream\n"
                     "     STCHAT_BENCH_OUTBOX (made and deleted), every publish acknowledged;\n"
                     "     baselines: as many async publishes of the same mean size to a fresh stream,\n"
                     "     bare (C), and each with a Msg-Id and an expected sequence as the outbox's (G).\n"
                     "Last line: replay: R events/s (raw read: B events/s); rebuild: X events/s\n"
                     "           (incremental projector: Y events/s); outbox: O events/s\n"
                     "           (bare JetStream publishes: C msgs/s; with Msg-Id and expected\n"
                     "           sequence: G msgs/s)\n"
                     "           (rebuild and projector count log events x 3 tables)\n\n"
                  << connections_help(conn_database | conn_nats)
                  << "  --events N         events in the log (default 1000000)\n"
                     "  --runs N           runs; medians reported (default 3)\n"
                     "\nExamples:\n  stchat bench log\n  stchat bench log --events 200000 --runs 5\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    bench::log_bench_config c;
    c.store = store_of(a);
    c.events = a.integer("events", c.events, 1000, 1000000000);
    c.runs = static_cast<int>(a.integer("runs", c.runs, 1, 100));
    c.nats_urls = nats_urls_of(a, c.nats_urls);
    install_shutdown_handlers();
    bench::run_log_bench(c);
    return 0;
}

int cmd_bench_broadcast(int argc, char** argv) {
    args a(argc, argv, 3, {}, options_for(0, {"port"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench broadcast-server [--port N]\n\n"
                     "The baseline server of `stchat bench chat`: speaks the stchat.v1 frames (hello,\n"
                     "join, send -> event to every room member) but stores nothing and acks nothing.\n\n"
                  << connections_help(0) << "  --port N           port (default 8890)\n"
                     "\nExamples:\n  stchat bench broadcast-server --port 8890\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    chat::broadcast_config c;
    c.port = static_cast<uint16_t>(a.integer("port", 8890, 1, 65535));
    install_shutdown_handlers();
    chat::run_broadcast_server(c);
    return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    std::string what = argc > 2 ? argv[2] : "";
    if (what == "ingest") return cmd_bench_ingest(argc, argv);
    if (what == "chat") return cmd_bench_chat(argc, argv);
    if (what == "broadcast-server") return cmd_bench_broadcast(argc, argv);
    if (what == "log") return cmd_bench_log(argc, argv);
    bool asked = what.empty() || what == "--help" || what == "-h";
    if (!asked) std::cerr << "stchat bench: unknown bench '" << what << "' (ingest, chat, log or broadcast-server)\n\n";
    (asked ? std::cout : std::cerr) << "Usage: stchat bench <ingest|chat|log|broadcast-server> [options]\n\n"
                 "  ingest            catalogue rate vs a naive and a ceiling baseline\n"
                 "  chat              chat delivery rate and latency vs a plain broadcast server\n"
                 "  log               replay, rebuild and outbox rates vs a raw read, the projector\n"
                 "                    and bare JetStream publishes\n"
                 "  broadcast-server  the plain broadcast server (the chat bench starts it itself)\n"
                 "\nExamples:\n  stchat bench ingest --help\n  stchat bench chat\n";
    return what == "--help" || what == "-h" ? 0 : 2;
}

}  // namespace stchat::cli
