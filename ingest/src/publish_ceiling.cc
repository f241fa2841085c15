#include "stchat/ingest/outbox.h"

#include <chrono>

#include "nats_handles.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ingest {

// The outbox bench's baselines: what this nats-server takes at all, one message per event,
// async, all acknowledged; bare, or with the outbox's two guards (outbox.h).
double measure_publish_ceiling(const std::string& nats_urls, const std::string& stream, int64_t messages,
                               size_t bytes, publish_guards guards) {
    bool guarded = guards == publish_guards::msg_id_and_expected_sequence;
    stream_config sc;
    sc.nats_urls = nats_urls;
    sc.stream = stream;
    delete_stream(sc);
    auto conn = nats::connect({nats_urls, "stchat-bench-ceiling", "bench"});
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 20000;
    jsCtx* raw = nullptr;
    nats::check(natsConnection_JetStream(&raw, conn.get(), &jo), "JetStream context");
    nats::js_ptr js(raw);
    std::string subject = "bench_ceiling.x", subjects = "bench_ceiling.>";
    const char* list[] = {subjects.c_str()};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream.c_str();
    cfg.Subjects = list;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = 2LL * 60 * 1000000000;  // the outbox's window
    jsStreamInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    nats::check(js_AddStream(&info, js.get(), &cfg, nullptr, &jerr), "create the ceiling stream");
    jsStreamInfo_Destroy(info);
    std::string data(bytes, 'x');
    const std::string identity = "0f8fad5b-d9cb-469f-a165-70867728950e:";  // a log identity's shape
    std::string msg_id;
    auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < messages; ++i) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        if (guarded) {
            msg_id = identity + std::to_string(i + 1);
            po.MsgId = msg_id.c_str();
            po.ExpectLastSeq = static_cast<uint64_t>(i);  // 0 (the first) sets no expectation
        }
        nats::check(js_PublishAsync(js.get(), subject.c_str(), data.data(), static_cast<int>(data.size()), &po),
                    "publish");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 60000;
    nats::check(js_PublishAsyncComplete(js.get(), &wait), "acknowledgements");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    delete_stream(sc);
    return static_cast<double>(messages) / secs;
}

}  // namespace stchat::ingest
