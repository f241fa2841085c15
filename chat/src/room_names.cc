// Room names: shared by the edge (protocol_codec, no database) and room_log.
#include "stchat/chat/room_log.h"

namespace stchat::chat {

bool valid_room_name(std::string_view room) {
    if (room.empty() || room.size() > 64) return false;
    auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_or_digit(room[0])) return false;
    for (char c : room.substr(1)) {
        if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
    }
    return true;
}

bool is_feed_room(std::string_view room) {
    return room == "feed.sport_event" || room == "feed.execution";
}

std::string stream_of_room(const std::string& room) {
    return is_feed_room(room) ? room : "room." + room;
}

}  // namespace stchat::chat
