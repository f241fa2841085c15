// A plain in-memory broadcast server over the stchat.v1 frames: the bench's baseline.
#include "stchat/chat/broadcast_server.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <set>
#include <thread>

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "ws_frames.h"

namespace stchat::chat {

void run_broadcast_server(const broadcast_config& config) {
    using hdl_t = websocketpp::connection_hdl;
    server_t server;
    std::map<std::string, std::set<hdl_t, std::owner_less<hdl_t>>> rooms;
    std::map<std::string, int64_t> seqs;
    server.clear_access_channels(websocketpp::log::alevel::all);
    server.clear_error_channels(websocketpp::log::elevel::all);
    server.init_asio();
    server.set_reuse_addr(true);
    // Small frames go out at once: Nagle's algorithm would hold them for the peer's delayed ACK.
    server.set_tcp_post_init_handler([this_ = &server](websocketpp::connection_hdl h) {
        std::error_code ec;
        this_->get_con_from_hdl(h)->get_socket().set_option(asio::ip::tcp::no_delay(true), ec);
    });
    server.set_validate_handler([&](hdl_t h) {
        auto con = server.get_con_from_hdl(h);
        for (const auto& p : con->get_requested_subprotocols()) {
            if (p == "stchat.v1") con->select_subprotocol(p);
        }
        return true;
    });
    server.set_close_handler([&](hdl_t h) {
        for (auto& r : rooms) r.second.erase(h);
    });
    auto reply = [&](hdl_t h, const std::string& text) {
        websocketpp::lib::error_code ec;
        server.send(h, text, websocketpp::frame::opcode::text, ec);
    };
    server.set_message_handler([&](hdl_t h, server_t::message_ptr m) {
        rapidjson::Document d;
        d.Parse(m->get_payload().c_str(), m->get_payload().size());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("type") || !d["type"].IsString()) return;
        std::string type = d["type"].GetString();
        auto field = [&](const char* k) {
            return d.HasMember(k) && d[k].IsString() ? std::string(d[k].GetString(), d[k].GetStringLength()) : "";
        };
        if (type == "hello") return reply(h, R"({"type":"welcome","user":"bench","uid":"bench","token":""})");
        std::string room = field("room");
        if (type == "join") {
            rooms[room].insert(h);
            return reply(h, R"({"type":"joined","room":")" + room + R"(","head":0,"members":[]})");
        }
        if (type != "send") return;
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        auto put = [&](const char* k, const std::string& v) {
            w.Key(k);
            w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        };
        w.StartObject();
        put("type", "event");
        put("room", room);
        w.Key("seq");
        w.Int64(++seqs[room]);
        put("kind", "message");
        put("user", "bench");
        put("uid", "bench");
        put("id", field("id"));
        put("text", field("text"));
        put("ts", "1970-01-01T00:00:00.000000Z");
        w.EndObject();
        auto frame = prepared_text(std::string(buf.GetString(), buf.GetSize()));
        for (const auto& member : rooms[room]) {
            websocketpp::lib::error_code ec;
            auto con = server.get_con_from_hdl(member, ec);
            if (!ec && con->get_state() == websocketpp::session::state::open) con->send(frame);
        }
    });
    server.listen(asio::ip::tcp::v4(), config.port);
    server.start_accept();
    log::info("broadcast", "listening on port " + std::to_string(config.port));
    std::thread stopper([&] {
        while (!sleep_unless_stopped(std::chrono::milliseconds(200))) {}
        asio::post(server.get_io_service(), [&] {
            websocketpp::lib::error_code ec;
            server.stop_listening(ec);
            server.stop();
        });
    });
    server.run();
    stopper.join();
}

}  // namespace stchat::chat
