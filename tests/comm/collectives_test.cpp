// Barrier, broadcast and all-gather (the Communicator defaults built on point-to-point)
// over ranks-as-threads for every rank count 1..8.
#include <gtest/gtest.h>

#include <atomic>

#include "comm/ranks.hpp"

namespace dojo::comm {
namespace {

using testing::rethrow_first;
using testing::run_ranks;

TEST(CollectivesTest, BroadcastFromEveryRootReachesEveryRank) {
  for (int n = 1; n <= 8; ++n) {
    rethrow_first(run_ranks(n, [n](Communicator& comm) {
      for (int root = 0; root < n; ++root) {
        std::vector<float> data(1001, comm.rank() == root ? 0.0f : -1.0f);
        if (comm.rank() == root) {
          for (std::size_t i = 0; i < data.size(); ++i) data[i] = root * 1000.0f + i;
        }
        broadcast_span(comm, std::span(data), root);
        for (std::size_t i = 0; i < data.size(); ++i) {
          ASSERT_EQ(data[i], root * 1000.0f + i) << "rank " << comm.rank() << " root " << root;
        }
      }
    }));
  }
}

TEST(CollectivesTest, AllGatherPutsEachRanksValueAtItsIndex) {
  for (int n = 1; n <= 8; ++n) {
    rethrow_first(run_ranks(n, [n](Communicator& comm) {
      const auto values = all_gather_value<std::int64_t>(comm, 100 + comm.rank());
      ASSERT_EQ(values.size(), static_cast<std::size_t>(n));
      for (int r = 0; r < n; ++r) EXPECT_EQ(values[r], 100 + r);
    }));
  }
}

TEST(CollectivesTest, AllGatherBytesKeepsVariableSizes) {
  rethrow_first(run_ranks(5, [](Communicator& comm) {
    std::vector<std::byte> mine(static_cast<std::size_t>(comm.rank()) * 3, std::byte(comm.rank()));
    const auto all = all_gather_bytes(comm, mine);
    ASSERT_EQ(all.size(), 5u);
    for (int r = 0; r < 5; ++r) {
      ASSERT_EQ(all[r].size(), static_cast<std::size_t>(r) * 3);
      for (auto b : all[r]) EXPECT_EQ(b, std::byte(r));
    }
  }));
}

TEST(CollectivesTest, BarrierHoldsEveryRankUntilAllArrive) {
  for (int n = 2; n <= 8; ++n) {
    std::atomic<int> arrived{0};
    rethrow_first(run_ranks(n, [&](Communicator& comm) {
      for (int round = 1; round <= 3; ++round) {
        arrived.fetch_add(1);
        comm.barrier();
        // Nobody leaves barrier `round` before all n ranks have entered it.
        EXPECT_GE(arrived.load(), round * n);
        comm.barrier();
      }
    }));
  }
}

TEST(CollectivesTest, ReceiveOfWrongSizeIsReportedWithBothSizes) {
  auto errors = run_ranks(2, [](Communicator& comm) {
    std::vector<std::byte> buf(comm.rank() == 0 ? 8 : 4);
    if (comm.rank() == 0) {
      Request r = comm.isend(buf, 1, 5);
      comm.wait(r);
    } else {
      Request r = comm.irecv(buf, 0, 5);
      comm.wait(r);
    }
  });
  ASSERT_TRUE(errors[1]);
  try {
    std::rethrow_exception(errors[1]);
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("8 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("expects 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dojo::comm
