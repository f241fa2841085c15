// `stchat compact`: retire inbox keys (ops/compact.h), or show what would be retired.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/number_text.h"
#include "stchat/ops/compact.h"

namespace stchat::cli {
namespace {

const char* k_help = R"(Usage: stchat compact [--dry-run] [options]

Keeps the inbox (the idempotency keys of every append) from growing without bound, without
ever letting a duplicate through:
  feed keys (nats:<stream>:<created>): the ids 1..F a source has all received become one
      floor F; a redelivery of any id <= F is still recognised and stored nothing.
  chat keys (chat:<uid>): deleted after --chat-days; a client must not resend an
      unacknowledged message after that long (docs/protocol.md).
The event log itself is never changed. Every run is recorded in the table inbox_compaction.
Runs alongside ingest and chat; one transaction (all or nothing).
Exit codes: 0 done, 1 database error, 2 bad arguments.

)";

const char* k_options_help = R"(  --dry-run          print what would be retired; change nothing
  --keep DURATION    never touch keys of events recorded within DURATION (default 1h;
                     e.g. 30m, 12h, 2d, 0 for none)
  --chat-days N      retention of chat keys, in days (default 7)

Examples:
  stchat compact --dry-run
  stchat compact
  stchat compact --keep 0 --chat-days 30
)";

// "90s", "30m", "12h", "2d", "0" -> seconds; throws usage_error.
std::chrono::seconds parse_duration(const std::string& text) {
    size_t used = 0;
    long long n = -1;
    try {
        n = std::stoll(text, &used);
    } catch (const std::exception&) {
    }
    std::string unit = text.substr(used);
    long long scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
    if (n < 0 || scale == 0 || (unit.empty() && n != 0) || n > 3650LL * 86400 / scale) {
        throw usage_error("--keep must be a duration such as 30m, 12h, 2d or 0, not '" + text + "'");
    }
    return std::chrono::seconds(n * scale);
}


}  // namespace

int cmd_compact(int argc, char** argv) {
    args a(argc, argv, 2, {"dry-run"}, options_for(conn_database, {"keep", "chat-days"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << k_help << connections_help(conn_database) << k_options_help;
        return 0;
    }
    apply_base(a);
    ops::compact_config c;
    c.store = store_of(a);
    c.dry_run = a.flag("dry-run");
    c.keep = parse_duration(a.get_or("keep", "1h"));
    c.chat_days = static_cast<int>(a.integer("chat-days", 7, 0, 36500));
    auto r = ops::compact(c);
    int64_t retired = 0;
    if (!r.sources.empty()) {
        std::printf("%-44s %-9s %14s %14s %14s\n", "source", "kind", "keys", c.dry_run ? "would retire" : "retired",
                    "floor");
        for (const auto& s : r.sources) {
            retired += s.retired;
            std::printf("%-44s %-9s %14s %14s %14s\n", s.source.c_str(), s.sequence ? "feed" : "chat",
                        thousands(s.keys).c_str(), thousands(s.retired).c_str(),
                        s.floor ? thousands(*s.floor).c_str() : "-");
        }
    }
    std::printf("%s %s keys; inbox %s %s keys; considered events up to position %s\n",
                c.dry_run ? "dry run: would retire" : "retired", thousands(retired).c_str(),
                c.dry_run ? "holds" : "now holds", thousands(r.inbox_after).c_str(),
                thousands(r.below_position).c_str());
    return 0;
}

}  // namespace stchat::cli
