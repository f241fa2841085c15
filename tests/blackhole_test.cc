#define BOOST_TEST_MODULE blackhole
// Network blackholes between the ingest and its servers: packets dropped, nothing closed, no
// error from anyone: only deadlines notice. The ingest runs in a network namespace of its own
// (ip netns + veth); it reaches Postgres and NATS through forwarders on the host side of the veth,
// and nftables drops the packets of one path or the other. Needs root (CI runs as root).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

bool is_root() { return ::geteuid() == 0; }

void sh(const std::string& command) {
    int rc = std::system((command + " >/dev/null 2>&1").c_str());
    if (rc != 0) throw std::runtime_error("failed: " + command);
}


// A TCP forwarder: listens on `host:port` (0: any free port) and pumps bytes both ways to
// 127.0.0.1:`to`. It never closes a side by itself: when nftables drops the packets on one side,
// the other simply waits, as a real network does.
class forwarder {
public:
    forwarder(const std::string& host, int to) : _to(to) {
        _listen = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
        if (::bind(_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(_listen, 64) != 0) {
            throw std::runtime_error("forwarder cannot listen on " + host);
        }
        socklen_t len = sizeof addr;
        ::getsockname(_listen, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
        _thread = std::thread([this] { accept_loop(); });
    }
    ~forwarder() {
        _stop = true;
        ::shutdown(_listen, SHUT_RDWR);
        ::close(_listen);
        _thread.join();
        for (auto& t : _pumps) t.join();
    }
    int port = 0;

private:
    void accept_loop() {
        while (!_stop) {
            pollfd p{_listen, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            int client = ::accept(_listen, nullptr, nullptr);
            if (client < 0) continue;
            int server = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(static_cast<uint16_t>(_to));
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                ::close(client);
                ::close(server);
                continue;
            }
            _pumps.emplace_back([this, client, server] { pump(client, server); });
        }
    }
    void pump(int a, int b) {
        char buf[16384];
        pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
        while (!_stop) {
            if (::poll(fds, 2, 100) <= 0) continue;
            bool done = false;
            for (int i = 0; i < 2 && !done; ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
                if (n <= 0 || ::send(fds[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) done = true;
            }
            if (done) break;
        }
        ::close(a);
        ::close(b);
    }
    int _to;
    int _listen = -1;
    std::atomic<bool> _stop{false};
    std::thread _thread;
    std::vector<std::thread> _pumps;
};

// A network namespace joined to the host by a veth pair, and an nftables table for blackholes.
struct namespace_link {
    std::string ns, host_if, ns_if, table, host_ip, ns_ip;
    namespace_link() {
        int id = ::getpid() % 200 + 20;
        ns = "stchat-bh-" + std::to_string(::getpid());
        host_if = "sbh" + std::to_string(::getpid()) + "h";
        ns_if = "sbh" + std::to_string(::getpid()) + "n";
        table = "stchat_bh_" + std::to_string(::getpid());
        host_ip = "10.213." + std::to_string(id) + ".1";
        ns_ip = "10.213." + std::to_string(id) + ".2";
        sh("ip netns add " + ns);
        sh("ip link add " + host_if + " type veth peer name " + ns_if);
        sh("ip link set " + ns_if + " netns " + ns);
        sh("ip addr add " + host_ip + "/30 dev " + host_if);
        sh("ip link set " + host_if + " up");
        sh("ip netns exec " + ns + " ip addr add " + ns_ip + "/30 dev " + ns_if);
        sh("ip netns exec " + ns + " ip link set " + ns_if + " up");
        sh("ip netns exec " + ns + " ip link set lo up");
        sh("nft add table inet " + table);
        sh("nft add chain inet " + table + " in '{ type filter hook input priority 0; }'");
        sh("nft add chain inet " + table + " out '{ type filter hook output priority 0; }'");
    }
    ~namespace_link() {
        std::system(("nft delete table inet " + table + " >/dev/null 2>&1").c_str());
        std::system(("ip netns del " + ns + " >/dev/null 2>&1").c_str());
        std::system(("ip link del " + host_if + " >/dev/null 2>&1").c_str());
    }
    // Drops every packet of the path to and from a forwarder port, both ways; nothing is closed.
    void blackhole(int port) {
        sh("nft add rule inet " + table + " in iifname " + host_if + " tcp dport " + std::to_string(port) + " drop");
        sh("nft add rule inet " + table + " out oifname " + host_if + " tcp sport " + std::to_string(port) + " drop");
    }
    void heal() {
        sh("nft flush chain inet " + table + " in");
        sh("nft flush chain inet " + table + " out");
    }
};


double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

}  // namespace

BOOST_AUTO_TEST_CASE(blackholes_to_postgres_and_to_nats_are_noticed_in_seconds_and_lose_nothing,
                     *boost::unit_test::precondition([](boost::unit_test::test_unit_id) {
                         return boost::test_tools::assertion_result(is_root());
                     })) {
    nats_server nats;
    scratch_database db("blackhole");
    namespace_link link;
    std::string pg_port = db.uri().substr(db.uri().rfind(':') + 1);
    pg_port = pg_port.substr(0, pg_port.find('/'));
    std::string nats_port = nats.url().substr(nats.url().rfind(':') + 1);
    forwarder to_pg(link.host_ip, std::stoi(pg_port));
    forwarder to_nats(link.host_ip, std::stoi(nats_port));
    std::string database = db.uri();
    database.replace(database.find("127.0.0.1:" + pg_port), std::string("127.0.0.1:" + pg_port).size(),
                     link.host_ip + ":" + std::to_string(to_pg.port));
    temp_dir dir;
    std::string log_path = dir.path() + "/ingest.log";
    int health = free_port();
    child_process ingest({"/usr/sbin/ip", "netns", "exec", link.ns, stchat_binary(), "ingest", "--database", database, "--nats",
                          "nats://" + link.host_ip + ":" + std::to_string(to_nats.port), "--batch", "100",
                          "--ack-wait-ms", "2000", "--stall-after", "3", "--metrics-port", std::to_string(health)},
                         log_path);
    ingest.start();
    auto healthz = [&] { return http_get(link.ns_ip, health, "/healthz"); };
    feed_acked(nats.url(), "before", 500);
    try {
        wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 500; }, 60s, "500 appended through the veth");
    } catch (...) {
        std::cerr << "ingest log:\n" << read_file(log_path);
        throw;
    }

    // 1. Postgres blackholed while messages keep coming: the append in flight hangs on a
    //    connection nobody closes. Before deadlines, the kernel gave up after ~15 minutes.
    link.blackhole(to_pg.port);
    auto start = steady::now();
    feed_acked(nats.url(), "during-pg", 500);
    wait_until([&] { return read_file(log_path).find("append failed") != std::string::npos; }, 20s,
               "the dead Postgres connection noticed within 20 s");
    BOOST_TEST_MESSAGE("dead Postgres connection noticed after " << seconds_since(start) << " s");
    BOOST_TEST(healthz().rfind("unhealthy: ", 0) == 0, "/healthz during the blackhole: " << healthz());
    auto healed = steady::now();
    link.heal();
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 1000; }, 30s, "appends after the blackhole");
    double resumed = seconds_since(healed);
    BOOST_TEST(resumed <= 10.0, "appends resumed " << resumed << " s after the Postgres blackhole ended");
    wait_until([&] { return healthz() == "ok\n"; }, 30s, "/healthz ok again");

    // 2. NATS blackholed: the client's pings go unanswered, the server is given up in seconds.
    link.blackhole(to_nats.port);
    start = steady::now();
    wait_until([&] { return read_file(log_path).find("disconnected from NATS") != std::string::npos; }, 20s,
               "the dead NATS connection noticed within 20 s");
    BOOST_TEST_MESSAGE("dead NATS connection noticed after " << seconds_since(start) << " s");
    feed_acked(nats.url(), "during-nats", 500);
    healed = steady::now();
    link.heal();
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 1500; }, 30s, "appends after the NATS blackhole");
    resumed = seconds_since(healed);
    BOOST_TEST(resumed <= 10.0, "appends resumed " << resumed << " s after the NATS blackhole ended");

    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 1500, "nothing lost, nothing doubled");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 1500);
}
