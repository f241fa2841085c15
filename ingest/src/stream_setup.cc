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
