// stchat: one executable, one subcommand per role. `stchat --help` lists them.
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <iostream>
#include <algorithm>
#include <map>

#include "args.h"
#include "common_options.h"
#include "stchat/bench/chat_bench.h"
#include "stchat/bench/ingest_bench.h"
#include "stchat/bench/log_bench.h"
#include "stchat/chat/broadcast_server.h"
#include "stchat/chat/chat_server.h"
#include "stchat/common/http_endpoint.h"
#include "stchat/common/log.h"
#include "stchat/common/metrics.h"
#include "stchat/common/number_text.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/eventstore/migrations.h"
#include "stchat/ingest/feed_simulator.h"
#include "stchat/ingest/ingest.h"
#include "stchat/ingest/reconcile.h"
#include "stchat/ops/rebuild.h"
#include "stchat/ops/replay.h"
#include "stchat/ops/status.h"
#include "stchat/projections/projector.h"

namespace stchat::cli {
namespace {

const char* k_main_help = R"(stchat - st-chat: feeds and chat, catalogued exactly once in Postgres

Usage: stchat <command> [options]      (stchat <command> --help for details)

Commands:
  migrate        apply the database migrations that are missing
  ingest         catalogue the NATS feeds into the event log (JetStream, exactly once)
  project        run the projectors that fill the tables event and execution
  feed KIND      publish simulated feed messages (KIND: sport_event | execution)
  chat           serve the chat rooms over WebSocket and the web client (port 8888)
  status         log head, projector lag, ingest consumer, chat sessions (--json)
  rebuild        rebuild event, execution or chat_log from the log, online
  reconcile      append what JetStream holds and the log lost (after a failover)
  replay         write the event log from a position as JSON lines (--follow for live)
  compact        retire old inbox keys so the inbox stays bounded (--dry-run first)
  outbox         publish the log to JetStream (stchat.<stream>), each event once, in order
  bench ingest   measure the catalogue rate against a naive and a ceiling baseline
  bench log      measure replay and rebuild rates
  bench chat     measure chat delivery (frames/s, latency) against a plain broadcast

Examples:
  stchat migrate --database postgresql://stchat@127.0.0.1:15432/stchat
  stchat ingest --nats nats://127.0.0.1:4222
  stchat feed sport_event --rate 20
  psql -c 'select * from event order by timestamp desc limit 5'
)";


int cmd_migrate(int argc, char** argv) {
    args a(argc, argv, 2, {}, k_base_options);
    if (a.help()) {
        std::cout << "Usage: stchat migrate [--database URI]\n\n"
                     "Applies the SQL migrations (compiled into stchat) that the database lacks,\n"
                     "each in its own transaction, and records them in schema_migrations.\n"
                     "Safe to run twice, or from two processes at once.\n\n"
                  << k_common_help
                  << "\nExamples:\n  stchat migrate\n"
                     "  stchat migrate --database postgresql://stchat@127.0.0.1:15432/stchat\n";
        return 0;
    }
    apply_base(a);
    auto r = eventstore::migrate(store_of(a));
    for (const auto& name : r.applied) log::info("migrate", "applied " + name);
    log::info("migrate", std::to_string(r.applied.size()) + " applied, " +
                             std::to_string(r.already.size()) + " already there, " +
                             std::to_string(r.functions) + " functions applied");
    return 0;
}

int cmd_ingest(int argc, char** argv) {
    args a(argc, argv, 2, {}, merged({k_base_options, k_nats_options,
                                      {"consumer", "batch", "ack-wait-ms", "stall-after", "metrics-port"}}));
    if (a.help()) {
        std::cout << "Usage: stchat ingest [options]\n\n"
                     "Catalogues every message of the feed subjects into the event log, exactly\n"
                     "once. Creates (if missing) a JetStream stream capturing the subjects and a\n"
                     "durable pull consumer; appends each fetched batch in one transaction and\n"
                     "acks after the commit. Undecodable payloads are kept (view `undecodable`).\n"
                     "Reconnects by itself; SIGINT/SIGTERM finishes the batch in hand, exits 0.\n\n"
                  << k_common_help << k_nats_help
                  << "  --consumer NAME    durable consumer name (default stchat-ingest)\n"
                     "  --batch N          messages per fetch and transaction (default 2000)\n"
                     "  --ack-wait-ms MS   redelivery delay for unacked messages (default 10000)\n"
                     "  --stall-after S    /healthz answers 503 \"stall: …\" when batches wait and none\n"
                     "                     was appended for S seconds (default 15)\n"
                  << k_metrics_help << "\nExamples:\n  stchat ingest\n"
                     "  stchat ingest --metrics-port 8891   # then: curl localhost:8891/metrics\n"
                     "  stchat ingest --nats nats://n1:4222,nats://n2:4222 --replicas 3\n";
        return 0;
    }
    apply_base(a);
    ingest::ingest_config c;
    c.nats = nats_of(a);
    c.store = store_of(a);
    c.consumer = a.get_or("consumer", c.consumer);
    c.batch_size = static_cast<int>(a.integer("batch", c.batch_size, 1, 100000));
    c.ack_wait = std::chrono::milliseconds(a.integer("ack-wait-ms", c.ack_wait.count(), 100, 3600000));
    c.stall_after = std::chrono::milliseconds(static_cast<int64_t>(a.number("stall-after", 15, 0.1) * 1000));
    install_shutdown_handlers();
    metrics::registry reg;
    metrics::health_state health;
    auto endpoint = metrics_endpoint(a, reg, health);
    c.metrics = &reg;
    c.health = &health;
    eventstore::heartbeat beat({c.store, "ingest", static_cast<uint16_t>(a.integer("metrics-port", 0, 0, 65535)),
                                [] { return std::string(); }, [&health] { return health.problems(); }});
    ingest::run_ingest(c);
    return 0;
}

int cmd_project(int argc, char** argv) {
    args a(argc, argv, 2, {"once"}, merged({k_base_options, {"batch", "only", "stall-after", "metrics-port"}}));
    if (a.help()) {
        std::cout << "Usage: stchat project [options]\n\n"
                     "Runs the projectors: each reads the event log from its checkpoint and writes\n"
                     "its table and its new checkpoint in one transaction (exactly once).\n"
                     "Tables: event (sport events), execution, chat_log. Waits for new events with\n"
                     "LISTEN/NOTIFY, polling each second as a fallback.\n\n"
                  << k_common_help
                  << "  --batch N          log positions per transaction (default 10000)\n"
                     "  --only NAME        run just this projector (event | execution | chat_log)\n"
                     "  --once             stop when caught up instead of waiting for more\n"
                     "  --stall-after S    /healthz answers 503 \"stall: …\" when no step finished for\n"
                     "                     S seconds (default 15)\n"
                  << k_metrics_help << "\nExamples:\n  stchat project\n  stchat project --only event --once\n"
                     "  stchat project --metrics-port 8892   # lag: curl -s localhost:8892/metrics | grep lag\n";
        return 0;
    }
    apply_base(a);
    projections::projector_config c;
    c.store = store_of(a);
    c.batch_size = a.integer("batch", c.batch_size, 1, 10000000);
    c.stall_after = std::chrono::milliseconds(static_cast<int64_t>(a.number("stall-after", 15, 0.1) * 1000));
    if (a.flag("once")) c.stop_when_caught_up = [] { return true; };
    if (auto only = a.get("only")) {
        const auto& all = projections::all_projectors();
        if (std::find(all.begin(), all.end(), *only) == all.end()) {
            throw usage_error("unknown projector '" + *only + "' (event | execution | chat_log)");
        }
        c.projectors = {*only};
    }
    install_shutdown_handlers();
    metrics::registry reg;
    metrics::health_state health;
    auto endpoint = metrics_endpoint(a, reg, health);
    c.metrics = &reg;
    c.health = &health;
    eventstore::heartbeat beat({c.store, "project", static_cast<uint16_t>(a.integer("metrics-port", 0, 0, 65535)),
                                [] { return std::string(); }, [&health] { return health.problems(); }});
    projections::run_projectors(c);
    return 0;
}

int cmd_feed(int argc, char** argv) {
    args a(argc, argv, 2, {"acked"},
           merged({k_base_options, k_nats_options, {"rate", "count", "malformed-every", "seed", "run-id"}}));
    a.expect_positional(1, 1, "the feed: sport_event or execution");
    if (a.help()) {
        std::cout << "Usage: stchat feed sport_event|execution [options]\n\n"
                     "Publishes realistic, varied feed messages like the real feeds: plain\n"
                     "core-NATS publishes of the protobuf messages, no headers.\n\n"
                  << k_common_help << k_nats_help
                  << "  --rate R           messages per second, 0 = as fast as possible (default 10)\n"
                     "  --count N          stop after N messages (default: run until Ctrl-C)\n"
                     "  --acked            JetStream publish with Nats-Msg-Id, retried until\n"
                     "                     confirmed: nothing lost, nothing doubled\n"
                     "  --malformed-every N  make every Nth payload invalid (garbage, empty,\n"
                     "                     truncated) to see the undecodable path\n"
                     "  --seed N           deterministic content\n"
                     "  --run-id ID        Nats-Msg-Id prefix for --acked (default: random)\n"
                     "\nExamples:\n  stchat feed sport_event --rate 5\n"
                     "  stchat feed execution --acked --rate 0 --count 100000\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    ingest::feed_config c;
    if (!ingest::parse_feed_kind(a.positional()[0], c.kind)) {
        throw usage_error("feed kind must be sport_event or execution, not '" + a.positional()[0] + "'");
    }
    c.nats = nats_of(a);
    c.rate = a.number("rate", c.rate, 0);
    c.count = a.integer("count", -1, 0, INT64_MAX);
    c.acked = a.flag("acked");
    c.malformed_every = a.integer("malformed-every", 0, 0, INT64_MAX);
    c.seed = static_cast<uint64_t>(a.integer("seed", 0, 0, INT64_MAX));
    c.run_id = a.get_or("run-id", "");
    install_shutdown_handlers();
    ingest::run_feed(c);
    return 0;
}

int cmd_chat(int argc, char** argv) {
    args a(argc, argv, 2, {}, merged({k_base_options, {"port", "web", "max-text", "history", "allow-origin", "allow-host", "ping-interval", "idle-timeout", "hello-timeout", "rate-limit", "max-rooms", "rooms-per-minute", "token-ttl"}}));
    if (a.help()) {
        std::cout << "Usage: stchat chat [options]\n\n"
                     "Serves chat rooms over WebSocket (RFC 6455) and the web client on one port:\n"
                     "HTTP GET / (web client), /healthz, /metrics (Prometheus), and WebSocket\n"
                     "upgrades at /. Clients that offer the subprotocol stchat.v1 speak the protocol\n"
                     "in docs/protocol.md; others get the original st-chat behaviour (room lobby,\n"
                     "{\"action\": \"message\"...}). Quiet sessions are pinged; dead ones closed.\n"
                     "Every join, message and exit is stored in the event log exactly once.\n\n"
                  << k_common_help
                  << "  --port N           port (default 8888)\n"
                     "  --web DIR          folder of the web client (default: web/ next to build/)\n"
                     "  --max-text N       characters per message (default 4000)\n"
                     "  --history N        events replayed on a join without since (default 50)\n"
                     "  --allow-origin LIST  comma-separated Origins browsers may connect from (e.g.\n"
                     "                     https://chat.example.com), besides localhost, 127.0.0.1, [::1]\n"
                     "  --allow-host LIST  comma-separated host names this server is reached by, e.g.\n"
                     "                     chat.example.com (IP addresses and localhost always work;\n"
                     "                     other names are refused: DNS rebinding); also allowed Origins\n"
                     "  --rate-limit N     sends, joins and leaves per second per connection, bursts of\n"
                     "                     2N (default 20)\n"
                     "  --max-rooms N      rooms one connection may be in at once (default 100)\n"
                     "  --rooms-per-minute N  new rooms one user may create per minute (default 10)\n"
                     "  --token-ttl DAYS   how long a welcome's token restores its user (default 30)\n"
                     "  --ping-interval S  ping a session quiet for S seconds (default 20)\n"
                     "  --idle-timeout S   close a session that sent nothing, not even a pong, for S\n"
                     "                     seconds, with 1001 (default 60)\n"
                     "  --hello-timeout S  close a stchat.v1 session without hello after S seconds,\n"
                     "                     with 1008 (default 10)\n"
                     "\nExamples:\n  stchat chat\n  stchat chat --port 8889\n"
                     "  curl -s localhost:8888/metrics | grep stchat_chat_sessions\n"
                     "  wscat --connect ws://localhost:8888\n";
        return 0;
    }
    apply_base(a);
    chat::chat_config c;
    c.store = store_of(a);
    c.port = static_cast<uint16_t>(a.integer("port", 8888, 1, 65535));
    c.web_root = a.get_or("web", STCHAT_DEFAULT_WEB_ROOT);
    c.max_text = static_cast<size_t>(a.integer("max-text", 4000, 1, 60000));
    c.history = static_cast<int>(a.integer("history", 50, 0, 10000));
    auto millis = [&](const char* name, double fallback) {
        return static_cast<int>(a.number(name, fallback, 0.05) * 1000);
    };
    c.sends_per_second = a.number("rate-limit", 20, 0.1);
    c.ping_interval_ms = millis("ping-interval", 20);
    c.idle_timeout_ms = millis("idle-timeout", 60);
    c.hello_timeout_ms = millis("hello-timeout", 10);
    c.max_rooms = static_cast<size_t>(a.integer("max-rooms", 100, 1, 100000));
    c.rooms_per_minute = static_cast<int>(a.integer("rooms-per-minute", 10, 1, 1000000));
    c.token_ttl_s = static_cast<int64_t>(a.number("token-ttl", 30, 0.0001) * 86400);
    auto list = [&](const char* name) {
        std::vector<std::string> out;
        std::string text = a.get_or(name, "");
        for (size_t start = 0; start < text.size();) {
            size_t comma = text.find(',', start);
            if (comma == std::string::npos) comma = text.size();
            if (comma > start) out.push_back(text.substr(start, comma - start));
            start = comma + 1;
        }
        return out;
    };
    c.allowed_origins = list("allow-origin");
    c.allowed_hosts = list("allow-host");
    install_shutdown_handlers();
    chat::run_chat_server(c);
    return 0;
}

int cmd_replay(int argc, char** argv) {
    args a(argc, argv, 2, {"follow"}, merged({k_base_options, {"from", "to", "stream", "type", "format"}}));
    if (a.help()) {
        std::cout << "Usage: stchat replay [--from POSITION] [--to POSITION] [--stream NAME | --type TYPE]\n"
                     "                     [--follow] [--format jsonl|pretty]\n\n"
                     "Writes the event log in position order, one JSON object per line: position,\n"
                     "stream, stream_seq, type, recorded_at, source_time, data (feed messages and chat\n"
                     "events decoded), metadata; undecodable records also carry payload_hex (the bytes\n"
                     "as received) and their data holds the decode error. Positions are gap-free\n"
                     "1, 2, 3 ...; --from and --to are inclusive. Without --follow it stops at the\n"
                     "head as it was when it started.\n\n"
                  << k_common_help
                  << "  --from POSITION    first position to write (default 1)\n"
                     "  --to POSITION      last position to write (default: the head)\n"
                     "  --stream NAME      only this stream: feed.sport_event, feed.execution,\n"
                     "                     room.<name>, undecodable.<kind>\n"
                     "  --type TYPE        only this type: sport_event, execution, chat.message,\n"
                     "                     chat.join, chat.leave, undecodable\n"
                     "  --follow           after the head, keep writing new events as they commit\n"
                     "                     (Ctrl-C stops)\n"
                     "  --format F         jsonl (default) or pretty (one readable line per event)\n"
                     "Exit codes: 0 done (also when the reader of a pipe goes away), 1 database\n"
                     "error, 2 bad arguments.\n"
                     "\nExamples:\n  stchat replay --from 1 --to 100\n"
                     "  stchat replay --stream room.lobby --format pretty\n"
                     "  stchat replay --from 5000 --follow | jq -c 'select(.type == \"execution\") | .data'\n"
                     "  stchat replay --type undecodable | head\n";
        return 0;
    }
    if (!a.positional().empty()) throw usage_error("unexpected argument '" + a.positional()[0] + "'");
    apply_base(a);
    ops::replay_config c;
    c.store = store_of(a);
    c.from = a.integer("from", 1, 0, INT64_MAX);
    if (a.get("to")) c.to = a.integer("to", 0, 0, INT64_MAX);
    if (c.to && *c.to < c.from) {
        throw usage_error("--to " + std::to_string(*c.to) + " is before --from " + std::to_string(c.from));
    }
    c.stream = a.get("stream");
    c.type = a.get("type");
    if (c.stream && c.type) throw usage_error("give --stream or --type, not both");
    std::string format = a.get_or("format", "jsonl");
    if (format != "jsonl" && format != "pretty") throw usage_error("--format is jsonl or pretty, not '" + format + "'");
    c.format = format == "pretty" ? ops::replay_format::pretty : ops::replay_format::jsonl;
    c.follow = a.flag("follow");
    install_shutdown_handlers();
    std::signal(SIGPIPE, SIG_IGN);  // a closed pipe shows as a write error: stop quietly
    static char buffer[1 << 20];
    std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    try {
        ops::replay(c, stdout);
    } catch (const ops::replay_argument_error& e) {
        throw usage_error(e.what());
    }
    return 0;
}

int cmd_rebuild(int argc, char** argv) {
    args a(argc, argv, 2, {}, merged({k_base_options, {"batch"}}));
    a.expect_positional(1, 1, "the table: event, execution, chat_log or all");
    if (a.help()) {
        std::cout << "Usage: stchat rebuild <event|execution|chat_log|all> [options]\n\n"
                     "Rebuilds a read table from the event log while everything keeps running: a\n"
                     "shadow table <name>_rebuild is filled from position 0, given the live table's\n"
                     "keys and indexes, caught up with the live tail, then swapped in by one\n"
                     "transaction. Readers see the old table until then, the new one after; the\n"
                     "projector keeps serving. Ctrl-C drops the shadow and leaves the live table as\n"
                     "it was. A progress bar on a terminal, else a line every 5 s (stderr).\n"
                     "Exit codes: 0 swapped, 1 database error, 2 bad arguments, 130 interrupted.\n\n"
                  << k_common_help
                  << "  --batch N          log positions per step, one transaction each (default 50000)\n"
                     "\nExamples:\n  stchat rebuild event\n  stchat rebuild all\n"
                     "  stchat rebuild chat_log --database postgresql://stchat@127.0.0.1:15432/stchat\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    ops::rebuild_config c;
    c.store = store_of(a);
    std::string what = a.positional()[0];
    const auto& known = projections::all_projectors();
    if (what == "all") {
        c.tables = known;
    } else if (std::find(known.begin(), known.end(), what) != known.end()) {
        c.tables = {what};
    } else {
        std::string names;
        for (const auto& k : known) names += k + ", ";
        throw usage_error("unknown projection '" + what + "' (" + names + "or all)");
    }
    c.batch = a.integer("batch", c.batch, 1, 100000000);
    c.progress_bar = ::isatty(2);
    install_shutdown_handlers();
    auto r = ops::rebuild(c);
    if (r.outcome == ops::rebuild_outcome::interrupted) return 130;
    // "rebuilt execution: 163,542 rows from 327,085 log events in 2.1 s"
    std::string rows;
    for (const auto& [table, n] : r.rows) rows += (rows.empty() ? "" : ", ") + table + " " + thousands(n) + " rows";
    std::fprintf(stderr, "rebuilt %s from %s log events in %s\n", rows.c_str(), thousands(r.log_events).c_str(),
                 seconds_text(r.seconds).c_str());
    return 0;
}

int cmd_reconcile(int argc, char** argv) {
    args a(argc, argv, 2, {"dry-run"}, merged({k_base_options, k_nats_options}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat reconcile [--dry-run] [options]\n\n"
                     "Repairs the log after Postgres lost commits JetStream was already told about\n"
                     "(an asynchronous standby promoted before it had them): appends every message\n"
                     "the stream still holds whose inbox key is missing, exactly once (a message\n"
                     "already there, or appended by the ingest meanwhile, is not appended again).\n"
                     "Reports the sequences it filled and names those it cannot: gone from the\n"
                     "stream (retention) and never catalogued. The ingest runs it by itself when it\n"
                     "finds Postgres on a new timeline. Safe to run at any time, twice, or while the\n"
                     "ingest runs.\n\n"
                  << k_common_help << k_nats_help
                  << "  --dry-run          find and report, append nothing\n"
                     "\nExamples:\n  stchat reconcile --dry-run\n"
                     "  stchat reconcile --database 'postgresql://stchat@db1,db2/stchat?target_session_attrs=read-write'\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    install_shutdown_handlers();
    ingest::reconcile_config c;
    c.nats = nats_of(a);
    c.store = store_of(a);
    c.dry_run = a.flag("dry-run");
    auto r = ingest::reconcile(c);
    std::cout << "stream " << r.stream << " (created " << r.created_ns << " ns) holds " << r.first_seq << "-"
              << r.last_seq << "\n"
              << (c.dry_run ? "missing from the log: " : "appended: ") << (c.dry_run ? r.missing : r.appended)
              << " (" << ingest::ranges_text(r.repaired) << ")\n"
              << "lost (gone from the stream, never catalogued): " << ingest::ranges_text(r.lost) << "\n";
    return 0;
}

int cmd_status(int argc, char** argv) {
    args a(argc, argv, 2, {"json"}, merged({k_base_options, k_nats_options, {"consumer", "timeout"}}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat status [--json] [options]\n\n"
                     "Shows at a glance whether anything lags: the log head and size, undecodable\n"
                     "records, the ingest consumer as JetStream sees it (pending, awaiting ack,\n"
                     "redelivered), each projector's checkpoint and lag (and rebuilds under way),\n"
                     "and every chat process with its connected sessions (from its heartbeat).\n"
                     "Exit status: 0 all reachable and alive; 1 Postgres unreachable or no answer\n"
                     "within --timeout; 3 the report was made but NATS is unreachable, a process is\n"
                     "unhealthy, or one has not been seen for 15 s.\n\n"
                  << k_common_help << k_nats_help
                  << "  --consumer NAME    the ingest's durable consumer (default stchat-ingest)\n"
                     "  --json             the same as one JSON document\n"
                     "  --timeout S        give up after S seconds (default 5)\n"
                     "\nExamples:\n  stchat status\n  stchat status --json | jq '.projectors[] | {name, lag}'\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(a.number("timeout", 5, 0.1) * 1000));
    // On a thread of its own: a Postgres that accepted the connection and then froze answers no
    // query, and libpq has no client-side deadline for one. At the deadline we say so and exit;
    // the stuck thread goes with the process.
    struct outcome {
        std::mutex mutex;
        std::condition_variable done;
        bool finished = false;
        std::optional<ops::status_report> report;
        std::string error;
    };
    auto shared = std::make_shared<outcome>();
    auto store = store_of(a);
    auto nats = nats_of(a);
    std::string consumer = a.get_or("consumer", "stchat-ingest");
    std::thread([shared, store, nats, consumer] {
        std::optional<ops::status_report> r;
        std::string error;
        try {
            r = ops::read_status(store, nats, consumer);
        } catch (const std::exception& e) {
            error = e.what();
        }
        std::lock_guard<std::mutex> lock(shared->mutex);
        shared->report = std::move(r);
        shared->error = std::move(error);
        shared->finished = true;
        shared->done.notify_all();
    }).detach();
    std::unique_lock<std::mutex> lock(shared->mutex);
    if (!shared->done.wait_for(lock, timeout, [&] { return shared->finished; })) {
        std::cerr << "stchat status: no answer from Postgres within " << timeout.count() / 1000.0 << " s\n";
        std::cerr.flush();
        std::_Exit(1);
    }
    if (!shared->report) throw std::runtime_error(shared->error);
    const auto& r = *shared->report;
    std::cout << (a.flag("json") ? ops::status_json(r) : ops::status_table(r));
    bool down = !r.ingest.reachable;
    for (const auto& p : r.processes) down = down || !p.alive || !p.health.empty();
    return down ? 3 : 0;
}

int cmd_bench_ingest(int argc, char** argv) {
    args a(argc, argv, 3, {}, merged({k_base_options, {"nats", "messages", "naive", "runs", "batch", "preload"}}));
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
                  << k_common_help
                  << "  --nats URLS        (default: $NATS_URL or nats://127.0.0.1:4222)\n"
                     "  --messages N       messages to load (default 500000)\n"
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
    args a(argc, argv, 3, {}, merged({k_base_options, {"users", "rooms", "rate", "seconds", "runs", "idle", "idle-rooms"}}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench chat [options]\n\n"
                     "Starts a `stchat chat` on a scratch database <yours>_bench_chat and a plain\n"
                     "in-memory broadcast server (the same frames, nothing stored: the baseline),\n"
                     "connects U users in R rooms to each, and sends S messages/s in all for T seconds,\n"
                     "alternating the two servers; every room member receives every message. Then\n"
                     "opens N idle connections to the chat server and reads its memory (RSS).\n"
                     "Reports delivered frames/s and send->receive latency; medians of the runs.\n"
                     "Last line: chat: F frames/s delivered, p50 a ms, p99 b ms, p999 c ms;\n"
                     "           plain broadcast: G frames/s, p99 d ms\n\n"
                  << k_common_help
                  << "  --users U          connected users per server (default 1000)\n"
                     "  --rooms R          rooms, users spread evenly (default 1)\n"
                     "  --rate S           sends per second in all (default 200)\n"
                     "  --seconds T        sending time per run (default 10)\n"
                     "  --runs N           runs of each server; medians reported (default 3)\n"
                     "  --idle N           idle connections for the memory figure, 0 to skip (default 10000)\n"
                     "  --idle-rooms N     rooms the idle connections join (default 100)\n"
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
    if (c.rooms > c.users) throw usage_error("--rooms cannot exceed --users");
    install_shutdown_handlers();
    bench::run_chat_bench(c);
    return 0;
}

int cmd_bench_log(int argc, char** argv) {
    args a(argc, argv, 3, {}, merged({k_base_options, {"events", "runs", "nats"}}));
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
                     "     STCHAT_BENCH_OUTBOX (made and deleted), every publish acknowledged.\n"
                     "Last line: replay: R events/s (raw read: B events/s); rebuild: X events/s\n"
                     "           (incremental projector: Y events/s); outbox: O events/s\n"
                     "           (rebuild and projector count log events x 3 tables)\n\n"
                  << k_common_help
                  << "  --nats URLS        NATS for the outbox (default: $NATS_URL or nats://127.0.0.1:4222)\n"
                     "  --events N         events in the log (default 1000000)\n"
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
    args a(argc, argv, 3, {}, merged({k_base_options, {"port"}}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat bench broadcast-server [--port N]\n\n"
                     "The baseline server of `stchat bench chat`: speaks the stchat.v1 frames (hello,\n"
                     "join, send -> event to every room member) but stores nothing and acks nothing.\n\n"
                     "  --port N           port (default 8890)\n"
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

}  // namespace
}  // namespace stchat::cli

int main(int argc, char** argv) {
    using namespace stchat::cli;
    const std::map<std::string, std::function<int(int, char**)>> commands = {
        {"migrate", cmd_migrate}, {"ingest", cmd_ingest}, {"project", cmd_project},
        {"feed", cmd_feed},       {"bench", cmd_bench},     {"chat", cmd_chat},
        {"replay", cmd_replay},   {"rebuild", cmd_rebuild},     {"status", cmd_status},
        {"reconcile", cmd_reconcile}, {"compact", cmd_compact},
        {"outbox", cmd_outbox},
    };
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
        !std::strcmp(argv[1], "help")) {
        std::cout << k_main_help;
        return argc < 2 ? 2 : 0;
    }
    auto it = commands.find(argv[1]);
    if (it == commands.end()) {
        std::cerr << "stchat: unknown command '" << argv[1] << "' (see stchat --help)\n";
        return 2;
    }
    try {
        return it->second(argc, argv);
    } catch (const usage_error& e) {
        std::cerr << "stchat " << argv[1] << ": " << e.what() << " (see stchat " << argv[1]
                  << " --help)\n";
        return 2;
    } catch (const std::exception& e) {
        stchat::log::error(argv[1], e.what());
        return 1;
    }
}
