// The topology-aware all-reduces (shm, hierarchical, and auto choosing them) over
// ranks-as-threads put on made-up hosts: 1-3 hosts x 1-3 ranks per host, uneven and
// interleaved layouts, every size of the other all-reduce tests, each run twice; and the
// deadlines of their waits, which name the late rank's host.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "comm/allreduce.hpp"
#include "comm/allreduce_hierarchical.hpp"
#include "comm/allreduce_shm.hpp"
#include "comm/host_topology.hpp"
#include "comm/allreduce_values.hpp"
#include "comm/ranks.hpp"

namespace dojo::comm {
namespace {

using testing::rethrow_first;
using testing::run_ranks;

using testing::value;

// Host names for a layout: host_of[r] is rank r's host.
std::vector<std::string> names(const std::vector<int>& host_of) {
  std::vector<std::string> out;
  for (int h : host_of) out.push_back(fmt::format("h{}", h));
  return out;
}

// `hosts` hosts with `per_host` ranks each, ranks numbered host by host (as mpirun's
// --map-by ppr:N:node places them).
std::vector<int> blocked(int hosts, int per_host) {
  std::vector<int> out;
  for (int h = 0; h < hosts; ++h) out.insert(out.end(), static_cast<std::size_t>(per_host), h);
  return out;
}

constexpr std::size_t kSizes[] = {0, 1, 7, 1000, 65539, 3 << 18};

// Every rank runs `algorithm` twice on each size and op; checks the double reference,
// bitwise equality between runs and between ranks.
void check_layout(Algorithm algorithm, const std::vector<int>& host_of) {
  const int n = static_cast<int>(host_of.size());
  const auto host_names = names(host_of);
  for (std::size_t count : kSizes) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      std::vector<std::vector<float>> first(n), second(n);
      rethrow_first(run_ranks(n, [&](Communicator& comm) {
        Allreducer reducer(comm, algorithm, HostTopology(host_names, comm.rank()));
        std::vector<float> data(count);
        for (int run = 0; run < 2; ++run) {
          for (std::size_t i = 0; i < count; ++i) data[i] = value(comm.rank(), i);
          reducer.run(data, op);
          (run == 0 ? first : second)[comm.rank()] = data;
        }
      }));
      for (std::size_t i = 0; i < count; ++i) {
        double expected = 0, magnitude = 0;
        for (int r = 0; r < n; ++r) {
          expected += value(r, i);
          magnitude += std::abs(value(r, i));
        }
        if (op == ReduceOp::kAverage) {
          expected /= n;
          magnitude /= n;
        }
        const double tolerance = (n + 1) * 1.2e-7 * magnitude + 1e-30;
        ASSERT_NEAR(first[0][i], expected, tolerance)
            << to_string(algorithm) << " element " << i << " of " << count;
      }
      for (int r = 0; r < n; ++r) {
        ASSERT_TRUE(testing::same_bits(first[r], first[0]))
            << to_string(algorithm) << " count " << count << ": rank " << r << " differs";
        ASSERT_TRUE(testing::same_bits(second[r], first[r]))
            << to_string(algorithm) << " count " << count << ": rank " << r
            << " second run differs";
      }
    }
  }
}

struct Layout {
  int hosts;
  int per_host;
};

class HostLayoutTest : public ::testing::TestWithParam<Layout> {};

TEST_P(HostLayoutTest, HierarchicalAndAutoMatchReferenceTwiceBitwiseOnEveryRank) {
  const auto [hosts, per_host] = GetParam();
  for (Algorithm a : {Algorithm::kHierarchical, Algorithm::kAuto}) {
    check_layout(a, blocked(hosts, per_host));
  }
  if (hosts == 1) check_layout(Algorithm::kShm, blocked(hosts, per_host));
}

std::vector<Layout> layouts() {
  std::vector<Layout> out;
  for (int h = 1; h <= 3; ++h) {
    for (int p = 1; p <= 3; ++p) out.push_back({h, p});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(OneToThreeHostsByOneToThreeRanks, HostLayoutTest,
                         ::testing::ValuesIn(layouts()), [](const auto& info) {
                           return fmt::format("{}hosts_{}per_host", info.param.hosts,
                                              info.param.per_host);
                         });

TEST(HierarchicalTest, UnevenAndInterleavedHostsGiveTheReference) {
  check_layout(Algorithm::kHierarchical, {0, 0, 0, 1, 2, 2});  // 3, 1 and 2 ranks
  check_layout(Algorithm::kHierarchical, {0, 1, 0, 1, 0, 1});  // ranks alternate hosts
  check_layout(Algorithm::kHierarchical, {1, 0, 0, 1, 1});     // rank 0 not on host 0's first
}

TEST(HierarchicalTest, ManySmallPiecesGiveTheSameBitsAsTheDefaultPieces) {
  // 4 KiB slots: a 65539-element buffer goes as 65 pieces, each chunked and ringed.
  const auto host_names = names(blocked(2, 2));
  constexpr std::size_t count = 65539;
  std::vector<std::vector<float>> small(4), large(4);
  rethrow_first(run_ranks(4, [&](Communicator& comm) {
    HostTopology topology(host_names, comm.rank());
    for (std::size_t slot : {std::size_t{4096}, AllreduceHierarchical::kDefaultSlotBytes}) {
      std::vector<float> data(count);
      for (std::size_t i = 0; i < count; ++i) data[i] = value(comm.rank(), i);
      AllreduceHierarchical(comm, topology, slot).run(data, ReduceOp::kSum);
      (slot == 4096 ? small : large)[comm.rank()] = data;
    }
  }));
  // Within a host the sum runs in local-rank order whatever the pieces; across two hosts
  // each element is (host 0's sum) + (host 1's sum) in one order or the other, and float
  // addition commutes: the pieces cannot change a bit.
  for (int r = 0; r < 4; ++r) {
    ASSERT_TRUE(testing::same_bits(small[r], large[0])) << r;
  }
}

TEST(HierarchicalTest, ShmAcrossHostsIsRefusedNamingTheHosts) {
  const auto host_names = names(blocked(2, 1));
  auto errors = run_ranks(2, [&](Communicator& comm) {
    HostTopology topology(host_names, comm.rank());
    std::vector<float> data(10, 1.0f);
    Allreducer(comm, Algorithm::kShm, topology).run(data, ReduceOp::kSum);
  });
  for (const auto& e : errors) {
    ASSERT_TRUE(e);
    try {
      std::rethrow_exception(e);
    } catch (const InvalidArgument& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find("'shm'"), std::string::npos) << what;
      EXPECT_NE(what.find("h0: ranks 0"), std::string::npos) << what;
      EXPECT_NE(what.find("h1: ranks 1"), std::string::npos) << what;
      EXPECT_NE(what.find("hierarchical"), std::string::npos) << what;
    }
  }
}

TEST(HierarchicalTest, AutoChoosesByHostsRanksPerHostAndSize) {
  rethrow_first(run_ranks(4, [](Communicator& comm) {
    const HostTopology one_host(names(blocked(1, 4)), comm.rank());
    const HostTopology two_hosts(names(blocked(2, 2)), comm.rank());
    const HostTopology four_hosts(names(blocked(4, 1)), comm.rank());
    EXPECT_EQ(choose_algorithm(comm, one_host, 1024), Algorithm::kRecursiveDoubling);
    EXPECT_EQ(choose_algorithm(comm, one_host, 16u << 20), Algorithm::kShm);
    EXPECT_EQ(choose_algorithm(comm, two_hosts, 1024), Algorithm::kHierarchical);
    EXPECT_EQ(choose_algorithm(comm, two_hosts, 16u << 20), Algorithm::kHierarchical);
    EXPECT_EQ(choose_algorithm(comm, four_hosts, 16u << 20), Algorithm::kHierarchical);
  }));
}

TEST(HostTopologyTest, GroupsRanksByNameInOrderOfTheirFirstRank) {
  const HostTopology t({"b", "a", "b", "c", "a"}, 2);
  EXPECT_EQ(t.host_count(), 3);
  EXPECT_EQ(t.host(), 0);
  EXPECT_EQ(t.host_name(0), "b");
  EXPECT_EQ(t.ranks_on(1), (std::vector<int>{1, 4}));
  EXPECT_EQ(t.local_rank(), 1);
  EXPECT_EQ(t.local_size(), 2);
  EXPECT_EQ(t.min_ranks_per_host(), 1);
  EXPECT_EQ(t.max_ranks_per_host(), 2);
  EXPECT_EQ(t.describe(3), "rank 3 on host c");
  EXPECT_EQ(t.summary(), "3 hosts (b: ranks 0,2; a: ranks 1,4; c: ranks 3)");
}

TEST(HostTopologyTest, GatheredNamesAgreeOnEveryRank) {
  rethrow_first(run_ranks(3, [](Communicator& comm) {
    const auto t = gather_host_topology(comm, comm.rank() == 1 ? "other" : "this");
    EXPECT_EQ(t.summary(), "2 hosts (this: ranks 0,2; other: ranks 1)");
    EXPECT_EQ(t.rank(), comm.rank());
  }));
}

// What every survivor must say when `dead` never joins: Timeout naming `dead`'s rank and
// host (or, for ranks that waited on a survivor that gave up first, some rank and host).
void expect_timeouts_naming_hosts(Algorithm algorithm, const std::vector<int>& host_of, int dead,
                                  const std::string& dead_text) {
  const int n = static_cast<int>(host_of.size());
  const auto host_names = names(host_of);
  const Millis timeout(400);
  const auto start = std::chrono::steady_clock::now();
  auto errors = run_ranks(
      n,
      [&](Communicator& comm) {
        HostTopology topology(host_names, comm.rank());
        Allreducer reducer(comm, algorithm, topology);
        std::vector<float> data(100'000, 1.0f);
        reducer.run(data, ReduceOp::kSum);  // everyone sets up and completes once
        if (comm.rank() == dead) return;    // then dies
        reducer.run(data, ReduceOp::kSum);
      },
      timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6 * timeout) << to_string(algorithm);
  bool someone_named_dead = false;
  for (int r = 0; r < n; ++r) {
    if (r == dead) {
      EXPECT_FALSE(errors[r]);
      continue;
    }
    ASSERT_TRUE(errors[r]) << to_string(algorithm) << ": rank " << r << " did not fail";
    try {
      std::rethrow_exception(errors[r]);
    } catch (const Timeout& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(" on host h"), std::string::npos) << what;
      if (what.find(dead_text) != std::string::npos) someone_named_dead = true;
    }
  }
  EXPECT_TRUE(someone_named_dead) << to_string(algorithm) << ": no survivor named " << dead_text;
}

TEST(HierarchicalTest, PeerDeadOnTheSameHostTimesOutNamingItsRankAndHost) {
  expect_timeouts_naming_hosts(Algorithm::kShm, blocked(1, 3), 1, "rank 1 on host h0");
  expect_timeouts_naming_hosts(Algorithm::kHierarchical, blocked(2, 2), 3, "rank 3 on host h1");
}

TEST(HierarchicalTest, PeerDeadOnAnotherHostTimesOutNamingItsRankAndHost) {
  // Rank 2 (host h1's stripe-0 owner) dies: rank 0, its ring partner on h0, names it.
  expect_timeouts_naming_hosts(Algorithm::kHierarchical, blocked(2, 2), 2, "rank 2 is on host h1");
  expect_timeouts_naming_hosts(Algorithm::kHierarchical, blocked(3, 1), 1, "rank 1 is on host h1");
}

}  // namespace
}  // namespace dojo::comm
