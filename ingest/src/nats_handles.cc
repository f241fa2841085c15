#include "nats_handles.h"

#include "stchat/common/log.h"

namespace stchat::ingest::nats {
namespace {

void on_disconnected(natsConnection* nc, void* closure) {
    if (natsConnection_IsClosed(nc)) return;  // our own close, not an outage
    log::warn(static_cast<const char*>(closure), "disconnected from NATS; reconnecting");
}
void on_connected(natsConnection* nc, void* closure) {
    char url[256] = {0};
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    log::info(static_cast<const char*>(closure), std::string("connected to ") + url);
}
void on_reconnected(natsConnection* nc, void* closure) {
    char url[256] = {0};
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    log::info(static_cast<const char*>(closure), std::string("reconnected to ") + url);
}

}  // namespace

std::vector<std::string> split_urls(const std::string& urls) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= urls.size()) {
        size_t comma = urls.find(',', start);
        if (comma == std::string::npos) comma = urls.size();
        std::string one = urls.substr(start, comma - start);
        if (!one.empty()) out.push_back(one);
        start = comma + 1;
    }
    return out;
}

connection_ptr connect(const connect_config& config) {
    natsOptions* raw = nullptr;
    check(natsOptions_Create(&raw), "natsOptions_Create");
    options_ptr opts(raw);
    auto urls = split_urls(config.urls);
    std::vector<const char*> c_urls;
    for (const auto& u : urls) c_urls.push_back(u.c_str());
    check(natsOptions_SetServers(opts.get(), c_urls.data(), static_cast<int>(c_urls.size())),
          "invalid NATS URL list");
    natsOptions_SetName(opts.get(), config.name.c_str());
    natsOptions_SetMaxReconnect(opts.get(), -1);
    natsOptions_SetReconnectWait(opts.get(), 250);
    natsOptions_SetReconnectBufSize(opts.get(), 64 * 1024 * 1024);
    // Deadlines: a connect attempt gives up after 2 s; the client pings every 2 s and counts the
    // server dead after 3 unanswered pings, so a blackholed or vanished server is noticed in ~6-8 s
    // (not when the kernel gives up on the TCP connection, minutes later).
    natsOptions_SetTimeout(opts.get(), 2000);
    natsOptions_SetPingInterval(opts.get(), 2000);
    natsOptions_SetMaxPingsOut(opts.get(), 3);
    void* component = const_cast<char*>(config.log_component);
    // With a connected callback, natsConnection_Connect returns at once when no server answers
    // (NATS_NOT_YET_CONNECTED) and keeps trying in the background; without one it would block
    // until a server answers, deaf to SIGINT and SIGTERM. Calls made meanwhile fail and are
    // retried by their callers' stop-aware loops.
    natsOptions_SetRetryOnFailedConnect(opts.get(), true, on_connected, component);
    natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, component);
    natsOptions_SetReconnectedCB(opts.get(), on_reconnected, component);
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_Connect(&nc, opts.get());
    // With retry-on-failed-connect, NATS_NOT_YET_CONNECTED means "connecting in the background".
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) throw nats_error(s, "connect to " + config.urls);
    return connection_ptr(nc);
}

}  // namespace stchat::ingest::nats
