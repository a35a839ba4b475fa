// scripts/cluster/hosts.sh: hosts come up as separate machines (names, addresses, capped
// links), Open MPI launches across them with a plain mpirun, and `down` leaves nothing.
#include <csignal>
#include <set>
#include <sstream>

#include "cluster/hosts_util.hpp"

namespace dojo::cluster_test {
namespace {

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.insert(line);
  }
  return out;
}

// The entries of `folder` whose names start with "dojo-" (other tests' files come and go).
std::set<std::string> listing(const fs::path& folder) {
  std::set<std::string> out;
  if (!fs::exists(folder)) return out;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("dojo-")) out.insert(name);
  }
  return out;
}

// A process that exists and has not ended (a zombie waiting for init to reap it has).
bool running(pid_t pid) {
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat[close + 2] != 'X';
}

class HostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = netns_skip_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    root_ = shared_scratch("hosts");
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  std::string sh(const std::string& command) { return run(command, root_ / "sh.log").output; }
  fs::path root_;
};

TEST_F(HostsTest, UpGivesEachHostItsNameAddressAndCappedLinkAndDownLeavesNothingBehind) {
  const auto netns_before = listing("/run/netns");
  const auto shm_before = listing("/dev/shm");
  const auto links_before = lines(sh("ip -o link show | awk -F': ' '{print $2}'"));

  std::vector<pid_t> holders;
  pid_t straggler = -1;
  {
    HostCluster cluster(root_ / "c", 3, "1gbit");
    ASSERT_TRUE(cluster.up_ok()) << cluster.up_output();
    for (int h = 0; h < 3; ++h) {
      const std::string host = fmt::format("dojo-h{}", h);
      const auto name = run(cluster.exec(host) + "hostname", root_ / "name.log");
      EXPECT_EQ(name.exit_code, 0) << name.output;
      EXPECT_EQ(name.output, host + "\n");
      const auto addr = run(cluster.exec(host) + "ip -o -4 addr show", root_ / "addr.log").output;
      EXPECT_NE(addr.find(fmt::format("eth0    inet 10.99.0.{}/24", h + 1)), std::string::npos)
          << addr;
      EXPECT_EQ(lines(addr).size(), 2u) << "only lo and eth0 should have addresses:\n" << addr;
      const auto qdisc = run(cluster.exec(host) + "tc qdisc show dev eth0", root_ / "tc.log");
      EXPECT_NE(qdisc.output.find("tbf"), std::string::npos) << qdisc.output;
      EXPECT_NE(qdisc.output.find("rate 1Gbit"), std::string::npos) << qdisc.output;
      holders.push_back(
          std::stoi(read_text(cluster.dir() / "hosts" / fmt::format("h{}", h) / "pid")));
    }
    // The other direction of each link: the bridge's port towards the host.
    const auto bridge = sh("ip netns list | grep -- '-br' | awk '{print $1}'");
    ASSERT_FALSE(bridge.empty());
    const auto ports = sh("tc -n " + bridge.substr(0, bridge.find('\n')) + " qdisc show");
    for (int h = 0; h < 3; ++h) {
      EXPECT_NE(ports.find(fmt::format("dev h{} root", h)), std::string::npos) << ports;
    }
    // Hosts reach each other by name, over their links only.
    const auto reach = run(cluster.exec("dojo-h2") + "bash -c 'exec 3<>/dev/tcp/dojo-h0/9; echo'",
                           root_ / "reach.log");
    EXPECT_NE(reach.output.find("refused"), std::string::npos)
        << "dojo-h0 should answer (refuse) on 10.99.0.1: " << reach.output;
    // A process left running on a host must not survive `down`.
    Background left(cluster.exec("dojo-h1") + "sleep 1000", root_ / "left.log");
    // exec all the way down: the PID becomes `sleep` once it runs inside the host.
    ASSERT_TRUE(wait_until(
        [&] { return read_text(fmt::format("/proc/{}/comm", left.pid())) == "sleep\n"; }, 10))
        << left.output();
    straggler = left.pid();
    const auto down = cluster.down();
    EXPECT_EQ(down.exit_code, 0) << down.output;
    EXPECT_TRUE(left.wait_for(10).has_value()) << "a process on dojo-h1 outlived down";
  }
  EXPECT_EQ(listing("/run/netns"), netns_before);
  EXPECT_EQ(listing("/dev/shm"), shm_before);
  EXPECT_EQ(lines(sh("ip -o link show | awk -F': ' '{print $2}'")), links_before);
  for (pid_t p : holders) EXPECT_FALSE(running(p)) << "holder " << p << " still runs";
  EXPECT_FALSE(running(straggler));
  EXPECT_FALSE(fs::exists(root_ / "c" / "hosts"));
}

TEST_F(HostsTest, PlainMpirunWithTheHostfileRunsRanksOnBothHosts) {
  HostCluster cluster(root_ / "c", 2);
  ASSERT_TRUE(cluster.up_ok()) << cluster.up_output();
  const auto res = run(cluster.exec("dojo-h0") + "mpirun --hostfile " +
                           cluster.hostfile().string() + " -np 4 --map-by ppr:2:node hostname",
                       root_ / "mpirun.log");
  ASSERT_EQ(res.exit_code, 0) << res.output;
  std::multiset<std::string> names;
  std::istringstream in(res.output);
  for (std::string line; std::getline(in, line);) names.insert(line);
  EXPECT_EQ(names.count("dojo-h0"), 2u) << res.output;
  EXPECT_EQ(names.count("dojo-h1"), 2u) << res.output;
  EXPECT_EQ(names.size(), 4u) << res.output;
  const auto down = cluster.down();
  EXPECT_EQ(down.exit_code, 0) << down.output;
}

}  // namespace
}  // namespace dojo::cluster_test
