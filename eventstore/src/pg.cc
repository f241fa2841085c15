#include "pg.h"

namespace stchat::eventstore {
namespace {
std::string quote_conninfo(const std::string& v) {
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "'";
}
}  // namespace

// A URI gets its path replaced; a key=value string gets a later dbname=, which overrides.
//   postgresql://stchat@127.0.0.1:15432/stchat?sslmode=disable, "t1"
//     -> postgresql://stchat@127.0.0.1:15432/t1?sslmode=disable
store_config with_database(const store_config& base, const std::string& database_name) {
    const std::string& s = base.database;
    auto scheme = s.find("://");
    if (scheme != std::string::npos && (s.rfind("postgresql", 0) == 0 || s.rfind("postgres", 0) == 0)) {
        size_t host_start = scheme + 3;
        size_t query = s.find('?', host_start);
        size_t path = s.find('/', host_start);
        if (path == std::string::npos || (query != std::string::npos && path > query)) {
            path = query == std::string::npos ? s.size() : query;
        }
        std::string rest = query == std::string::npos ? "" : s.substr(query);
        return {s.substr(0, path) + "/" + database_name + rest};
    }
    return {s + (s.empty() ? "" : " ") + "dbname=" + quote_conninfo(database_name)};
}
}  // namespace stchat::eventstore

namespace stchat::eventstore::pg {

std::unique_ptr<pqxx::connection> connect(const store_config& config) {
    return translate([&] { return std::make_unique<pqxx::connection>(config.database); });
}

store_error to_store_error(const std::exception& e) {
    if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
        return store_error(failure::in_doubt, std::string("commit in doubt: ") + e.what());
    }
    if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
        return store_error(failure::transient, std::string("connection lost: ") + e.what());
    }
    if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        const std::string& state = sql->sqlstate();
        // 08: connection exception, 40: transaction rollback (serialization, deadlock),
        // 57P: operator intervention (admin shutdown, crash shutdown, cannot connect now).
        if (state.rfind("08", 0) == 0 || state.rfind("40", 0) == 0 || state.rfind("57P", 0) == 0) {
            return store_error(failure::transient, e.what(), state);
        }
        return store_error(failure::permanent, e.what(), state);
    }
    return store_error(failure::permanent, e.what());
}

std::string text_array(const std::vector<std::string>& items) {
    std::string out;
    size_t total = 2;
    for (const auto& s : items) total += s.size() + 3;
    out.reserve(total);
    out.push_back('{');
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        out.push_back('"');
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

}  // namespace stchat::eventstore::pg
