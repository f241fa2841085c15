#pragma once
// Private to ingest: RAII around every cnats handle. Never include from a public header.
#include <nats/nats.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace stchat::ingest::nats {

struct options_deleter { void operator()(natsOptions* p) const { natsOptions_Destroy(p); } };
struct connection_deleter {
    void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
};
struct js_deleter { void operator()(jsCtx* p) const { jsCtx_Destroy(p); } };
struct subscription_deleter {
    void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
};
struct msg_deleter { void operator()(natsMsg* p) const { natsMsg_Destroy(p); } };
struct stream_info_deleter { void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); } };
struct consumer_info_deleter {
    void operator()(jsConsumerInfo* p) const { jsConsumerInfo_Destroy(p); }
};
struct meta_deleter { void operator()(jsMsgMetaData* p) const { jsMsgMetaData_Destroy(p); } };
struct pub_ack_deleter { void operator()(jsPubAck* p) const { jsPubAck_Destroy(p); } };

using options_ptr = std::unique_ptr<natsOptions, options_deleter>;
using connection_ptr = std::unique_ptr<natsConnection, connection_deleter>;
using js_ptr = std::unique_ptr<jsCtx, js_deleter>;
using subscription_ptr = std::unique_ptr<natsSubscription, subscription_deleter>;
using msg_ptr = std::unique_ptr<natsMsg, msg_deleter>;
using stream_info_ptr = std::unique_ptr<jsStreamInfo, stream_info_deleter>;
using consumer_info_ptr = std::unique_ptr<jsConsumerInfo, consumer_info_deleter>;
using meta_ptr = std::unique_ptr<jsMsgMetaData, meta_deleter>;
using pub_ack_ptr = std::unique_ptr<jsPubAck, pub_ack_deleter>;

// A fetched batch. natsMsgList_Destroy frees the messages and the array, not the list struct.
class msg_list {
public:
    msg_list() = default;
    msg_list(const msg_list&) = delete;
    msg_list& operator=(const msg_list&) = delete;
    ~msg_list() { natsMsgList_Destroy(&_list); }
    natsMsgList* get() { return &_list; }
    int size() const { return _list.Count; }
    natsMsg* operator[](int i) const { return _list.Msgs[i]; }

private:
    natsMsgList _list{};
};

class nats_error : public std::runtime_error {
public:
    nats_error(natsStatus s, const std::string& what)
        : std::runtime_error(what + ": " + natsStatus_GetText(s)), status(s) {}
    natsStatus status;
};

inline void check(natsStatus s, const char* what) {
    if (s != NATS_OK) throw nats_error(s, what);
}

// Splits "nats://a:4222,nats://b:4222" into URLs.
std::vector<std::string> split_urls(const std::string& urls);

struct connect_config {
    std::string urls;
    std::string name;           // shown in the server's connection list
    const char* log_component;  // for the one line per state change
};

// Connects with endless reconnects (250 ms apart) and logs disconnect/reconnect/close once each.
connection_ptr connect(const connect_config& config);

}  // namespace stchat::ingest::nats
