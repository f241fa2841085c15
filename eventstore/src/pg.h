#pragma once
// Private to eventstore: libpqxx helpers. Never include from a public header.
#include <pqxx/pqxx>
#include <string>
#include <string_view>

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

// A one-dimensional array in Postgres' binary format (array_send / array_recv), sent as a binary
// parameter: it reaches Postgres with no text parsing at all. A literal is scanned by array_in
// character by character for quotes and escapes, and bytea elements go through hex both ways;
// for a batch of 2,000 feed events that parsing was ~12% of append_batch's time.
// The parameter's type comes from the statement's cast ($1::text[]: libpqxx sends no types, and
// Postgres types an unknown parameter by its one cast, so use each $n once, cast); the element
// type here must be that array's (array_recv refuses another).
//
// Example: binary_array a(binary_array::text_oid, 2); a.add("x"); a.add_null();
//          tx.exec_params("SELECT $1::text[]", a.done());   -> {x,NULL}
// Not thread-safe (a value).
class binary_array {
public:
    static constexpr uint32_t bytea_oid = 17, int8_oid = 20, text_oid = 25;
    binary_array(uint32_t element_oid, size_t count);
    void add(std::string_view bytes);  // text (valid UTF-8: Postgres checks it) or bytea
    void add_int8(int64_t value);
    void add_null();
    // The parameter; throws std::logic_error unless exactly `count` elements were added.
    pqxx::binarystring done();

private:
    void put32(uint32_t v);
    std::string _bytes;
    size_t _count, _added = 0;
    bool _has_null = false;
};

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
