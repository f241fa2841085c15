#include "identity.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace stchat::chat {
namespace {

const char* const k_first[] = {"Brenda", "Marcus", "Aisha", "Tomas", "Yuki", "Olga", "Kwame", "Lena",
                               "Diego", "Priya", "Finn", "Zara"};
const char* const k_last[] = {"Goodwin", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad",
                              "Novak", "Reyes", "Fischer", "Mensah", "Kowalski", "Byrne"};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool from_hex(std::string_view h, std::string& out) {
    if (h.size() % 2) return false;
    out.clear();
    for (size_t i = 0; i < h.size(); i += 2) {
        int a = hex_digit(h[i]), b = hex_digit(h[i + 1]);
        if (a < 0 || b < 0) return false;
        out.push_back(static_cast<char>(a * 16 + b));
    }
    return true;
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool local_host(const std::string& bare) { return bare == "localhost" || bare == "127.0.0.1" || bare == "[::1]"; }

bool ip_literal(const std::string& bare) {
    if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') return true;  // IPv6
    int dots = 0;
    for (char c : bare) {
        if (c == '.') ++dots;
        else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
    static const char* d = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

token_signer::token_signer(std::string secret, int64_t ttl_seconds) : _secret(std::move(secret)), _ttl(ttl_seconds) {
    if (_secret.size() < 16) throw std::invalid_argument("token secret shorter than 16 bytes");
}

std::string token_signer::mac(std::string_view data) const {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), _secret.data(), static_cast<int>(_secret.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string token_signer::make(const author& who, int64_t now_seconds) const {
    std::string body = to_hex(who.uid) + "." + to_hex(who.name) + "." + std::to_string(now_seconds + _ttl);
    return body + "." + mac(body);
}

token_signer::check token_signer::verify(std::string_view token, int64_t now_seconds) const {
    check out;
    auto last = token.rfind('.');
    if (last == std::string_view::npos || token.size() > 1024) return out;
    std::string_view body = token.substr(0, last), given = token.substr(last + 1);
    std::string expected = mac(body);
    if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0) {
        return out;
    }
    // Signed by us: the body has the shape we gave it.
    auto first = body.find('.');
    auto second = first == std::string_view::npos ? first : body.find('.', first + 1);
    if (second == std::string_view::npos) return out;
    std::string_view expiry = body.substr(second + 1);
    if (!all_digits(expiry)) return out;
    if (!from_hex(body.substr(0, first), out.who.uid) ||
        !from_hex(body.substr(first + 1, second - first - 1), out.who.name)) {
        return out;
    }
    out.result = std::stoll(std::string(expiry)) < now_seconds ? status::expired : status::ok;
    return out;
}

std::string bare_host(std::string_view host_and_port) {
    std::string h = lower(host_and_port);
    if (!h.empty() && h.front() == '[') {
        auto close = h.find(']');
        return close == std::string::npos ? h : h.substr(0, close + 1);
    }
    auto colon = h.find(':');
    return colon == std::string::npos ? h : h.substr(0, colon);
}

origin_policy::origin_policy(std::vector<std::string> allowed_origins, std::vector<std::string> allowed_hosts) {
    for (auto& o : allowed_origins) _origins.push_back(lower(o));
    for (auto& h : allowed_hosts) _hosts.push_back(bare_host(h));
}

bool origin_policy::origin_allowed(std::string_view origin) const {
    if (origin.empty()) return true;
    std::string o = lower(origin);
    auto scheme = o.find("://");
    if (scheme == std::string::npos) return false;  // "null" (sandboxed page, file://) and the like
    std::string host = o.substr(scheme + 3);
    std::string bare = bare_host(host);
    if (local_host(bare)) return true;
    for (const auto& a : _origins) {
        if (a == o || a == host || a == bare) return true;
    }
    return std::find(_hosts.begin(), _hosts.end(), bare) != _hosts.end();
}

bool origin_policy::host_allowed(std::string_view host_header) const {
    if (host_header.empty()) return true;
    std::string bare = bare_host(host_header);
    if (local_host(bare) || ip_literal(bare)) return true;
    if (std::find(_hosts.begin(), _hosts.end(), bare) != _hosts.end()) return true;
    // A host named in an allowed origin serves pages too (e.g. --allow-origin https://chat.example.com).
    for (const auto& a : _origins) {
        auto scheme = a.find("://");
        if (bare_host(scheme == std::string::npos ? a : a.substr(scheme + 3)) == bare) return true;
    }
    return false;
}

std::string random_uid() {
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no random bytes for a uid");
    return to_hex(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
}

std::string random_name() {
    unsigned char b[2];
    if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no random bytes for a name");
    return std::string(k_first[b[0] % 12]) + " " + k_last[b[1] % 12];
}

}  // namespace stchat::chat
