#include "comm/gloo_communicator.hpp"

#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <deque>
#include <map>

#include <gloo/allreduce.h>
#include <gloo/common/error.h>
#include <gloo/common/logging.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "comm/mpi_communicator.hpp"
#include "comm/tcp_rendezvous.hpp"

namespace dojo::comm {
namespace {

// A gloo rendezvous store backed by MPI. gloo's connectFullMesh is not symmetric (rank r
// reads the host names of ranks below it only), so a collective exchange per get() would
// deadlock. Instead every set() is sent to every other rank at once (MPI_Isend on a
// private duplicate communicator), and get() receives whatever arrives until its key is
// there. finish() receives the messages nobody asked for, so no send is left pending.
// Every wait has the deadline given.
class MpiBroadcastStore final : public gloo::rendezvous::Store {
 public:
  MpiBroadcastStore(MpiCommunicator& comm, Millis timeout)
      : comm_(comm.handle(), timeout), rank_(comm.rank()), size_(comm.size()) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    known_[key] = data;
    auto& message = outbox_.emplace_back();
    for (char c : key) message.push_back(static_cast<std::byte>(c));
    message.push_back(std::byte{0});
    for (char c : data) message.push_back(static_cast<std::byte>(c));
    for (int peer = 0; peer < size_; ++peer) {
      if (peer != rank_) sends_.push_back(comm_.isend(message, peer, kTag));
    }
    ++sets_;
  }
  std::vector<char> get(const std::string& key) override {
    const auto deadline = std::chrono::steady_clock::now() + comm_.timeout();
    while (known_.count(key) == 0) receive_one(deadline, key);
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
    const auto sets = all_gather_value<long long>(comm_, sets_);
    long long total = 0;
    for (long long n : sets) total += n;
    const auto deadline = std::chrono::steady_clock::now() + comm_.timeout();
    while (received_ < total - sets_) receive_one(deadline, "(the rest)");
    for (auto& s : sends_) comm_.wait(s);
    sends_.clear();
  }

 private:
  static constexpr int kTag = 77;

  void receive_one(std::chrono::steady_clock::time_point deadline, const std::string& key) {
    int flag = 0;
    MPI_Status status;
    while (!flag) {
      check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, kTag, comm_.handle(), &flag, &status),
                "gloo rendezvous: MPI_Iprobe");
      if (!flag && std::chrono::steady_clock::now() >= deadline) {
        throw Timeout(fmt::format("{}: gloo rendezvous over MPI: key '{}' not published within "
                                  "{} ms; a rank did not reach it or is stopped",
                                  comm_.describe_rank(rank_), key, comm_.timeout().count()));
      }
      if (!flag) sched_yield();
    }
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::vector<std::byte> message(static_cast<std::size_t>(count));
    Request r = comm_.irecv(message, status.MPI_SOURCE, kTag);
    comm_.wait(r);
    const auto zero = std::find(message.begin(), message.end(), std::byte{0});
    std::string name;
    for (auto it = message.begin(); it != zero; ++it) name.push_back(static_cast<char>(*it));
    std::vector<char> value;
    for (auto it = zero == message.end() ? zero : zero + 1; it != message.end(); ++it) {
      value.push_back(static_cast<char>(*it));
    }
    known_[name] = std::move(value);
    ++received_;
  }

  MpiCommunicator comm_;
  int rank_, size_;
  std::map<std::string, std::vector<char>> known_;
  std::deque<std::vector<std::byte>> outbox_;  // stable addresses for pending sends
  std::vector<Request> sends_;
  long long sets_ = 0, received_ = 0;
};

// gloo's store interface over dojo's TCP rendezvous. gloo's keys are rank numbers (each
// rank publishes its transport addresses under its own), so a missing key names a rank.
class TcpStoreAdapter final : public gloo::rendezvous::Store {
 public:
  explicit TcpStoreAdapter(TcpRendezvous& store) : store_(store) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    store_.set("gloo/" + key, data);
  }
  std::vector<char> get(const std::string& key) override {
    const std::string rank = key.substr(key.rfind('/') + 1);  // after a PrefixStore's prefix
    return store_.get("gloo/" + key, store_.timeout(),
                      fmt::format("'{}' (rank {} to publish its gloo address)", key, rank));
  }
  void wait(const std::vector<std::string>& keys) override {
    for (const auto& key : keys) (void)get(key);
  }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override {
    wait(keys);
  }

 private:
  TcpRendezvous& store_;
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

// Runs a gloo call, translating its exceptions into dojo's. `peer` is the rank the call
// talks to, or -1 for a collective (then `who` says which ranks it waits for).
template <typename F>
void guarded(const Communicator& comm, std::string_view what, int peer, const std::string& who,
             F&& f) {
  try {
    f();
  } catch (const gloo::IoException& e) {
    const std::string message = e.what();
    const bool timed_out = message.find("imed out") != std::string::npos ||
                           message.find("imeout") != std::string::npos;
    const std::string text = fmt::format(
        "{}: gloo {} {}: {}{}", comm.describe_rank(comm.rank()), what,
        peer >= 0 ? comm.describe_rank(peer) : who, message,
        timed_out ? fmt::format(" (timeout {} ms); the peer may be stopped, dead or out of step",
                                comm.timeout().count())
                  : std::string());
    if (timed_out) throw Timeout(text, peer);
    throw CommError(text, peer);
  } catch (const gloo::Exception& e) {
    throw CommError(fmt::format("{}: gloo {}: {}", comm.describe_rank(comm.rank()), what,
                                e.what()),
                    peer);
  } catch (const gloo::EnforceNotMet& e) {
    // gloo's own invariant checks fire on transport states a lost peer leaves behind.
    throw CommError(fmt::format("{}: gloo {}: {}", comm.describe_rank(comm.rank()), what,
                                e.what()),
                    peer);
  }
}

class GlooRequest final : public RequestImpl {
 public:
  GlooRequest(std::unique_ptr<gloo::transport::UnboundBuffer> buffer, const Communicator& comm,
              int peer, bool is_recv)
      : buffer_(std::move(buffer)), comm_(comm), peer_(peer), is_recv_(is_recv) {}
  void wait(Millis timeout, WaitPolicy) override {
    bool ok = true;
    guarded(comm_, is_recv_ ? "receive from" : "send to", peer_, "", [&] {
      ok = is_recv_ ? buffer_->waitRecv(timeout) : buffer_->waitSend(timeout);
    });
    DOJO_CHECK(ok, CommError, "{}: gloo {} {} was aborted", comm_.describe_rank(comm_.rank()),
               is_recv_ ? "receive from" : "send to", comm_.describe_rank(peer_));
  }
  int peer() const override { return peer_; }

 private:
  std::unique_ptr<gloo::transport::UnboundBuffer> buffer_;
  const Communicator& comm_;
  int peer_;
  bool is_recv_;
};

}  // namespace

struct GlooCommunicator::State {
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> context;
};

void GlooCommunicator::connect(int rank, int size, gloo::rendezvous::Store& store,
                               std::vector<std::string> hosts) {
  state_->context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  set_hosts(std::move(hosts));
  // gloo's pairs keep the timeout they were made with (it bounds their connect); every
  // later wait passes the communicator's timeout() itself.
  state_->context->setTimeout(timeout());
  guarded(*this, "device setup", -1, "", [&] {
    state_->device = gloo::transport::tcp::CreateDevice(device_attr());
  });
  guarded(*this, "rendezvous", -1, "(connecting to every rank)",
          [&] { state_->context->connectFullMesh(store, state_->device); });
  auto roll_call = std::make_unique<State>();
  roll_call->device = state_->device;
  roll_call->context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  roll_call->context->setTimeout(timeout());
  gloo::rendezvous::PrefixStore prefixed("roll-call", store);
  guarded(*this, "rendezvous", -1, "(connecting the roll-call pairs to every rank)",
          [&] { roll_call->context->connectFullMesh(prefixed, roll_call->device); });
  std::vector<std::string> names;
  for (int r = 0; r < size; ++r) names.push_back(host_of(r));
  roll_call_.reset(new GlooCommunicator(std::move(roll_call), std::move(names), timeout()));
}

GlooCommunicator::GlooCommunicator(std::unique_ptr<State> state, std::vector<std::string> hosts,
                                   Millis timeout)
    : state_(std::move(state)) {
  set_timeout(timeout);
  set_hosts(std::move(hosts));
}

Communicator& GlooCommunicator::roll_call_channel() {
  return roll_call_ ? *roll_call_ : *this;
}

GlooCommunicator::GlooCommunicator(MpiCommunicator& bootstrap, Millis timeout)
    : state_(std::make_unique<State>()) {
  set_timeout(timeout);
  std::vector<std::string> hosts;
  for (int r = 0; r < bootstrap.size(); ++r) hosts.push_back(bootstrap.host_of(r));
  MpiBroadcastStore store(bootstrap, timeout);
  connect(bootstrap.rank(), bootstrap.size(), store, std::move(hosts));
  store.finish();
}

GlooCommunicator::GlooCommunicator(TcpRendezvous& rendezvous)
    : state_(std::make_unique<State>()) {
  set_timeout(rendezvous.timeout());
  const int n = rendezvous.size();
  const std::string me = this_host_name();
  rendezvous.set(fmt::format("host/{}", rendezvous.rank()), std::vector<char>(me.begin(), me.end()));
  std::vector<std::string> hosts;
  for (int r = 0; r < n; ++r) {
    const auto name = rendezvous.get(fmt::format("host/{}", r), timeout(),
                                     fmt::format("rank {} to join", r));
    hosts.emplace_back(name.begin(), name.end());
  }
  TcpStoreAdapter store(rendezvous);
  connect(rendezvous.rank(), n, store, std::move(hosts));
  // Nobody leaves before every rank is done with the store: then rank 0 may stop serving.
  barrier();
  rendezvous.close();
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
  guarded(*this, "send to", peer, "", [&] { buffer->send(peer, static_cast<std::uint64_t>(tag)); });
  return Request(std::make_unique<GlooRequest>(std::move(buffer), *this, peer, false));
}

Request GlooCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  auto buffer = state_->context->createUnboundBuffer(data.data(), data.size());
  guarded(*this, "receive from", peer, "",
          [&] { buffer->recv(peer, static_cast<std::uint64_t>(tag)); });
  return Request(std::make_unique<GlooRequest>(std::move(buffer), *this, peer, true));
}

void GlooCommunicator::native_allreduce(std::span<float> data, ReduceOp op) {
  if (data.empty() || size() == 1) {
    if (op == ReduceOp::kAverage && size() > 1) divide(data);
    return;
  }
  gloo::AllreduceOptions opts(state_->context);
  opts.setOutput(data.data(), data.size());
  opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
  opts.setReduceFunction(
      static_cast<void (*)(void*, const void*, const void*, std::size_t)>(&gloo::sum<float>));
  opts.setTimeout(timeout());
  // A ring cannot tell which rank stalled it: name the other rank of a pair, else all.
  std::vector<int> others;
  for (int r = 0; r < size(); ++r) {
    if (r != rank()) others.push_back(r);
  }
  try {
    guarded(*this, "all-reduce (ring)", size() == 2 ? others.front() : -1,
            "waiting for one of " + describe_ranks(others), [&] { gloo::allreduce(opts); });
  } catch (const Timeout& e) {
    throw with_roll_call(e);
  } catch (const CommError& e) {
    throw with_roll_call(e);  // closed by a neighbour whose own wait timed out
  }
  if (op == ReduceOp::kAverage) divide(data);
}

void GlooCommunicator::divide(std::span<float> data) const {
  const float n = static_cast<float>(size());
  for (float& x : data) x /= n;
}

}  // namespace dojo::comm
