#include "stchat/common/stall_watchdog.h"

#include "stchat/common/log.h"

namespace stchat {

stall_watchdog::stall_watchdog(stall_watchdog_config config) : _config(std::move(config)), _last(now_ms()) {
    _thread = std::thread([this] { loop(); });
}

stall_watchdog::~stall_watchdog() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stop = true;
    }
    _stop_cv.notify_all();
    _thread.join();
}

int64_t stall_watchdog::now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void stall_watchdog::loop() {
    bool stalled = false;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(_mutex);
            if (_stop_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return _stop; })) break;
        }
        int64_t quiet = now_ms() - _last.load(std::memory_order_relaxed);
        bool now_stalled = quiet > _config.after.count() && _config.waiting();
        if (now_stalled == stalled) continue;
        stalled = now_stalled;
        if (stalled) {
            std::string what = _config.what;
            auto at = what.find("%s");
            if (at != std::string::npos) what.replace(at, 2, std::to_string(quiet / 1000) + " s");
            log::warn(_config.component, "stall: " + what);
            if (_config.health) _config.health->set("stall", what);
        } else {
            log::info(_config.component, "moving again after a stall");
            if (_config.health) _config.health->set("stall", "");
        }
    }
    if (stalled && _config.health) _config.health->set("stall", "");
}

}  // namespace stchat
