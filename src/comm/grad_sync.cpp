#include "comm/grad_sync.hpp"

#include <chrono>

namespace dojo::comm {

GradSync::GradSync(Communicator& comm, std::span<float> grads,
                   const std::vector<LayerRange>& layers, GradSyncOptions options)
    : comm_(comm),
      grads_(grads),
      options_(options),
      buckets_(plan_buckets(layers, grads.size(), options.bucket_bytes)),
      bucket_of_layer_(layers.size()),
      reducer_(comm, options.algorithm) {
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    for (std::size_t l = buckets_[b].first_layer; l <= buckets_[b].last_layer; ++l) {
      bucket_of_layer_[l] = b;
    }
  }
  ready_.assign(buckets_.size(), 0);
  layers_left_.assign(buckets_.size(), 0);
  layer_marked_.assign(layers.size(), 0);
  thread_ = std::thread([this] { loop(); });
}

GradSync::~GradSync() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GradSync::start_step() {
  std::lock_guard lock(mutex_);
  DOJO_ASSERT(!step_open_, "start_step() while a step is open");
  step_open_ = true;
  next_ = 0;
  error_ = nullptr;
  step_comm_seconds_ = 0;
  std::fill(ready_.begin(), ready_.end(), 0);
  std::fill(layer_marked_.begin(), layer_marked_.end(), 0);
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    layers_left_[b] = buckets_[b].last_layer - buckets_[b].first_layer + 1;
  }
}

void GradSync::mark_bucket_ready(std::size_t bucket) {
  {
    std::lock_guard lock(mutex_);
    DOJO_CHECK(bucket < buckets_.size(), InvalidArgument,
               "GradSync: bucket {} does not exist ({} buckets)", bucket, buckets_.size());
    DOJO_ASSERT(step_open_, "mark_bucket_ready({}) outside a step", bucket);
    ready_[bucket] = 1;
  }
  changed_.notify_all();
}

std::optional<std::size_t> GradSync::mark_layer_ready(std::size_t layer) {
  std::optional<std::size_t> bucket_done;
  {
    std::lock_guard lock(mutex_);
    DOJO_CHECK(layer < layer_marked_.size(), InvalidArgument,
               "GradSync: layer {} does not exist ({} layers)", layer, layer_marked_.size());
    DOJO_ASSERT(step_open_, "mark_layer_ready({}) outside a step", layer);
    DOJO_CHECK(!layer_marked_[layer], InvalidArgument,
               "GradSync: layer {} marked ready twice in one step", layer);
    layer_marked_[layer] = 1;
    const std::size_t b = bucket_of_layer_[layer];
    if (--layers_left_[b] == 0) {
      ready_[b] = 1;
      bucket_done = b;
    }
  }
  if (bucket_done) changed_.notify_all();
  return bucket_done;
}

void GradSync::wait() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::unique_lock lock(mutex_);
  DOJO_ASSERT(step_open_, "wait() outside a step");
  const bool finished = changed_.wait_for(
      lock, comm_.timeout(), [&] { return next_ == buckets_.size() || error_ != nullptr; });
  step_open_ = false;
  wait_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
  comm_seconds_ = step_comm_seconds_;
  if (error_) std::rethrow_exception(error_);
  if (!finished) {
    throw Timeout(
        fmt::format("rank {}: gradient bucket {} of {} was not reduced within {} ms "
                    "(never marked ready, or a peer stopped answering)",
                    comm_.rank(), next_, buckets_.size(), comm_.timeout().count()));
  }
}

void GradSync::loop() noexcept {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] {
      return stopping_ ||
             (step_open_ && error_ == nullptr && next_ < buckets_.size() && ready_[next_]);
    });
    if (stopping_) return;
    const GradBucket bucket = buckets_[next_];
    lock.unlock();
    std::exception_ptr error;
    const auto start = Clock::now();
    // Backward is still computing on this rank's cores: wait without spinning.
    const WaitPolicy policy = comm_.wait_policy();
    comm_.set_wait_policy(WaitPolicy::kBackground);
    try {
      reducer_.run(grads_.subspan(bucket.offset, bucket.count), options_.op);
    } catch (...) {
      error = std::current_exception();
    }
    comm_.set_wait_policy(policy);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    lock.lock();
    step_comm_seconds_ += seconds;
    if (error) {
      error_ = error;
    } else {
      ++next_;
    }
    changed_.notify_all();
  }
}

}  // namespace dojo::comm
