#define BOOST_TEST_MODULE presence_heal
// Presence that heals: a chat process killed with SIGKILL leaves its users in their rooms until
// another chat process, seeing its lease expire, appends their leaves: exactly once, although two
// processes heal at the same time. A process healed while alive (stopped longer than its lease)
// joins its users again when it comes back.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "test_support.h"
#include "ws_client.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

// A chat process with a 5 s lease (renewed every 1.7 s): short for the test, long enough that a
// live process on a loaded CI machine never misses it.
struct chat_node_process {
    int port = free_port();
    child_process proc;
    chat_node_process(const scratch_database& db, const std::string& log)
        : proc({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port), "--node-lease", "5"},
               log) {
        proc.start();
        wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 20s, "chat process up");
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
};

std::unique_ptr<ws_client> joined(const std::string& url, const std::string& name, const std::string& room) {
    auto c = greeted_client(url, name);
    c->send(R"({"type":"join","room":")" + room + R"("})");
    c->next_of("joined");
    return c;
}

// A chat process on `port` (killed and started again on it by the tests), with a 5 s lease.
std::unique_ptr<child_process> start_on_port(const scratch_database& db, int port, const std::string& log) {
    auto p = std::make_unique<child_process>(
        std::vector<std::string>{stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port),
                                 "--node-lease", "5"},
        log);
    p->start();
    wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 20s, "chat process up");
    return p;
}

// `name` in `room`, with the token that brings the same user back (*token).
std::unique_ptr<ws_client> joined_with_token(const std::string& url, const std::string& name, const std::string& room,
                                             std::string* token) {
    auto c = std::make_unique<ws_client>(url, "stchat.v1");
    c->send(R"({"type":"hello","name":")" + name + R"("})");
    *token = c->next_of("welcome")["token"].GetString();
    c->send(R"({"type":"join","room":")" + room + R"("})");
    c->next_of("joined");
    return c;
}

// The user of `token` back in `room`, from `since` if given (its `joined` frame in
// *joined_frame, if asked).
std::unique_ptr<ws_client> back_with_token(const std::string& url, const std::string& token, const std::string& room,
                                           std::optional<int64_t> since = std::nullopt,
                                           rapidjson::Document* joined_frame = nullptr) {
    auto c = std::make_unique<ws_client>(url, "stchat.v1");
    c->send(R"({"type":"hello","token":")" + token + R"("})");
    c->next_of("welcome");
    c->send(R"({"type":"join","room":")" + room + R"(")" +
            (since ? R"(,"since":)" + std::to_string(*since) : std::string()) + "}");
    auto j = c->next_of("joined");
    if (joined_frame) joined_frame->Swap(j);
    return c;
}

std::string count_of(const char* type, const char* user) {
    return std::string("SELECT count(*) FROM event_log WHERE stream = 'room.lobby' AND type = '") + type +
           "' AND data->>'user' = '" + user + "'";
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_killed_process_users_leave_once_although_two_processes_heal_it) {
    scratch_database db("heal");
    temp_dir logs;
    chat_node_process doomed(db, logs.path() + "/doomed.log");
    chat_node_process b(db, logs.path() + "/b.log");
    chat_node_process c(db, logs.path() + "/c.log");
    auto alice = joined(doomed.url(), "alice", "lobby");
    auto alice_dev = alice.get();
    alice_dev->send(R"({"type":"join","room":"dev"})");
    alice_dev->next_of("joined");
    auto carol = joined(doomed.url(), "carol", "lobby");
    auto bob = joined(b.url(), "bob", "lobby");
    auto dave = joined(c.url(), "dave", "lobby");

    doomed.proc.kill(SIGKILL);
    doomed.proc.wait();
    // Bob, on another process, sees alice and carol leave: live, once each.
    std::set<std::string> left;
    wait_until([&] {
        auto ev = bob->next_of("event", 20s);
        if (std::string(ev["kind"].GetString()) == "leave") left.insert(ev["user"].GetString());
        return left.size() == 2;
    }, 30s, "bob sees the killed process's users leave");
    BOOST_TEST((left == std::set<std::string>{"alice", "carol"}), "the users of the killed process left");
    // Both live processes heal: by now both have looked at least once more.
    wait_until([&] { return db.scalar("SELECT count(*) FROM chat_node WHERE healed_at IS NOT NULL") == 1; }, 10s,
               "the node is marked healed");
    // Both healers have looked again since (renewed a second after the heal: each renewal is
    // followed by a heal pass): a second heal would show now.
    wait_until([&] {
        return db.scalar("SELECT count(*) FROM chat_node WHERE healed_at IS NULL AND seen_at > "
                         "(SELECT max(healed_at) FROM chat_node) + interval '1 second'") == 2;
    }, 10s, "both healers renewed after the heal");
    BOOST_TEST(db.scalar(count_of("chat.leave", "alice")) == 1, "alice's leave of lobby appended once");
    BOOST_TEST(db.scalar(count_of("chat.leave", "carol")) == 1, "carol's leave appended once");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.dev' AND type = 'chat.leave'") == 1,
               "alice leaves dev too");
    BOOST_TEST(db.scalar(count_of("chat.leave", "bob")) == 0, "the live processes' users stay");
    BOOST_TEST(db.scalar(count_of("chat.leave", "dave")) == 0, "the live processes' users stay");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.leave' AND metadata->>'healed' = 'true'") == 3);
    // chat_log gets the exit rows.
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once", "--only", "chat_log"},
                          logs.path() + "/project.log");
    project.start();
    BOOST_REQUIRE(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE action = 'exit' AND username IN ('alice', 'carol')") == 3,
               "chat_log: alice exits lobby and dev, carol lobby");
    std::string healed_by = read_file(logs.path() + "/b.log") + read_file(logs.path() + "/c.log");
    BOOST_TEST(healed_by.find("leave(s) appended") != std::string::npos, healed_by);
}

BOOST_AUTO_TEST_CASE(a_process_healed_while_stopped_joins_its_users_again) {
    scratch_database db("heal_again");
    temp_dir logs;
    chat_node_process sleepy(db, logs.path() + "/sleepy.log");
    chat_node_process b(db, logs.path() + "/b.log");
    auto erin = joined(sleepy.url(), "erin", "lobby");
    auto bob = joined(b.url(), "bob", "lobby");
    ::kill(sleepy.proc.pid(), SIGSTOP);
    wait_until([&] { return db.scalar(count_of("chat.leave", "erin")) == 1; }, 20s, "erin healed while her process is stopped");
    ::kill(sleepy.proc.pid(), SIGCONT);
    wait_until([&] { return db.scalar(count_of("chat.join", "erin")) == 2; }, 20s, "erin joins again");
    BOOST_TEST(db.scalar(count_of("chat.leave", "erin")) == 1);
    // Erin is still connected and in the room: her messages go through and bob sees them.
    erin->send(R"({"type":"send","room":"lobby","id":"e-1","text":"back"})");
    BOOST_TEST(erin->next_of("ack").HasMember("seq"));
    for (;;) {
        auto ev = bob->next_of("event");
        if (std::string(ev["kind"].GetString()) == "message") {
            BOOST_TEST(std::string(ev["text"].GetString()) == "back");
            break;
        }
    }
    // A clean stop leaves nothing to heal: erin's leave comes from her own process.
    sleepy.proc.kill(SIGTERM);
    BOOST_TEST(sleepy.proc.wait() == 0);
    BOOST_TEST(db.scalar(count_of("chat.leave", "erin")) == 2, "her own leave on the clean stop");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.leave' AND metadata->>'healed' = 'true'") == 1);
}

BOOST_AUTO_TEST_CASE(a_process_started_again_on_its_port_takes_over_its_killed_predecessors_users) {
    scratch_database db("heal_port");
    temp_dir logs;
    int port = free_port();
    auto start = [&](const std::string& log) { return start_on_port(db, port, log); };
    std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
    auto first = start(logs.path() + "/first.log");
    std::string token;
    auto alice = joined_with_token(url, "alice", "lobby", &token);
    auto bob = joined(url, "bob", "lobby");
    first->kill(SIGKILL);
    first->wait();
    alice.reset();
    bob.reset();
    auto second = start(logs.path() + "/second.log");
    BOOST_TEST(db.scalar(count_of("chat.leave", "alice")) == 0, "a restart is no leave");
    // Alice comes back (her token): she is still in the room, nothing is appended.
    rapidjson::Document j;
    auto again = back_with_token(url, token, "lobby", 0, &j);
    std::set<std::string> members;
    for (const auto& m : j["members"].GetArray()) members.insert(m.GetString());
    BOOST_TEST((members == std::set<std::string>{"alice", "bob"}), "bob is still in until the lease");
    // Bob does not come back: he leaves once the lease (5 s) has passed, and alice sees it.
    auto ev = again->next_of("event", 20s);
    while (std::string(ev["kind"].GetString()) != "leave") ev = again->next_of("event", 20s);
    BOOST_TEST(std::string(ev["user"].GetString()) == "bob", "bob left");
    BOOST_TEST(db.scalar(count_of("chat.join", "alice")) == 1, "alice joined once, before the restart");
    BOOST_TEST(db.scalar(count_of("chat.leave", "alice")) == 0, "alice never left");
    BOOST_TEST(db.scalar(count_of("chat.leave", "bob")) == 1, "bob left once");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT metadata->>'node') FROM event_log WHERE stream = 'room.lobby'") == 1,
               "one node throughout: the restart took over the first one's");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once", "--only", "chat_log"},
                          logs.path() + "/project.log");
    project.start();
    BOOST_REQUIRE(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE username = 'alice'") == 1, "chat_log: alice's join only");
    BOOST_TEST(db.scalar("SELECT count(*) FROM (SELECT action FROM chat_log WHERE username = 'bob' ORDER BY seq DESC "
                         "LIMIT 1) last WHERE action = 'exit'") == 1,
               "chat_log: bob's exit");
    std::string log = read_file(logs.path() + "/second.log");
    BOOST_TEST(log.find("took over chat node") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(a_user_who_came_back_through_another_process_stays_when_the_dead_one_is_healed) {
    scratch_database db("heal_still_here");
    temp_dir logs;
    chat_node_process doomed(db, logs.path() + "/doomed.log");
    chat_node_process b(db, logs.path() + "/b.log");
    std::string token;
    auto alice = joined_with_token(doomed.url(), "alice", "lobby", &token);
    auto dave = joined(doomed.url(), "dave", "lobby");
    auto bob = joined(b.url(), "bob", "lobby");
    doomed.proc.kill(SIGKILL);
    doomed.proc.wait();
    alice.reset();
    dave.reset();
    // Alice comes back through b, as herself (her token); dave does not come back.
    auto alice_again = back_with_token(b.url(), token, "lobby");
    // Bob sees both leaves of the dead process: dave's a leave, alice's marked still_here.
    std::map<std::string, bool> leaves;  // user -> still_here
    wait_until([&] {
        auto ev = bob->next_of("event", 20s);
        if (std::string(ev["kind"].GetString()) == "leave") {
            leaves[ev["user"].GetString()] = ev.HasMember("still_here") && ev["still_here"].GetBool();
        }
        return leaves.size() == 2;
    }, 30s, "bob sees the dead process's leaves");
    BOOST_TEST(leaves["dave"] == false, "dave left");
    BOOST_TEST(leaves["alice"] == true, "alice's leave says she is still here");
    auto carol = greeted_client(b.url(), "carol");
    carol->send(R"({"type":"join","room":"lobby"})");
    auto j = carol->next_of("joined");
    std::set<std::string> members;
    for (const auto& m : j["members"].GetArray()) members.insert(m.GetString());
    BOOST_TEST((members == std::set<std::string>{"alice", "bob", "carol"}), "alice is in the room, dave is not");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once", "--only", "chat_log"},
                          logs.path() + "/project.log");
    project.start();
    BOOST_REQUIRE(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE username = 'alice' AND action = 'exit'") == 0,
               "chat_log: no exit for alice, who stayed");
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE username = 'dave' AND action = 'exit'") == 1,
               "chat_log: dave's exit");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.leave' AND data->>'user' = 'alice'") == 1,
               "the dead process's part of alice is closed (once) all the same");
}

BOOST_AUTO_TEST_CASE(a_taken_over_user_who_came_back_through_another_process_is_still_here_after_the_lease) {
    scratch_database db("adopt_elsewhere");
    temp_dir logs;
    int port = free_port();
    auto start = [&](const std::string& log) { return start_on_port(db, port, log); };
    std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
    chat_node_process e(db, logs.path() + "/e.log");
    auto first = start(logs.path() + "/first.log");
    std::string token;
    auto alice = joined_with_token(url, "alice", "lobby", &token);
    first->kill(SIGKILL);
    first->wait();
    alice.reset();
    // Alice comes back through e; then the port's process is restarted and takes over her node.
    auto back = back_with_token(e.url(), token, "lobby");
    auto second = start(logs.path() + "/second.log");
    // After the lease the taken-over node lets her go: a leave that says she is still here.
    auto ev = back->next_of("event", 20s);
    while (std::string(ev["kind"].GetString()) != "leave") ev = back->next_of("event", 20s);
    BOOST_TEST(std::string(ev["user"].GetString()) == "alice");
    BOOST_TEST((ev.HasMember("still_here") && ev["still_here"].GetBool()), "the leave of the taken-over node says still_here");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once", "--only", "chat_log"},
                          logs.path() + "/project.log");
    project.start();
    BOOST_REQUIRE(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE username = 'alice' AND action = 'exit'") == 0,
               "chat_log: alice never left");
}
