#pragma once
// Communicator: one rank's view of a group of ranks. Point-to-point messages, barrier,
// broadcast and all-gather of small values; the all-reduce algorithms (allreduce.hpp)
// are built on top of the point-to-point calls.
//
// Backends (one file each): MPI (mpi_communicator.hpp), gloo over TCP bootstrapped
// through MPI (gloo_communicator.hpp), and ranks-as-threads in one process
// (local_communicator.hpp) for tests over many rank counts.
//
// Every blocking call has a deadline of timeout() (default 5 minutes). A peer that does
// not answer in time produces dojo::Timeout naming it and its host; a failed transport
// produces dojo::CommError naming it. Where a backend's own collective cannot tell which
// peer is missing, the error names the ranks that did not answer a roll call (see
// roll_call()). A communicator object is used by one thread at a time.
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace dojo::comm {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{300'000};
inline constexpr int kMaxUserTag = (1 << 20) - 1;
inline constexpr int kInternalTag = 1 << 20;  // tags used by the default collectives

enum class ReduceOp { kSum, kAverage };

// How a backend that polls (MPI) waits for a transfer. kLowLatency spins briefly, then
// yields the core (sched_yield) so an oversubscribed peer can run, then naps; it is the
// right choice when the caller has nothing else to do. kBackground spins briefly, then
// naps with backoff, so a communication thread leaves the cores to compute (GradSync).
enum class WaitPolicy { kLowLatency, kBackground };

// A pending isend/irecv. Move-only; wait() on its communicator completes it. A request
// that is destroyed before completion is cancelled where the backend allows (and must
// not be destroyed while the peer may still write into its buffer).
class RequestImpl {
 public:
  virtual ~RequestImpl() = default;
  // Blocks until the transfer has completed; throws Timeout after `timeout`.
  virtual void wait(Millis timeout, WaitPolicy policy) = 0;
  virtual int peer() const = 0;
};

class Request {
 public:
  Request() = default;
  explicit Request(std::unique_ptr<RequestImpl> impl) : impl_(std::move(impl)) {}
  bool pending() const { return impl_ != nullptr; }
  // Completes the request (no-op if none is pending).
  void wait(Millis timeout, WaitPolicy policy = WaitPolicy::kLowLatency) {
    if (impl_) {
      impl_->wait(timeout, policy);
      impl_.reset();
    }
  }

 private:
  std::unique_ptr<RequestImpl> impl_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string_view backend() const = 0;  // "mpi", "gloo", "local"

  // The host `rank` runs on, as gathered when the communicator was made.
  const std::string& host_of(int rank) const;
  // "rank 3 (host node07)", for messages.
  std::string describe_rank(int rank) const;
  // "rank 1 (host a), rank 2 (host b)", for messages; "none" when empty.
  std::string describe_ranks(const std::vector<int>& ranks) const;

  Millis timeout() const { return timeout_; }
  void set_timeout(Millis timeout) { timeout_ = timeout; }
  WaitPolicy wait_policy() const { return wait_policy_; }
  void set_wait_policy(WaitPolicy policy) { wait_policy_ = policy; }

  // Non-blocking point-to-point. The buffer must stay valid until the request is waited
  // on. Messages from one sender to one receiver with the same tag arrive in order; a
  // receive must name the exact size the sender sends. Tags are in [0, 2^20).
  virtual Request isend(std::span<const std::byte> data, int peer, int tag) = 0;
  virtual Request irecv(std::span<std::byte> data, int peer, int tag) = 0;
  void wait(Request& request) { request.wait(timeout_, wait_policy_); }

  // Collectives. The defaults are built on isend/irecv with reserved tags (>= kInternalTag)
  // and name the rank a timeout waited for (confirmed by a roll call); backends override
  // them with their own when they have better ones.
  virtual void barrier();
  // Copies `data` from `root` into every other rank's `data` (same size on every rank).
  virtual void broadcast(std::span<std::byte> data, int root);
  // Every rank passes the same number of bytes; returns size() * mine.size() bytes,
  // rank r's contribution at offset r * mine.size().
  virtual std::vector<std::byte> all_gather(std::span<const std::byte> mine);

  // The backend's own all-reduce (MPI_Allreduce, gloo's ring) when it has one;
  // `has_native_allreduce()` tells. Used by the "mpi" and "gloo" algorithms.
  virtual bool has_native_allreduce() const { return false; }
  virtual void native_allreduce(std::span<float> data, ReduceOp op);

  // For the error path of a collective that timed out without saying which peer it
  // waited for: every rank that calls it sends a token to every other rank and waits up
  // to `grace` for theirs; returns the ranks whose token did not arrive (ascending).
  // Ranks stuck in the same collective reach their own deadline and answer too, so what
  // is left is the ranks that are stopped, dead, or elsewhere. A `suspect` (the peer an
  // error named) is asked first: when its connection fails rather than stays silent, it
  // is dead, and the answer {suspect} comes at once instead of after `grace`. Never throws.
  std::vector<int> roll_call(Millis grace, int suspect = -1) noexcept;
  // The same for a transport failure met inside a collective: on gloo, one rank's timeout
  // closes its connections, so its neighbours see "connection closed" while the rank that
  // is really silent is further along the ring.
  CommError with_roll_call(const CommError& error);
  // The Timeout a collective `what` throws when it ran past its deadline: names the one
  // peer of a 2-rank world, else the roll call's silent ranks.
  Timeout collective_timeout(std::string_view what);
  // For a Timeout met inside a collective built on point-to-point calls, where the peer
  // waited for may itself be waiting for the stopped one: the same error with the roll
  // call's silent ranks added. Unchanged in a world of 2 (the peer is exact there).
  Timeout with_roll_call(const Timeout& error);

 protected:
  // Backends call this once from their constructor (index = rank).
  void set_hosts(std::vector<std::string> hosts);
  // Where roll_call() sends its tokens: this communicator, unless a timeout can leave its
  // transport unusable (gloo closes every pair of a context when one wait times out).
  virtual Communicator& roll_call_channel() { return *this; }

 private:
  void dissemination_barrier();
  void tree_broadcast(std::span<std::byte> data, int root);
  std::vector<std::byte> direct_all_gather(std::span<const std::byte> mine);
  // "; a roll call of all ranks found no answer from ..." and the one silent rank (or
  // `peer` when there is not exactly one).
  std::pair<std::string, int> roll_call_finding(int peer);

  Millis timeout_ = kDefaultTimeout;
  std::vector<std::string> hosts_;
  WaitPolicy wait_policy_ = WaitPolicy::kLowLatency;
};

// Typed conveniences over the byte-level calls.
template <typename T>
std::vector<T> all_gather_value(Communicator& comm, const T& mine) {
  static_assert(std::is_trivially_copyable_v<T>);
  auto bytes = comm.all_gather(std::as_bytes(std::span(&mine, 1)));
  std::vector<T> out(static_cast<std::size_t>(comm.size()));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

template <typename T>
void broadcast_span(Communicator& comm, std::span<T> data, int root) {
  static_assert(std::is_trivially_copyable_v<T>);
  comm.broadcast(std::as_writable_bytes(data), root);
}

// `root`'s text on every rank (its size, then its bytes); the other ranks' `text` is
// ignored.
std::string broadcast_string(Communicator& comm, std::string text, int root = 0);

// Variable-size gather of byte strings to every rank (two all-gathers: sizes, then
// payloads padded to the largest). For small metadata (manifests, config hashes).
std::vector<std::vector<std::byte>> all_gather_bytes(Communicator& comm,
                                                     std::span<const std::byte> mine);

// This machine's host name (gethostname), for set_hosts().
std::string this_host_name();

}  // namespace dojo::comm
