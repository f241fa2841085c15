// `stchat replay`
#include <csignal>
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/shutdown.h"
#include "stchat/ops/replay.h"

namespace stchat::cli {

int cmd_replay(int argc, char** argv) {
    args a(argc, argv, 2, {"follow"}, options_for(conn_database, {"from", "to", "stream", "type", "format"}));
    if (a.help()) {
        std::cout << "Usage: stchat replay [--from POSITION] [--to POSITION] [--stream NAME | --type TYPE]\n"
                     "                     [--follow] [--format jsonl|pretty]\n\n"
                     "Writes the event log in position order, one JSON object per line: position,\n"
                     "stream, stream_seq, type, recorded_at, source_time, data (feed messages and chat\n"
                     "events decoded), metadata; undecodable records also carry payload_hex (the bytes\n"
                     "as received) and their data holds the decode error. Positions are gap-free\n"
                     "1, 2, 3 ...; --from and --to are inclusive. Without --follow it stops at the\n"
                     "head as it was when it started.\n\n"
                  << connections_help(conn_database)
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

}  // namespace stchat::cli
