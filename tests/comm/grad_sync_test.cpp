// GradSync: buckets marked ready from another thread while the training thread keeps
// computing, in reverse and in shuffled order; the result must equal a plain all-reduce.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "comm/grad_sync.hpp"
#include "comm/ranks.hpp"

namespace dojo::comm {
namespace {

using testing::rethrow_first;
using testing::run_ranks;

std::vector<LayerRange> make_layers(const std::vector<std::size_t>& sizes) {
  std::vector<LayerRange> layers;
  std::size_t at = 0;
  for (auto s : sizes) {
    layers.emplace_back(at, at + s);
    at += s;
  }
  return layers;
}

// Multiples of 1/4: sums are exact, so any bucketing gives the same bits as one all-reduce.
float grad_value(int rank, std::size_t i) {
  return 0.25f * static_cast<float>((rank * 31 + i * 7) % 64);
}

TEST(GradBucketsTest, BucketsTileTheArenaInReverseLayerOrder) {
  const auto layers = make_layers({100, 300, 50, 50, 500, 10});
  const std::size_t total = 1010;
  const auto buckets = plan_buckets(layers, total, 200 * sizeof(float));
  ASSERT_FALSE(buckets.empty());
  EXPECT_EQ(buckets.front().last_layer, layers.size() - 1);  // last layer first
  EXPECT_EQ(buckets.back().first_layer, 0u);
  std::size_t end = total;
  for (const auto& b : buckets) {
    EXPECT_EQ(b.offset + b.count, end) << "buckets must be contiguous, in reverse order";
    EXPECT_EQ(b.offset, layers[b.first_layer].first);
    end = b.offset;
  }
  EXPECT_EQ(end, 0u);
  // Each bucket closes once it reaches the byte target, so all but the last reach it.
  for (std::size_t i = 0; i + 1 < buckets.size(); ++i) EXPECT_GE(buckets[i].count, 200u);
}

TEST(GradBucketsTest, LayersThatDoNotTileTheArenaAreRejected) {
  EXPECT_THROW(plan_buckets({{0, 10}, {12, 20}}, 20, 64), InvalidArgument);
  EXPECT_THROW(plan_buckets({{0, 10}}, 20, 64), InvalidArgument);
}

enum class Order { kReverse, kShuffled };

void run_grad_sync(int n, Order order, Algorithm algorithm) {
  const std::vector<std::size_t> sizes = {1000, 4099, 7, 0, 20000, 333, 65539, 12};
  const auto layers = make_layers(sizes);
  std::size_t total = 0;
  for (auto s : sizes) total += s;
  std::vector<std::vector<float>> synced(n), plain(n);
  rethrow_first(run_ranks(n, [&](Communicator& comm) {
    std::vector<float> grads(total);
    GradSyncOptions options;
    options.bucket_bytes = 16 * 1024;
    options.algorithm = algorithm;
    options.op = ReduceOp::kSum;
    GradSync sync(comm, grads, layers, options);
    ASSERT_GT(sync.buckets().size(), 3u);
    for (int step = 0; step < 2; ++step) {
      for (std::size_t i = 0; i < total; ++i) grads[i] = grad_value(comm.rank(), i) + step;
      sync.start_step();
      std::vector<std::size_t> marks(layers.size());
      for (std::size_t l = 0; l < marks.size(); ++l) marks[l] = layers.size() - 1 - l;
      if (order == Order::kShuffled) {
        std::mt19937 rng(1234 + comm.rank());  // every rank marks in its own order
        std::shuffle(marks.begin(), marks.end(), rng);
      }
      std::thread marker([&] {
        for (auto l : marks) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          sync.mark_layer_ready(l);
        }
      });
      // The training thread keeps computing meanwhile.
      volatile double busy = 0;
      for (int i = 0; i < 200000; ++i) busy = busy + i * 1e-9;
      marker.join();
      sync.wait();
    }
    synced[comm.rank()] = grads;
    std::vector<float> reference(total);
    for (std::size_t i = 0; i < total; ++i) reference[i] = grad_value(comm.rank(), i) + 1;
    Allreducer(comm, Algorithm::kRing).run(reference, ReduceOp::kSum);
    plain[comm.rank()] = reference;
  }));
  for (int r = 0; r < n; ++r) ASSERT_EQ(synced[r], plain[r]) << "rank " << r;
}

TEST(GradSyncTest, ReverseOrderMarkingEqualsPlainAllreduce) {
  for (int n : {1, 2, 3}) run_grad_sync(n, Order::kReverse, Algorithm::kRing);
}

TEST(GradSyncTest, OutOfOrderMarkingEqualsPlainAllreduce) {
  for (int n : {2, 3, 4}) run_grad_sync(n, Order::kShuffled, Algorithm::kAuto);
}

TEST(GradSyncTest, UnmarkedBucketTimesOutInsteadOfHanging) {
  auto errors = run_ranks(
      1,
      [](Communicator& comm) {
        std::vector<float> grads(10);
        GradSync sync(comm, grads, {{0, 5}, {5, 10}});
        sync.start_step();
        sync.mark_layer_ready(1);
        sync.wait();  // layer 0 never marked
      },
      Millis(200));
  ASSERT_TRUE(errors[0]);
  EXPECT_THROW(std::rethrow_exception(errors[0]), Timeout);
}

TEST(GradSyncTest, MarkingALayerTwiceIsAnError) {
  rethrow_first(run_ranks(1, [](Communicator& comm) {
    std::vector<float> grads(10);
    GradSync sync(comm, grads, {{0, 5}, {5, 10}});
    sync.start_step();
    sync.mark_layer_ready(1);
    EXPECT_THROW(sync.mark_layer_ready(1), InvalidArgument);
    sync.mark_layer_ready(0);
    sync.wait();
  }));
}

}  // namespace
}  // namespace dojo::comm
