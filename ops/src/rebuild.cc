#include "stchat/ops/rebuild.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "stchat/common/log.h"
#include "stchat/common/number_text.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::ops {
namespace {

constexpr const char* k_component = "rebuild";
using steady = std::chrono::steady_clock;



// "[#########...........]  450,000 / 1,000,000 events  230,000 ev/s  ETA 0:02" on a terminal
// (redrawn in place), or the same as a plain line every 5 s when stderr is a file or a pipe.
class progress {
public:
    progress(std::string table, bool bar) : _table(std::move(table)), _bar(bar) {}
    void show(int64_t done, int64_t total, bool force = false) {
        auto now = steady::now();
        if (!force && now - _last < (_bar ? std::chrono::milliseconds(100) : std::chrono::seconds(5))) return;
        _last = now;
        double secs = std::chrono::duration<double>(now - _start).count();
        double rate = secs > 0 ? done / secs : 0;
        int64_t left = rate > 0 ? static_cast<int64_t>((total - done) / rate) : 0;
        char eta[32];
        std::snprintf(eta, sizeof eta, "%lld:%02lld", static_cast<long long>(left / 60), static_cast<long long>(left % 60));
        std::string text = _table + "  " + thousands(done) + " / " + thousands(total) + " events  " +
                           thousands(static_cast<int64_t>(rate)) + " ev/s  ETA " + eta;
        if (_bar) {
            int width = 24, filled = total > 0 ? static_cast<int>(width * done / total) : width;
            std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
            std::fprintf(stderr, "\r\033[K%s%s", bar.c_str(), text.c_str());
        } else {
            std::fprintf(stderr, "%s\n", text.c_str());
        }
        std::fflush(stderr);
    }
    void end() {
        if (_bar) std::fprintf(stderr, "\r\033[K");
    }

private:
    std::string _table;
    bool _bar;
    steady::time_point _start = steady::now(), _last{};
};

struct step_result {
    int64_t to = 0, head = 0;
};

}  // namespace

rebuild_result rebuild(const rebuild_config& config) {
    auto store = config.store;
    store.statement_timeout_ms = 0;  // an index on a big table takes long
    auto sql = eventstore::make_sql_session(store);
    // The projections are the database's apply_<name> functions; "unknown" names them.
    for (const auto& t : config.tables) {
        sql->exec("SELECT projection_check($1)", {t});
    }
    rebuild_result result;
    auto started = steady::now();
    for (const auto& table : config.tables) {
        auto abandon = [&] {
            try {
                sql->exec("SELECT rebuild_abandon($1)", {table});
            } catch (const std::exception& e) {
                log::warn(k_component, "could not drop " + table + "_rebuild: " + e.what());
            }
        };
        try {
            sql->exec("SELECT rebuild_begin($1)", {table});
            log::info(k_component, table + ": building " + table + "_rebuild from the log");
            progress bar(table, config.progress_bar);
            auto step = [&] {
                auto r = sql->exec("SELECT to_position, head_position FROM rebuild_step($1, $2)",
                                   {table, std::to_string(config.batch)});
                return step_result{std::stoll(*r.at(0).at(0)), std::stoll(*r.at(0).at(1))};
            };
            // Fill up to the head, index, then catch up with what came meanwhile.
            for (int phase = 0; phase < 2; ++phase) {
                for (;;) {
                    if (stop_requested()) {
                        bar.end();
                        abandon();
                        log::info(k_component, table + ": interrupted; " + table + " untouched, shadow dropped");
                        result.outcome = rebuild_outcome::interrupted;
                        result.seconds = std::chrono::duration<double>(steady::now() - started).count();
                        return result;
                    }
                    auto s = step();
                    bar.show(s.to, s.head);
                    if (s.to >= s.head) break;
                }
                if (phase == 0) sql->exec("SELECT rebuild_index($1)", {table});
            }
            auto r = sql->exec("SELECT checkpoint_position, rows_in_table FROM rebuild_swap($1)", {table});
            result.rows.emplace_back(table, std::stoll(*r.at(0).at(1)));
            result.log_events = std::stoll(*r.at(0).at(0));
            bar.end();
            log::info(k_component, table + ": swapped in, " + thousands(std::stoll(*r.at(0).at(1))) +
                                       " rows, checkpoint " + thousands(std::stoll(*r.at(0).at(0))));
        } catch (...) {
            abandon();
            throw;
        }
    }
    result.seconds = std::chrono::duration<double>(steady::now() - started).count();
    return result;
}

}  // namespace stchat::ops
