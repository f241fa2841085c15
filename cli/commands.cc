#include "commands.h"

namespace stchat::cli {

const std::vector<command>& all_commands() {
    static const std::vector<command> list = {
        {"migrate", "migrate", "apply the database migrations that are missing (and every SQL function)", cmd_migrate},
        {"ingest", "ingest", "catalogue the NATS feeds into the event log (JetStream, exactly once)", cmd_ingest},
        {"project", "project", "run the projectors that fill event, execution and chat_log", cmd_project},
        {"feed", "feed KIND", "publish simulated feed messages (KIND: sport_event | execution)", cmd_feed},
        {"chat", "chat", "serve the chat rooms over WebSocket and the web client (port 8888)", cmd_chat},
        {"status", "status", "log head, ingest consumer, projector lag, every process (--json)", cmd_status},
        {"replay", "replay", "write the event log from a position as JSON lines (--follow for live)", cmd_replay},
        {"rebuild", "rebuild TABLE", "rebuild event, execution, chat_log or all from the log, online", cmd_rebuild},
        {"reconcile", "reconcile", "append what JetStream holds and the log lost (after a failover)", cmd_reconcile},
        {"compact", "compact", "retire old inbox keys so the inbox stays bounded (--dry-run first)", cmd_compact},
        {"outbox", "outbox", "publish the log to JetStream (stchat.<stream>), each event once, in order", cmd_outbox},
        {"bench", "bench WHAT", "measure ingest, log (replay, rebuild, outbox) or chat against baselines", cmd_bench},
    };
    return list;
}

const command* find_command(const std::string& name) {
    for (const auto& c : all_commands()) {
        if (name == c.name) return &c;
    }
    return nullptr;
}

std::string main_help() {
    std::string out =
        "stchat - st-chat: feeds and chat, catalogued exactly once in Postgres\n\n"
        "Usage: stchat <command> [options]      (stchat <command> --help for details)\n\nCommands:\n";
    for (const auto& c : all_commands()) {
        std::string usage = c.usage;
        out += "  " + usage + std::string(usage.size() < 15 ? 15 - usage.size() : 1, ' ') + c.summary + "\n";
    }
    out +=
        "\nConnections: --database and --nats, else what scripts/run.sh recorded in .stchat/connection\n"
        "(docs/operations.md has the order).\n"
        "\nExamples:\n"
        "  stchat migrate --database postgresql://stchat@127.0.0.1:15432/stchat\n"
        "  stchat status\n"
        "  stchat replay --from 1 --format pretty | head\n"
        "  stchat feed sport_event --rate 20\n"
        "  psql -c 'select * from event order by timestamp desc limit 5'\n";
    return out;
}

}  // namespace stchat::cli
