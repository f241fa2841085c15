#include "http_edge.h"

#include <fstream>
#include <sstream>

#include "stchat/common/log.h"
#include "web_files.h"

namespace stchat::chat {
namespace {

constexpr const char* k_component = "chat";

// The peer is this machine (127.0.0.0/8, ::1, or ::ffff:127.x).
bool from_loopback(const server_t::connection_ptr& con) {
    asio::error_code ec;
    auto address = con->get_raw_socket().remote_endpoint(ec).address();
    if (ec) return false;
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
    }
    return address.is_loopback();
}

}  // namespace

bool http_edge::validate(const server_t::connection_ptr& con) {
    if (_config.overloaded && _config.overloaded()) {
        refused("overloaded");
        con->set_status(websocketpp::http::status_code::service_unavailable);
        con->replace_header("Retry-After", "1");
        return false;
    }
    if (con->get_request_header("Sec-WebSocket-Version") != "13") {
        // draft-76 ("hixie"), versions 7 and 8 and anything else: RFC 6455 4.4.
        refused("version");
        con->set_status(websocketpp::http::status_code::upgrade_required);
        con->replace_header("Sec-WebSocket-Version", "13");
        return false;
    }
    std::string path = con->get_resource();
    if (path.substr(0, path.find('?')) != "/") {
        refused("path");
        con->set_status(websocketpp::http::status_code::not_found);
        return false;
    }
    if (!_config.origins->host_allowed(con->get_request_header("Host"))) {
        refused("host");
        con->set_status(websocketpp::http::status_code::forbidden);
        return false;
    }
    if (!_config.origins->origin_allowed(con->get_request_header("Origin"))) {
        refused("origin");
        log::debug(k_component, "refused Origin " + con->get_request_header("Origin"));
        con->set_status(websocketpp::http::status_code::forbidden);
        return false;
    }
    for (const auto& p : con->get_requested_subprotocols()) {
        if (p == k_subprotocol) {
            con->select_subprotocol(k_subprotocol);
            return true;
        }
    }
    return true;  // no subprotocol: legacy
}

void http_edge::serve(const server_t::connection_ptr& con) {
    const std::string& method = con->get_request().get_method();
    bool head = method == "HEAD";
    auto respond = [&](websocketpp::http::status_code::value status, const std::string& type, const std::string& body) {
        con->set_status(status);
        con->replace_header("Content-Type", type);
        con->replace_header("Cache-Control", "no-store");
        if (head) {
            con->set_body("");  // HEAD: the headers a GET would get, no body
            con->replace_header("Content-Length", std::to_string(body.size()));
        } else {
            con->set_body(body);
        }
    };
    const char* text = "text/plain; charset=utf-8";
    if (method != "GET" && !head) {
        refused("method");
        con->replace_header("Allow", "GET, HEAD");
        return respond(websocketpp::http::status_code::method_not_allowed, text, "only GET and HEAD\n");
    }
    if (!_config.origins->host_allowed(con->get_request_header("Host"))) {
        refused("host");
        return respond(websocketpp::http::status_code::forbidden, text,
                       "host not allowed: start stchat chat with --allow-host " +
                           bare_host(con->get_request_header("Host")).substr(0, 253) + "\n");
    }
    std::string path = con->get_resource();
    path = path.substr(0, path.find('?'));
    if (path == "/healthz") {
        std::string problems = _config.health->problems();
        if (problems.empty()) return respond(websocketpp::http::status_code::ok, text, "ok\n");
        return respond(websocketpp::http::status_code::service_unavailable, text, "unhealthy: " + problems + "\n");
    }
    if (path == "/metrics") {
        return respond(websocketpp::http::status_code::ok, "text/plain; version=0.0.4; charset=utf-8",
                       _config.registry->render());
    }
    if ((path == "/ops" || path == "/ops/data") && !_config.ops_public && !from_loopback(con)) {
        refused("ops");
        return respond(websocketpp::http::status_code::forbidden, text,
                       "the operator's page is served to loopback clients only (stchat chat --ops-public)\n");
    }
    if (path == "/ops/data") {
        std::string samples = _config.ops_samples ? _config.ops_samples() : "";
        if (samples.empty()) return respond(websocketpp::http::status_code::service_unavailable, text, "starting\n");
        return respond(websocketpp::http::status_code::ok, "application/json", samples);
    }
    // The web client's files: a name of letters, digits and dashes with a known extension,
    // straight under web_root; never a path from the request.
    if (auto file = web_file_of(path); file && !_config.web_root.empty()) {
        std::ifstream in(_config.web_root + "/" + file->first);
        if (in) {
            std::stringstream ss;
            ss << in.rdbuf();
            return respond(websocketpp::http::status_code::ok, file->second, ss.str());
        }
    }
    respond(websocketpp::http::status_code::not_found, text, "not found\n");
}

}  // namespace stchat::chat
