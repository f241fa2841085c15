#include "stream_setup.h"

#include "stchat/common/log.h"

namespace stchat::ingest {

int64_t ensure_stream(jsCtx* js, const stream_config& config) {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js, config.stream.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
        nats::stream_info_ptr info(raw);
        return info->Created;
    }
    if (s != NATS_NOT_FOUND) throw nats::nats_error(s, "stream info for " + config.stream);

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {config.sport_event_subject.c_str(), config.execution_subject.c_str()};
    cfg.Name = config.stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 2;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = config.replicas;
    s = js_AddStream(&raw, js, &cfg, nullptr, &jerr);
    if (s != NATS_OK) {
        // Another process may have created it meanwhile: then it exists now.
        s = js_GetStreamInfo(&raw, js, config.stream.c_str(), nullptr, &jerr);
        nats::check(s, ("create stream " + config.stream).c_str());
    } else {
        log::info("ingest", "created JetStream stream " + config.stream + " (subjects " +
                                config.sport_event_subject + ", " + config.execution_subject +
                                "; file storage; replicas " + std::to_string(config.replicas) + ")");
    }
    nats::stream_info_ptr info(raw);
    return info->Created;
}

consumer_state read_consumer_state(const stream_config& config, const std::string& consumer) {
    consumer_state out;
    natsOptions* raw_opts = nullptr;
    if (natsOptions_Create(&raw_opts) != NATS_OK) return out;
    nats::options_ptr opts(raw_opts);
    auto urls = nats::split_urls(config.nats_urls);
    std::vector<const char*> servers;
    for (const auto& u : urls) servers.push_back(u.c_str());
    natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
    natsOptions_SetTimeout(opts.get(), 2000);
    natsOptions_SetAllowReconnect(opts.get(), false);
    natsConnection* raw_conn = nullptr;
    natsStatus s = natsConnection_Connect(&raw_conn, opts.get());
    if (s != NATS_OK) {
        out.error = std::string("NATS unreachable at ") + config.nats_urls + ": " + natsStatus_GetText(s);
        return out;
    }
    nats::connection_ptr conn(raw_conn);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    jsCtx* raw_js = nullptr;
    if (natsConnection_JetStream(&raw_js, conn.get(), &jo) != NATS_OK) {
        out.error = "no JetStream context";
        return out;
    }
    nats::js_ptr js(raw_js);
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_GetConsumerInfo(&raw, js.get(), config.stream.c_str(), consumer.c_str(), &jo, &jerr);
    if (s != NATS_OK) {
        out.error = "consumer " + consumer + " on stream " + config.stream + ": " + natsStatus_GetText(s);
        return out;
    }
    nats::consumer_info_ptr info(raw);
    out.reachable = true;
    out.pending = info->NumPending;
    out.ack_pending = static_cast<uint64_t>(info->NumAckPending);
    out.redelivered = static_cast<uint64_t>(info->NumRedelivered);
    jsStreamInfo* raw_stream = nullptr;
    if (js_GetStreamInfo(&raw_stream, js.get(), config.stream.c_str(), &jo, &jerr) == NATS_OK) {
        nats::stream_info_ptr si(raw_stream);
        out.stream_messages = si->State.Msgs;
    }
    return out;
}

bool delete_stream(const stream_config& config) {
    auto conn = nats::connect({config.nats_urls, "stchat-admin", "nats"});
    jsCtx* raw_js = nullptr;
    nats::check(natsConnection_JetStream(&raw_js, conn.get(), nullptr), "JetStream context");
    nats::js_ptr js(raw_js);
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteStream(js.get(), config.stream.c_str(), nullptr, &jerr);
    if (s == NATS_NOT_FOUND) return false;
    nats::check(s, ("delete stream " + config.stream).c_str());
    log::info("nats", "deleted JetStream stream " + config.stream);
    return true;
}

}  // namespace stchat::ingest
