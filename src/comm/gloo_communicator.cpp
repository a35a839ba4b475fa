#include "comm/gloo_communicator.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <deque>
#include <map>

#include <gloo/allgather.h>
#include <gloo/allreduce_ring.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "comm/mpi_communicator.hpp"

namespace dojo::comm {
namespace {

// A gloo rendezvous store backed by MPI. gloo's connectFullMesh is not symmetric (rank r
// reads the host names of ranks below it only), so a collective exchange per get() would
// deadlock. Instead every set() is sent to every other rank at once (MPI_Isend on a
// private duplicate communicator), and get() receives whatever arrives until its key is
// there. finish() receives the messages nobody asked for, so no send is left pending.
class MpiBroadcastStore final : public gloo::rendezvous::Store {
 public:
  MpiBroadcastStore(MpiCommunicator& comm, Millis timeout)
      : rank_(comm.rank()), size_(comm.size()), timeout_(timeout) {
    check_mpi(MPI_Comm_dup(comm.handle(), &comm_), "gloo rendezvous: MPI_Comm_dup");
  }
  ~MpiBroadcastStore() override {
    for (auto& r : sends_) MPI_Request_free(&r);
    MPI_Comm_free(&comm_);
  }

  void set(const std::string& key, const std::vector<char>& data) override {
    known_[key] = data;
    auto& message = outbox_.emplace_back(key.begin(), key.end());
    message.push_back('\0');
    message.insert(message.end(), data.begin(), data.end());
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Isend(message.data(), static_cast<int>(message.size()), MPI_CHAR, peer, kTag,
                          comm_, &request),
                "gloo rendezvous: MPI_Isend");
      sends_.push_back(request);
    }
    ++sets_;
  }
  std::vector<char> get(const std::string& key) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (known_.count(key) == 0) {
      DOJO_CHECK(std::chrono::steady_clock::now() < deadline, Timeout,
                 "rank {}: gloo rendezvous: key '{}' not published within {} ms", rank_, key,
                 timeout_.count());
      receive_one(deadline);
    }
    return known_[key];
  }
  void wait(const std::vector<std::string>& keys) override {
    for (const auto& key : keys) (void)get(key);
  }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override {
    wait(keys);
  }

  // Collective: drains the messages this rank never asked for and completes its sends.
  void finish() {
    long long mine = sets_, total = 0;
    check_mpi(MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, comm_),
              "gloo rendezvous: MPI_Allreduce");
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (received_ < total - mine) receive_one(deadline);
    check_mpi(MPI_Waitall(static_cast<int>(sends_.size()), sends_.data(), MPI_STATUSES_IGNORE),
              "gloo rendezvous: MPI_Waitall");
    sends_.clear();
  }

 private:
  static constexpr int kTag = 77;

  void receive_one(std::chrono::steady_clock::time_point deadline) {
    int flag = 0;
    MPI_Status status;
    while (!flag) {
      check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, kTag, comm_, &flag, &status),
                "gloo rendezvous: MPI_Iprobe");
      DOJO_CHECK(flag || std::chrono::steady_clock::now() < deadline, Timeout,
                 "rank {}: gloo rendezvous: peers silent for {} ms", rank_, timeout_.count());
    }
    int count = 0;
    MPI_Get_count(&status, MPI_CHAR, &count);
    std::vector<char> message(static_cast<std::size_t>(count));
    check_mpi(MPI_Recv(message.data(), count, MPI_CHAR, status.MPI_SOURCE, kTag, comm_,
                       MPI_STATUS_IGNORE),
              "gloo rendezvous: MPI_Recv");
    const auto zero = std::find(message.begin(), message.end(), '\0');
    known_[std::string(message.begin(), zero)] =
        std::vector<char>(zero == message.end() ? zero : zero + 1, message.end());
    ++received_;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_, size_;
  Millis timeout_;
  std::map<std::string, std::vector<char>> known_;
  std::deque<std::vector<char>> outbox_;  // stable addresses for pending sends
  std::vector<MPI_Request> sends_;
  long long sets_ = 0, received_ = 0;
};

gloo::transport::tcp::attr device_attr() {
  gloo::transport::tcp::attr attr;
  if (const char* iface = std::getenv("DOJO_GLOO_IFACE")) {
    attr.iface = iface;
  } else if (const char* host = std::getenv("DOJO_GLOO_HOSTNAME")) {
    attr.hostname = host;
  } else {
    char name[HOST_NAME_MAX + 1] = {};
    ::gethostname(name, sizeof(name) - 1);
    attr.hostname = name;
  }
  return attr;
}

// Runs a gloo call, translating its exceptions into dojo's.
template <typename F>
void guarded(std::string_view what, int rank, int peer, F&& f) {
  try {
    f();
  } catch (const gloo::IoException& e) {
    const std::string message = e.what();
    const bool timed_out = message.find("imed out") != std::string::npos ||
                           message.find("imeout") != std::string::npos;
    const std::string text =
        fmt::format("rank {}: gloo {}{}: {}", rank, what,
                    peer >= 0 ? fmt::format(" with rank {}", peer) : "", message);
    if (timed_out) throw Timeout(text, peer);
    throw CommError(text, peer);
  } catch (const gloo::Exception& e) {
    throw CommError(fmt::format("rank {}: gloo {}: {}", rank, what, e.what()), peer);
  }
}

class GlooRequest final : public RequestImpl {
 public:
  GlooRequest(std::unique_ptr<gloo::transport::UnboundBuffer> buffer, int peer, bool is_recv,
              int rank)
      : buffer_(std::move(buffer)), peer_(peer), is_recv_(is_recv), rank_(rank) {}
  void wait(Millis timeout, WaitPolicy) override {
    bool ok = true;
    guarded(is_recv_ ? "receive" : "send", rank_, peer_,
            [&] { ok = is_recv_ ? buffer_->waitRecv(timeout) : buffer_->waitSend(timeout); });
    DOJO_CHECK(ok, CommError, "rank {}: gloo {} with rank {} was aborted", rank_,
               is_recv_ ? "receive" : "send", peer_);
  }
  int peer() const override { return peer_; }

 private:
  std::unique_ptr<gloo::transport::UnboundBuffer> buffer_;
  int peer_;
  bool is_recv_;
  int rank_;
};

}  // namespace

struct GlooCommunicator::State {
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> context;
  // gloo's ring sets up its buffers in the constructor; keep one per (pointer, count) so
  // repeated all-reduces of one gradient buffer pay that once, as gloo intends.
  std::map<std::pair<float*, std::size_t>, std::unique_ptr<gloo::AllreduceRing<float>>> rings;
};

GlooCommunicator::GlooCommunicator(MpiCommunicator& bootstrap, Millis timeout)
    : state_(std::make_unique<State>()) {
  set_timeout(timeout);
  guarded("device setup", bootstrap.rank(), -1,
          [&] { state_->device = gloo::transport::tcp::CreateDevice(device_attr()); });
  state_->context = std::make_shared<gloo::rendezvous::Context>(bootstrap.rank(), bootstrap.size());
  state_->context->setTimeout(timeout);
  MpiBroadcastStore store(bootstrap, timeout);
  guarded("rendezvous", bootstrap.rank(), -1,
          [&] { state_->context->connectFullMesh(store, state_->device); });
  store.finish();
}

GlooCommunicator::~GlooCommunicator() = default;

int GlooCommunicator::rank() const {
  return state_->context->rank;
}
int GlooCommunicator::size() const {
  return state_->context->size;
}

Request GlooCommunicator::isend(std::span<const std::byte> data, int peer, int tag) {
  auto buffer =
      state_->context->createUnboundBuffer(const_cast<std::byte*>(data.data()), data.size());
  guarded("send", rank(), peer, [&] { buffer->send(peer, static_cast<std::uint64_t>(tag)); });
  return Request(std::make_unique<GlooRequest>(std::move(buffer), peer, false, rank()));
}

Request GlooCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  auto buffer = state_->context->createUnboundBuffer(data.data(), data.size());
  guarded("receive", rank(), peer, [&] { buffer->recv(peer, static_cast<std::uint64_t>(tag)); });
  return Request(std::make_unique<GlooRequest>(std::move(buffer), peer, true, rank()));
}

void GlooCommunicator::barrier() {
  gloo::BarrierOptions opts(state_->context);
  opts.setTimeout(timeout());
  guarded("barrier", rank(), -1, [&] { gloo::barrier(opts); });
}

void GlooCommunicator::broadcast(std::span<std::byte> data, int root) {
  if (data.empty()) return;
  gloo::BroadcastOptions opts(state_->context);
  opts.setRoot(root);
  opts.setOutput(reinterpret_cast<std::uint8_t*>(data.data()), data.size());
  opts.setTimeout(timeout());
  guarded("broadcast", rank(), root, [&] { gloo::broadcast(opts); });
}

std::vector<std::byte> GlooCommunicator::all_gather(std::span<const std::byte> mine) {
  std::vector<std::byte> out(mine.size() * static_cast<std::size_t>(size()));
  if (mine.empty()) return out;
  gloo::AllgatherOptions opts(state_->context);
  opts.setInput(const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(mine.data())),
                mine.size());
  opts.setOutput(reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  opts.setTimeout(timeout());
  guarded("all-gather", rank(), -1, [&] { gloo::allgather(opts); });
  return out;
}

void GlooCommunicator::native_allreduce(std::span<float> data, ReduceOp op) {
  if (data.empty() || size() == 1) {
    if (op == ReduceOp::kAverage && size() > 1) {
      for (float& x : data) x /= static_cast<float>(size());
    }
    return;
  }
  DOJO_CHECK(data.size() <= static_cast<std::size_t>(INT_MAX), InvalidArgument,
             "gloo all-reduce: {} elements exceed gloo's int count", data.size());
  auto& ring = state_->rings[{data.data(), data.size()}];
  if (!ring) {
    guarded("all-reduce setup", rank(), -1, [&] {
      ring = std::make_unique<gloo::AllreduceRing<float>>(
          state_->context, std::vector<float*>{data.data()}, static_cast<int>(data.size()));
    });
  }
  guarded("all-reduce", rank(), -1, [&] { ring->run(); });
  if (op == ReduceOp::kAverage) {
    const float n = static_cast<float>(size());
    for (float& x : data) x /= n;
  }
}

}  // namespace dojo::comm
