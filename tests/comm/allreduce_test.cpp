// All-reduce algorithms over ranks-as-threads: every rank count 1..8, sizes from empty to
// a few MiB (including counts not divisible by the rank count), each algorithm run twice
// on one communicator. Results are checked against a double-precision reference and for
// bitwise equality between runs and between ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <random>

#include "comm/allreduce.hpp"
#include "comm/allreduce_ring.hpp"
#include "comm/allreduce_values.hpp"
#include "comm/ranks.hpp"

namespace dojo::comm {
namespace {

using testing::rethrow_first;
using testing::run_ranks;

using testing::value;

struct Case {
  Algorithm algorithm;
  int ranks;
  std::size_t count;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_{}ranks_{}elems", to_string(info.param.algorithm), info.param.ranks,
                     info.param.count);
}

class AllreduceAlgorithmTest : public ::testing::TestWithParam<Case> {};

TEST_P(AllreduceAlgorithmTest, MatchesDoubleReferenceAndIsBitwiseReproducible) {
  const auto [algorithm, n, count] = GetParam();
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
    std::vector<std::vector<float>> first(n), second(n);
    auto errors = run_ranks(n, [&](Communicator& comm) {
      Allreducer reducer(comm, algorithm);
      std::vector<float> data(count);
      for (int run = 0; run < 2; ++run) {
        for (std::size_t i = 0; i < count; ++i) data[i] = value(comm.rank(), i);
        reducer.run(data, op);
        (run == 0 ? first : second)[comm.rank()] = data;
      }
    });
    rethrow_first(errors);
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
      // n float additions: error below n ulps of the magnitude summed.
      const double tolerance = (n + 1) * 1.2e-7 * magnitude + 1e-30;
      ASSERT_NEAR(first[0][i], expected, tolerance) << "element " << i;
    }
    for (int r = 0; r < n; ++r) {
      ASSERT_TRUE(testing::same_bits(first[r], first[0]))
          << "rank " << r << " differs from rank 0";
      ASSERT_TRUE(testing::same_bits(second[r], first[r]))
          << "rank " << r << ": second run differs from the first";
    }
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (Algorithm a : {Algorithm::kRing, Algorithm::kRecursiveDoubling, Algorithm::kAuto}) {
    for (int n = 1; n <= 8; ++n) {
      for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000},
                                std::size_t{65539}, std::size_t{3 << 18}}) {
        cases.push_back({a, n, count});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllRanksAndSizes, AllreduceAlgorithmTest, ::testing::ValuesIn(all_cases()),
                         case_name);

TEST(AllreduceRingTest, ManySmallSegmentsGiveTheSameBitsAsOneSegment) {
  constexpr int n = 5;
  constexpr std::size_t count = 10'007;
  std::vector<std::vector<float>> coarse(n), fine(n);
  rethrow_first(run_ranks(n, [&](Communicator& comm) {
    for (std::size_t segment_bytes : {std::size_t{1} << 20, std::size_t{64}}) {
      std::vector<float> data(count);
      for (std::size_t i = 0; i < count; ++i) data[i] = value(comm.rank(), i);
      AllreduceRing(comm, segment_bytes).run(data, ReduceOp::kSum);
      (segment_bytes == 64 ? fine : coarse)[comm.rank()] = data;
    }
  }));
  for (int r = 0; r < n; ++r) {
    EXPECT_TRUE(testing::same_bits(fine[r], coarse[r])) << "rank " << r;
  }
}

TEST(AllreduceTest, NativeAlgorithmsNeedTheirBackend) {
  rethrow_first(run_ranks(1, [](Communicator& comm) {
    EXPECT_THROW(Allreducer(comm, Algorithm::kMpi), InvalidArgument);
    EXPECT_THROW(Allreducer(comm, Algorithm::kGloo), InvalidArgument);
  }));
}

TEST(AllreduceTest, ParseAlgorithmNamesTheBadValue) {
  EXPECT_EQ(parse_algorithm("ring"), Algorithm::kRing);
  EXPECT_EQ(parse_algorithm("rd"), Algorithm::kRecursiveDoubling);
  try {
    parse_algorithm("butterfly");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("butterfly"), std::string::npos);
  }
}

TEST(AllreduceTest, AutoPicksLatencyAlgorithmForSmallAndRingForLarge) {
  rethrow_first(run_ranks(3, [](Communicator& comm) {
    EXPECT_EQ(choose_algorithm(comm, 1024), Algorithm::kRecursiveDoubling);
    EXPECT_EQ(choose_algorithm(comm, 64u << 20), Algorithm::kRing);
  }));
}

// A rank that stops answering: every survivor ends with an error naming that rank and its
// host, within (a small multiple of) the timeout, instead of hanging.
TEST(AllreduceTest, DeadPeerEndsSurvivorsWithCommErrorWithinTimeout) {
  constexpr int n = 4;
  const Millis timeout(300);
  for (Algorithm algorithm : {Algorithm::kRing, Algorithm::kRecursiveDoubling}) {
    const auto start = std::chrono::steady_clock::now();
    auto errors = run_ranks(
        n,
        [&](Communicator& comm) {
          if (comm.rank() == 2) return;  // dies before the collective
          std::vector<float> data(4096, 1.0f);
          Allreducer(comm, algorithm).run(data, ReduceOp::kSum);
        },
        timeout);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, 4 * timeout) << to_string(algorithm);
    EXPECT_FALSE(errors[2]);
    for (int r : {0, 1, 3}) {
      ASSERT_TRUE(errors[r]) << "rank " << r << " did not fail";
      try {
        std::rethrow_exception(errors[r]);
      } catch (const CommError& e) {
        // Ranks that waited for a waiting rank learn from the roll call who is silent.
        EXPECT_EQ(e.peer(), 2) << e.what();
        EXPECT_NE(std::string(e.what()).find("rank 2 (host "), std::string::npos) << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace dojo::comm
