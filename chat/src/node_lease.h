#pragma once
// Private to chat/: the lease of one chat process ("node") on the database, and the healing of
// the nodes whose lease expired (migrations/011_chat_node.sql, functions/heal_chat_node.sql).
//
// Every `renew_every` the node renews its lease, then heals every other node that has not renewed
// for `lease`: the `leave` events of the users a dead node had in rooms are appended, exactly
// once however many nodes heal at the same time. A node that was healed although alive (its
// lease ran out during a Postgres outage, or the process was stopped) hears it at its next renewal
// (`on_healed`) and joins its users again.
//
// Example: nodes A and B, alice on A in lobby; A is killed with SIGKILL.
//   B, <= lease + renew_every later: "healed chat node A: 1 leave appended"
//   lobby's events: ... join alice (node A) ... leave alice (node A, healed)
//
// Thread-safety: a thread of its own; on_healed runs there. The destructor stops it within 100 ms
// (or the statement timeout of a call in flight, at most 3 s).
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::chat {

struct node_lease_config {
    eventstore::store_config store;
    std::string node;  // unique per process start, e.g. "chat@web1[3f2a9c1b0d4e]:8888/1764480000123456"
    std::chrono::milliseconds lease{15000};
    std::chrono::milliseconds renew_every{5000};
    std::function<void()> on_healed = [] {};
};

class node_lease {
public:
    explicit node_lease(node_lease_config config);
    ~node_lease();
    node_lease(const node_lease&) = delete;
    node_lease& operator=(const node_lease&) = delete;

private:
    void loop();
    void tick();
    node_lease_config _config;
    std::atomic<bool> _stop{false};
    bool _reported = false;
    std::thread _thread;
};

// "chat@<host>[<machine>]:<port>/<microseconds since the epoch>": what names this process in
// chat_node. <machine> is the first 12 hex digits of /etc/machine-id (or D-Bus's copy), so that
// two machines that share a host name and port never take over or heal each other's nodes as
// "an earlier process on this port"; without a machine id it is empty ("chat@web1[]:8888/…").
// Characters other than letters, digits, '.', '-' and '_' in the host name become '_'.
std::string make_node_name(int port);

// make_node_name's format from its parts (for tests).
// Example: node_name("web1", "3f2a9c1b0d4e", 8888, 1764480000123456)
//   -> "chat@web1[3f2a9c1b0d4e]:8888/1764480000123456"
std::string node_name(const std::string& host, const std::string& machine, int port, int64_t start_us);

// The first 12 hex digits of the machine id (`path`, else /var/lib/dbus/machine-id when `path`
// is the default), "" when neither can be read.
std::string machine_tag(const std::string& path = "/etc/machine-id");

// Heals at once the earlier nodes of this host and port other than `self` (the node this
// process runs as: its own, or the one it took over, see below): a port is held by one process
// at a time, so once this process listens on it they are dead, lease or no lease. Called after
// listening and before accepting, after adopt_earlier_node_of_this_port, so what it heals are
// the older ones (a crash loop's). Returns the leaves appended; a failure (Postgres away) is
// logged and left to the lease's heal. (Nodes of another machine with the same host name and
// port differ in their machine tag, so they are not "earlier processes of this port".)
// Example: "chat@web1[3f2a9c1b0d4e]:8888/1764490000000000" starts and takes over
//   "chat@web1[3f2a9c1b0d4e]:8888/1764480000000000"; "chat@web1[3f2a9c1b0d4e]:8888/1764470000000000",
//   killed before that one, still has bob in lobby -> 1 leave now.
int heal_earlier_nodes_of_this_port(const eventstore::store_config& store, const std::string& self);

// A restart on the same host and port takes over the node of the process that served there
// last, if that one died with users in rooms (functions/adopt_chat_node.sql): those users are
// still in their rooms through this node, so when they come back (within the lease) nothing is
// appended, and the rooms show no "left" and "joined" for a restart; the leaves of those who do
// not come back are appended after the lease. Called after listening, before accepting.
// Returns `fresh` and nothing to adopt when there is none (or Postgres is away: then the lease's
// heal does the rest).
// Example: chat@web1[3f2a9c1b0d4e]:8888/1764470000000000 SIGKILLed with alice and bob in lobby;
//   restarted -> node "chat@web1[3f2a9c1b0d4e]:8888/1764470000000000", members {lobby/alice,
//   lobby/bob}; alice comes back: nothing appended; bob does not: his leave 15 s later.
struct adopted_member {
    std::string room, uid, name;
};
struct node_start {
    std::string node;
    std::vector<adopted_member> members;
};
node_start adopt_earlier_node_of_this_port(const eventstore::store_config& store, const std::string& fresh);

}  // namespace stchat::chat
