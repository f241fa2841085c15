#pragma once
// Private to ops/: libpqxx failures as the event store's errors. A lost connection may be
// retried; anything the server refused may not.
#include <pqxx/pqxx>

#include "stchat/eventstore/store_config.h"

namespace stchat::ops {

template <typename F>
auto guarded(F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const pqxx::broken_connection& e) {
        throw eventstore::store_error(eventstore::failure::transient, e.what());
    } catch (const pqxx::sql_error& e) {
        throw eventstore::store_error(eventstore::failure::permanent, e.what());
    }
}

}  // namespace stchat::ops
