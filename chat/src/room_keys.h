#pragma once
// Private to chat/: private rooms' keys, hashed with a slow KDF so that a copy of the database
// does not give the keys away cheaply.
//
// New keys: argon2id (libsodium crypto_pwhash_str, "interactive" cost: 2 passes, 64 MiB), stored
// as its PHC string ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash") with kind "argon2id". Rooms
// made before it keep kind "sha256" (SHA-256 of salt || key) and keep working.
//
// Each hash or check takes tens of milliseconds and 64 MiB: it runs on the chat server's key
// thread, never on the Asio thread or the database writer.
//
// Example:
//   auto phc = hash_room_key("s3cret");                         // "$argon2id$v=19$..."
//   key_matches(room_key{"argon2id", phc, "", ""}, "s3cret")    -> true
//   key_matches(room_key{"sha256", "", salt, sha256(salt + "k")}, "k") -> true
//
// Thread-safety: both functions may be called from any thread.
#include <string>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

std::string hash_room_key(const std::string& key);
// False for a room_key of a kind this build does not know.
bool key_matches(const room_key& stored, const std::string& key);

}  // namespace stchat::chat
