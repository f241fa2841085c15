// `stchat chat`
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/chat/chat_server.h"
#include "stchat/common/shutdown.h"

namespace stchat::cli {

int cmd_chat(int argc, char** argv) {
    args a(argc, argv, 2, {"ops-public"}, options_for(conn_database, {"ops-public", "port", "web", "max-text", "history", "allow-origin", "allow-host", "ping-interval", "idle-timeout", "hello-timeout", "rate-limit", "max-rooms", "rooms-per-minute", "max-queued", "token-ttl", "node-lease"}));
    if (a.help()) {
        std::cout << "Usage: stchat chat [options]\n\n"
                     "Serves chat rooms over WebSocket (RFC 6455) and the web client on one port:\n"
                     "HTTP GET / (web client), /ops (operator's page), /healthz, /metrics\n"
                     "(Prometheus), and WebSocket\n"
                     "upgrades at /. Clients that offer the subprotocol stchat.v1 speak the protocol\n"
                     "in docs/protocol.md; others get the original st-chat behaviour (room lobby,\n"
                     "{\"action\": \"message\"...}). Quiet sessions are pinged; dead ones closed.\n"
                     "Every join, message and exit is stored in the event log exactly once.\n\n"
                  << connections_help(conn_database)
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
                     "  --max-queued N     messages waiting to be stored while Postgres is slow or\n"
                     "                     away; past it a send is refused (rate_limited, send again\n"
                     "                     in 1 s) (default 20000)\n"
                     "  --token-ttl DAYS   how long a welcome's token restores its user (default 30)\n"
                     "  --ping-interval S  ping a session quiet for S seconds (default 20)\n"
                     "  --idle-timeout S   close a session that sent nothing, not even a pong, for S\n"
                     "                     seconds, with 1001 (default 60)\n"
                     "  --hello-timeout S  close a stchat.v1 session without hello after S seconds,\n"
                     "                     with 1008 (default 10)\n"
                     "  --ops-public       serve /ops and /ops/data (hosts, pids, health, metrics of\n"
                     "                     every process) to any client, not only to loopback ones\n"
                     "                     (behind a proxy that authenticates operators)\n"
                     "  --node-lease S     a chat process on this database that has not renewed its\n"
                     "                     lease for S seconds is dead: the others append the leave\n"
                     "                     events of its users (default 15; renewed every S/3)\n"
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
    c.max_queued_messages = static_cast<size_t>(a.integer("max-queued", 20000, 1, 10000000));
    c.node_lease_ms = millis("node-lease", 15);
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
    c.ops_public = a.flag("ops-public");
    install_shutdown_handlers();
    chat::run_chat_server(c);
    return 0;
}

}  // namespace stchat::cli
