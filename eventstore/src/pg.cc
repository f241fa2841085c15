#include "pg.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <set>

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
        return {s.substr(0, path) + "/" + database_name + rest, base.statement_timeout_ms};
    }
    return {s + (s.empty() ? "" : " ") + "dbname=" + quote_conninfo(database_name), base.statement_timeout_ms};
}
std::string libpq_conninfo(const store_config& config) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(config.database.c_str(), &error);
    if (!parsed) {
        std::string why = error ? error : "out of memory";
        PQfreemem(error);
        throw store_error(failure::permanent, "bad --database connection string: " + why);
    }
    std::string out;
    std::set<std::string> given;
    for (PQconninfoOption* o = parsed; o->keyword; ++o) {
        // Set by the environment (PGCONNECT_TIMEOUT, PGOPTIONS …): libpq applies it at connect.
        if (!o->val && o->envvar && std::getenv(o->envvar) && *std::getenv(o->envvar)) given.insert(o->keyword);
        if (!o->val) continue;
        given.insert(o->keyword);
        std::string value = o->val;
        if (std::string(o->keyword) == "options" && config.statement_timeout_ms) {
            value += " -c statement_timeout=" + std::to_string(*config.statement_timeout_ms);
        }
        out += std::string(out.empty() ? "" : " ") + o->keyword + "=" + quote_conninfo(value);
    }
    PQconninfoFree(parsed);
    std::string statement_timeout = "-c statement_timeout=" + std::to_string(config.statement_timeout_ms.value_or(60000));
    const std::pair<const char*, const char*> k_deadlines[] = {
        {"connect_timeout", "5"},       {"keepalives", "1"},         {"keepalives_idle", "5"},
        {"keepalives_interval", "2"},   {"keepalives_count", "3"},   {"tcp_user_timeout", "10000"},
        {"options", statement_timeout.c_str()},
    };
    for (const auto& [key, value] : k_deadlines) {
        if (!given.count(key)) out += std::string(out.empty() ? "" : " ") + key + "=" + quote_conninfo(value);
    }
    return out;
}

}  // namespace stchat::eventstore

namespace stchat::eventstore::pg {

std::unique_ptr<pqxx::connection> connect(const store_config& config) {
    std::string conninfo = libpq_conninfo(config);
    try {
        return std::make_unique<pqxx::connection>(conninfo);
    } catch (const pqxx::broken_connection& e) {
        // Never opened, so not "lost": say so, with libpq's own words (which name host and port).
        std::string why = e.what();
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        for (size_t nl; (nl = why.find("\n\t")) != std::string::npos;) why.replace(nl, 2, " ");
        throw store_error(failure::transient, "cannot connect to Postgres: " + why);
    } catch (const std::exception& e) {
        throw to_store_error(e);
    }
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
        // The server's message with its DETAIL and HINT, without the CONTEXT (for an error
        // inside append_batch that is the whole function's SQL: not for logs or /healthz).
        std::string what = e.what();
        if (auto context = what.find("\nCONTEXT:"); context != std::string::npos) what.resize(context);
        // 08: connection exception, 40: transaction rollback (serialization, deadlock),
        // 57P: operator intervention (admin shutdown, crash shutdown, cannot connect now),
        // 57014: statement timeout or cancel, 53: insufficient resources (disk full 53100, out of
        // memory, too many connections), 58: system error (I/O): the same statement may well
        // succeed later, so they are waited out, never fatal.
        if (state.rfind("08", 0) == 0 || state.rfind("40", 0) == 0 || state.rfind("57P", 0) == 0 ||
            state == "57014" || state.rfind("53", 0) == 0 || state.rfind("58", 0) == 0) {
            return store_error(failure::transient, what, state);
        }
        return store_error(failure::permanent, what, state);
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

binary_array::binary_array(uint32_t element_oid, size_t count) : _count(count) {
    if (count > static_cast<size_t>(INT32_MAX)) throw std::length_error("binary_array: too many elements");
    put32(1);  // dimensions
    put32(0);  // has nulls: set by done()
    put32(element_oid);
    put32(static_cast<uint32_t>(count));
    put32(1);  // lower bound
}

void binary_array::put32(uint32_t v) {
    char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
    _bytes.append(b, 4);
}

void binary_array::add(std::string_view bytes) {
    if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw std::length_error("binary_array: element over 2 GiB");
    put32(static_cast<uint32_t>(bytes.size()));
    _bytes.append(bytes.data(), bytes.size());
    ++_added;
}

void binary_array::add_int8(int64_t value) {
    put32(8);
    auto u = static_cast<uint64_t>(value);
    put32(static_cast<uint32_t>(u >> 32));
    put32(static_cast<uint32_t>(u));
    ++_added;
}

void binary_array::add_null() {
    put32(0xffffffffu);  // length -1
    _has_null = true;
    ++_added;
}

pqxx::binarystring binary_array::done() {
    if (_added != _count) {
        throw std::logic_error("binary_array: " + std::to_string(_added) + " elements added, " +
                               std::to_string(_count) + " announced");
    }
    _bytes[7] = _has_null ? 1 : 0;  // the flags word's low byte
    return pqxx::binarystring(_bytes.data(), _bytes.size());
}

}  // namespace stchat::eventstore::pg
