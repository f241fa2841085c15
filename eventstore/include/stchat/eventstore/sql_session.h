#pragma once
// A small, libpq-free handle for modules that run their own SQL against the store (projectors,
// tools): exec() runs statements in one transaction and returns rows as text.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

using row = std::vector<std::optional<std::string>>;

class sql_session {
public:
    virtual ~sql_session() = default;
    // Runs `sql` with parameters $1, $2 ... in a transaction of its own and commits.
    virtual std::vector<row> exec(const std::string& sql, const std::vector<std::string>& params = {}) = 0;
    // Same, without a transaction (for statements such as CREATE DATABASE).
    virtual std::vector<row> exec_nontx(const std::string& sql) = 0;
};

std::unique_ptr<sql_session> make_sql_session(const store_config& config);

// A text[] parameter: {"a","b\"c"} (each item quoted, quotes and backslashes escaped).
// Example: exec("SELECT count(*) FROM event_log WHERE stream = ANY($1::text[])", {text_array_literal(streams)})
std::string text_array_literal(const std::vector<std::string>& items);

}  // namespace stchat::eventstore
