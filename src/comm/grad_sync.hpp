#pragma once
// GradSync: all-reduces the gradient arena bucket by bucket while backward still runs.
//
// THREADING CONTRACT
//  - MPI must be initialised with MPI_THREAD_SERIALIZED or higher (comm::Runtime does):
//    MPI calls come from two threads, never at the same time.
//  - GradSync owns one communication thread. From start_step() until wait() returns, only
//    that thread calls the Communicator; the training thread must make no call on it in
//    that window. Outside the window the communication thread is idle.
//  - mark_bucket_ready()/mark_layer_ready() may be called from any thread. Everything
//    else is called from the thread that owns the GradSync (the training thread).
//  - Buckets are all-reduced strictly in index order on every rank (bucket 0 holds the
//    last layers, which backward finishes first), whatever order they are marked ready
//    in. So ranks never disagree about which collective comes next.
//
// A bucket is a contiguous slice of the arena made of whole layers, ~bucket_bytes each,
// built in reverse layer order (like PyTorch DDP's buckets); no gradient is copied.
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "comm/allreduce.hpp"
#include "core/buckets.hpp"

namespace dojo::comm {

struct GradSyncOptions {
  std::size_t bucket_bytes = kDefaultBucketBytes;
  Algorithm algorithm = Algorithm::kAuto;
  ReduceOp op = ReduceOp::kAverage;
};

// The buckets are planned by dojo::plan_buckets (core/buckets.hpp), the planner the
// mesh simulation uses too.
using dojo::GradBucket;
using dojo::LayerRange;

class GradSync {
 public:
  GradSync(Communicator& comm, std::span<float> grads, const std::vector<LayerRange>& layers,
           GradSyncOptions options = {});
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  const std::vector<GradBucket>& buckets() const { return buckets_; }

  // Opens a step: every bucket becomes pending.
  void start_step();
  void mark_bucket_ready(std::size_t bucket);
  // A bucket is ready once every layer in it is; marking a layer twice is an error.
  // Returns the bucket this call made ready, if any.
  std::optional<std::size_t> mark_layer_ready(std::size_t layer);
  // Blocks until every bucket is all-reduced; rethrows the communication thread's error.
  // Throws Timeout if the buckets are not all marked and reduced within the timeout.
  void wait();

  // Of the last completed step: seconds spent inside all-reduce calls, and seconds wait()
  // blocked (communication that backward did not hide).
  double comm_seconds() const { return comm_seconds_; }
  double wait_seconds() const { return wait_seconds_; }

 private:
  void loop() noexcept;

  Communicator& comm_;
  std::span<float> grads_;
  GradSyncOptions options_;
  std::vector<GradBucket> buckets_;
  std::vector<std::size_t> bucket_of_layer_;
  Allreducer reducer_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool step_open_ = false;
  bool stopping_ = false;
  std::vector<char> ready_;               // per bucket
  std::vector<std::size_t> layers_left_;  // per bucket, layers not yet marked
  std::vector<char> layer_marked_;
  std::size_t next_ = 0;  // next bucket to all-reduce
  std::exception_ptr error_;
  double comm_seconds_ = 0, wait_seconds_ = 0, step_comm_seconds_ = 0;
  std::thread thread_;
};

}  // namespace dojo::comm
