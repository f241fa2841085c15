#include "stchat/eventstore/sql_session.h"

#include "pg.h"

namespace stchat::eventstore {
namespace {

std::vector<row> to_rows(const pqxx::result& r) {
    std::vector<row> out;
    out.reserve(r.size());
    for (const auto& rr : r) {
        row x;
        x.reserve(rr.size());
        for (const auto& f : rr) {
            if (f.is_null()) x.emplace_back(std::nullopt);
            else x.emplace_back(f.as<std::string>());
        }
        out.push_back(std::move(x));
    }
    return out;
}

class pg_sql_session final : public sql_session {
public:
    explicit pg_sql_session(const store_config& config) : _config(config) {}

    std::vector<row> exec(const std::string& sql, const std::vector<std::string>& params) override {
        return guarded([&] {
            pqxx::work tx(conn());
            pqxx::result r = params.empty()
                                 ? tx.exec(sql)
                                 : tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
            tx.commit();
            return to_rows(r);
        });
    }

    std::vector<row> exec_nontx(const std::string& sql) override {
        return guarded([&] {
            pqxx::nontransaction tx(conn());
            return to_rows(tx.exec(sql));
        });
    }

private:
    template <typename F>
    auto guarded(F&& body) -> decltype(body()) {
        return pg::translate_or_drop(body, [this] { _conn.reset(); });
    }

    pqxx::connection& conn() {
        if (!_conn) _conn = pg::connect(_config);
        return *_conn;
    }

    store_config _config;
    std::unique_ptr<pqxx::connection> _conn;
};

}  // namespace

std::unique_ptr<sql_session> make_sql_session(const store_config& config) {
    return std::make_unique<pg_sql_session>(config);
}

std::string text_array_literal(const std::vector<std::string>& items) { return pg::text_array(items); }

}  // namespace stchat::eventstore
