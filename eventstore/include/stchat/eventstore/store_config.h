#pragma once
#include <optional>
#include <stdexcept>
#include <string>

namespace stchat::eventstore {

// Where the event store lives. An empty `database` means libpq's standard variables
// (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE); otherwise a URI such as
// "postgresql://stchat@127.0.0.1:15432/stchat" or a libpq key=value string.
struct store_config {
    std::string database;
    // Overrides the 60 s statement deadline below (0: none), for work that is long by nature:
    // migrate, rebuild, compact. Applied at every (re)connect.
    std::optional<int> statement_timeout_ms = std::nullopt;
};

// The same server and credentials, another database (for scratch and test databases).
store_config with_database(const store_config& base, const std::string& database_name);

// The libpq connection string st-chat connects with: the user's, plus a deadline on everything
// that can hang, for each setting the user's string does not make itself:
//   connect_timeout=5                 per host: a multi-host URI moves on to the next in 5 s
//   keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3
//                                     a silent peer (host gone, packets dropped) is noticed in ~11 s
//   tcp_user_timeout=10000            data unacknowledged for 10 s: the connection is dead
//   options=-c statement_timeout=60s  no statement runs longer (statement_timeout_ms overrides;
//                                     given with the user's own options, it is added to them)
// Example: "postgresql://stchat@db1,db2/stchat?target_session_attrs=read-write"
//   -> "host='db1,db2' user='stchat' dbname='stchat' target_session_attrs='read-write'
//       connect_timeout='5' keepalives='1' … options='-c statement_timeout=60000'"
// Throws store_error(permanent) for a string libpq cannot parse, with libpq's reason.
std::string libpq_conninfo(const store_config& config);

// How a failure of the store should be handled by the caller.
enum class failure {
    transient,  // connection lost, server restarting, serialization: reconnect and retry
    in_doubt,   // the commit may or may not have happened: only an idempotent write may retry
    permanent,  // a bug or bad input: retrying cannot help
};

// What a retry after a failure would repeat. A commit in doubt may have happened, so only a write
// that is idempotent by construction may be sent again after one; every retry says which it is.
enum class idempotence {
    idempotent,      // append_batch (inbox keys), project_step (checkpoint moves with the rows),
                     // an upsert of a value, any read
    not_idempotent,  // the default for anything else: never repeated after a commit in doubt
};

class store_error : public std::runtime_error {
public:
    store_error(failure kind, const std::string& what, std::string sqlstate = {})
        : std::runtime_error(what), _kind(kind), _sqlstate(std::move(sqlstate)) {}
    failure kind() const { return _kind; }
    // Whether the same call may succeed if made again: after a transient failure, yes; after a
    // commit in doubt only for an idempotent write; after a permanent one, never.
    // Example: catch (const store_error& e) { if (!e.retry_may_help(idempotence::idempotent)) throw; }
    bool retry_may_help(idempotence write) const {
        return _kind == failure::transient || (_kind == failure::in_doubt && write == idempotence::idempotent);
    }
    // Postgres' SQLSTATE when Postgres refused the statement ("22021": bad bytes), else empty.
    const std::string& sqlstate() const { return _sqlstate; }
    // Postgres refused the data itself (SQLSTATE class 22 data exception or 23 integrity
    // violation): the same input fails again; other input may well succeed.
    bool bad_data() const {
        return _sqlstate.rfind("22", 0) == 0 || _sqlstate.rfind("23", 0) == 0;
    }

private:
    failure _kind;
    std::string _sqlstate;
};

}  // namespace stchat::eventstore
