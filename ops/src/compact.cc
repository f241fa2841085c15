#include "stchat/ops/compact.h"

#include "stchat/eventstore/sql_session.h"

namespace stchat::ops {

compact_result compact(const compact_config& config) {
    auto store = config.store;
    store.statement_timeout_ms = 0;  // a big inbox takes a while: bounded by the operator, not 60 s
    auto sql = eventstore::make_sql_session(store);
    compact_result result;
    // One statement, one transaction: the cut and the retirement agree.
    auto rows = sql->exec(
        "WITH cut AS MATERIALIZED (SELECT log_position_before(now() - make_interval(secs => $1::double precision)) AS p)"
        " SELECT cut.p, c.source, c.kind, c.keys, c.retired, c.floor_after"
        " FROM cut LEFT JOIN LATERAL compact_inbox(cut.p, $2::int, $3::boolean) c ON true ORDER BY c.source",
        {std::to_string(config.keep.count()), std::to_string(config.chat_days), config.dry_run ? "true" : "false"});
    result.inbox_after = std::stoll(*sql->exec("SELECT count(*) FROM inbox").at(0).at(0));
    for (const auto& r : rows) {
        result.below_position = std::stoll(r.at(0).value_or("0"));
        if (!r.at(1)) continue;
        compacted_source s;
        s.source = *r.at(1);
        s.sequence = r.at(2).value_or("") == "sequence";
        s.keys = std::stoll(*r.at(3));
        s.retired = std::stoll(*r.at(4));
        if (r.at(5)) s.floor = std::stoll(*r.at(5));
        result.sources.push_back(std::move(s));
    }
    return result;
}

}  // namespace stchat::ops
