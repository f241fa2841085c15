#include "room_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <stdexcept>

namespace stchat::chat {
namespace {

void init_sodium() {
    static const int ok = sodium_init();  // thread-safe, once
    if (ok < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

std::string hash_room_key(const std::string& key) {
    init_sodium();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, key.data(), key.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        throw std::runtime_error("argon2id: out of memory hashing a room key");
    }
    return out;
}

bool key_matches(const room_key& stored, const std::string& key) {
    if (stored.kind == "argon2id") {
        init_sodium();
        return crypto_pwhash_str_verify(stored.phc.c_str(), key.data(), key.size()) == 0;
    }
    if (stored.kind == "sha256") {
        std::string input = stored.salt + key;
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
        return stored.key_hash.size() == sizeof digest &&
               CRYPTO_memcmp(digest, stored.key_hash.data(), sizeof digest) == 0;
    }
    return false;  // a kind this build does not know: refuse rather than guess
}

}  // namespace stchat::chat
