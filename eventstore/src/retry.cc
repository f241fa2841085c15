#include "stchat/eventstore/retry.h"

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"

namespace stchat::eventstore {

bool retry_policy::retrying_helps(const store_error& e) const {
    if (!e.retry_may_help(_config.call)) return false;
    return !(_outage && _config.give_up_after && std::chrono::steady_clock::now() - _since >= *_config.give_up_after);
}

bool retry_policy::failed(const store_error& e) {
    if (!e.retry_may_help(_config.call)) return false;
    if (!_outage) {
        _outage = true;
        _since = std::chrono::steady_clock::now();
        std::string what = e.what();
        log::warn(_config.component, _config.action + " failed, retrying: " + what.substr(0, what.find('\n')));
        if (_config.health) _config.health->set(_config.dependency, e.what());
    }
    if (!retrying_helps(e)) return false;
    if (_config.retries) _config.retries->add();
    if (sleep_unless_stopped(_backoff)) return false;
    _backoff = std::min(_backoff * 2, _config.max);
    return true;
}

void retry_policy::succeeded() {
    _backoff = _config.first;
    if (!_outage) return;
    _outage = false;
    log::info(_config.component, _config.back);
    if (_config.health) _config.health->set(_config.dependency, "");
}

}  // namespace stchat::eventstore
