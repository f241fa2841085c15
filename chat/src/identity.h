#pragma once
// Private to chat/: who a connection is, and whether its page may talk to us.
//
// Tokens. A `welcome` carries a token that restores the same uid and name on a later `hello`,
// on any chat process of the database (they share the secret in `chat_secret`):
//   token = hex(uid) "." hex(name) "." expiry (Unix seconds) "." hex(HMAC-SHA256(secret, the rest))
// The HMAC key is the secret's bytes. A token past its expiry is refused as expired (the client
// then says hello with a name for a new one); any other defect as invalid.
//
// Example (ttl 30 days, now = 1,800,000,000):
//   make(alice) -> "a1b2….616c696365.1802592000.9f…"
//   verify(that token, now)               -> {ok, alice}
//   verify(that token, now + 31 days)     -> {expired}
//   verify(that token with a byte changed) -> {invalid}
//
// Origins and hosts (DNS rebinding). A browser says where the page came from (Origin) and which
// host name it thinks it talks to (Host). Allowed: pages from localhost, 127.0.0.1 or [::1] on any
// port, and what the operator lists; a request whose Host is a name (not an IP address) must name
// localhost or a listed host: a rebinding page (Host evil.example resolving to us) gets nothing.
//
// Thread-safety: token_signer and origin_policy are immutable after construction; their const
// methods may be called from any thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

class token_signer {
public:
    enum class status { ok, invalid, expired };
    struct check {
        status result = status::invalid;
        author who;
    };

    token_signer(std::string secret, int64_t ttl_seconds);
    std::string make(const author& who, int64_t now_seconds) const;
    check verify(std::string_view token, int64_t now_seconds) const;

private:
    std::string mac(std::string_view data) const;
    std::string _secret;
    int64_t _ttl;
};

class origin_policy {
public:
    // allowed_origins: full origins ("https://chat.example.com"), host:port or bare host names;
    // allowed_hosts: host names this server is reached by (each also allowed as an Origin's host).
    origin_policy(std::vector<std::string> allowed_origins, std::vector<std::string> allowed_hosts);
    // An empty Origin (not a browser) is allowed.
    bool origin_allowed(std::string_view origin) const;
    // An empty Host, an IP address, localhost or a listed host.
    bool host_allowed(std::string_view host_header) const;

private:
    std::vector<std::string> _origins;
    std::vector<std::string> _hosts;
};

// "host" of "host:port", "[::1]" of "[::1]:8888", lowercased.
std::string bare_host(std::string_view host_and_port);

// 24 hex digits from a strong random source.
std::string random_uid();
// A friendly "First Last" for clients that give no name.
std::string random_name();

std::string to_hex(std::string_view bytes);

}  // namespace stchat::chat
