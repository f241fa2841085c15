#pragma once
// Private to eventstore: libpqxx helpers. Never include from a public header.
#include <pqxx/pqxx>
#include <string>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore::pg {

// Opens a connection; throws store_error(transient) when the server cannot be reached.
std::unique_ptr<pqxx::connection> connect(const store_config& config);

// Runs `body`, translating libpqxx exceptions into store_error with the right failure kind.
template <typename F>
auto translate(F&& body) -> decltype(body());

store_error to_store_error(const std::exception& e);

// translate(), and on a failure that is not permanent calls `drop` (which closes the connection,
// so the next call opens a new one) before rethrowing.
template <typename F, typename Drop>
auto translate_or_drop(F&& body, Drop&& drop) -> decltype(body());

// "{\"a\",\"b\"}": a Postgres array literal of text elements (quoted, escaped).
std::string text_array(const std::vector<std::string>& items);

template <typename F>
auto translate(F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& e) {
        throw to_store_error(e);
    }
}

template <typename F, typename Drop>
auto translate_or_drop(F&& body, Drop&& drop) -> decltype(body()) {
    try {
        return translate(body);
    } catch (const store_error& e) {
        if (e.kind() != failure::permanent) drop();
        throw;
    }
}

}  // namespace stchat::eventstore::pg
