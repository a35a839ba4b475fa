#include "comm/mpi_communicator.hpp"

#include <chrono>
#include <climits>
#include <thread>

#include <sched.h>

namespace dojo::comm {
namespace {

// MPI counts are int: larger messages go as several pieces of at most this many bytes.
constexpr std::size_t kMaxPieceBytes = std::size_t{1} << 30;

int to_int_count(std::size_t bytes, std::string_view what) {
  DOJO_CHECK(bytes <= static_cast<std::size_t>(INT_MAX), InvalidArgument,
             "{}: {} bytes exceed MPI's int count limit; split the message", what, bytes);
  return static_cast<int>(bytes);
}

// Polls `done` until it returns true or `timeout` passes (see WaitPolicy). A message
// between ranks on one host lands within microseconds, so every policy spins first.
template <typename Done>
bool poll_until(Done done, Millis timeout, WaitPolicy policy) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::microseconds;
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  const auto spin_for = microseconds(policy == WaitPolicy::kLowLatency ? 50 : 20);
  const auto yield_for = policy == WaitPolicy::kLowLatency ? microseconds(20'000) : microseconds(0);
  const auto max_nap = microseconds(policy == WaitPolicy::kLowLatency ? 1000 : 200);
  auto nap = microseconds(10);
  for (std::uint64_t polls = 0;; ++polls) {
    if (done()) return true;
    if ((polls & 31) != 0) continue;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    const auto waited = now - start;
    if (waited < spin_for) continue;
    if (waited < spin_for + yield_for) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, max_nap);
    }
  }
}

// Polls `request` to completion. Throws CommError on an MPI error and Timeout naming
// `peer` (-1: a collective, no single peer) after `timeout`. `describe()` names the
// operation; it is only called on failure, so the hot path formats nothing.
template <typename Describe>
void wait_request(MPI_Request& request, Millis timeout, WaitPolicy policy, int peer,
                  Describe describe) {
  int rc = MPI_SUCCESS;
  const bool done = poll_until(
      [&] {
        int flag = 0;
        rc = MPI_Test(&request, &flag, MPI_STATUS_IGNORE);
        return rc != MPI_SUCCESS || flag != 0;
      },
      timeout, policy);
  if (rc != MPI_SUCCESS) check_mpi(rc, describe());
  if (!done) {
    throw Timeout(fmt::format("{} did not complete within {} ms; {} may have died or fallen out "
                              "of step",
                              describe(), timeout.count(),
                              peer >= 0 ? fmt::format("rank {}", peer) : "a peer rank"),
                  peer);
  }
}

class MpiRequest final : public RequestImpl {
 public:
  MpiRequest(MPI_Request request, int peer, int tag, bool is_recv, int rank)
      : request_(request), peer_(peer), tag_(tag), is_recv_(is_recv), rank_(rank) {}
  ~MpiRequest() override {
    if (request_ != MPI_REQUEST_NULL) {
      // Only reached on an error path: the job is ending, free what we can.
      MPI_Cancel(&request_);
      MPI_Request_free(&request_);
    }
  }
  void wait(Millis timeout, WaitPolicy policy) override {
    wait_request(request_, timeout, policy, peer_, [&] {
      return fmt::format("rank {}: {} rank {} (tag {})", rank_,
                         is_recv_ ? "receive from" : "send to", peer_, tag_);
    });
  }
  int peer() const override { return peer_; }

 private:
  MPI_Request request_;
  int peer_, tag_;
  bool is_recv_;
  int rank_;
};

}  // namespace

void check_mpi(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw CommError(fmt::format("{}: {}", what, std::string_view(text, length)));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm) {
  check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  int* tag_ub = nullptr;
  int found = 0;
  MPI_Comm_get_attr(comm_, MPI_TAG_UB, &tag_ub, &found);
  DOJO_CHECK(found && *tag_ub >= kInternalTag + 64, CommError,
             "this MPI library allows tags up to {}, dojo needs {}", found ? *tag_ub : -1,
             kInternalTag + 64);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Request MpiCommunicator::isend(std::span<const std::byte> data, int peer, int tag) {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Isend(data.data(), to_int_count(data.size(), "isend"), MPI_BYTE, peer, tag, comm_,
                      &request),
            fmt::format("rank {}: MPI_Isend to rank {}", rank_, peer));
  return Request(std::make_unique<MpiRequest>(request, peer, tag, false, rank_));
}

Request MpiCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Irecv(data.data(), to_int_count(data.size(), "irecv"), MPI_BYTE, peer, tag, comm_,
                      &request),
            fmt::format("rank {}: MPI_Irecv from rank {}", rank_, peer));
  return Request(std::make_unique<MpiRequest>(request, peer, tag, true, rank_));
}

void MpiCommunicator::wait_collective(MPI_Request& request, int peer, std::string_view what) {
  wait_request(request, timeout(), wait_policy(), peer,
               [&] { return fmt::format("rank {}: {}", rank_, what); });
}

void MpiCommunicator::barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
  wait_collective(request, -1, "barrier");
}

void MpiCommunicator::broadcast(std::span<std::byte> data, int root) {
  for (std::size_t offset = 0; offset < data.size(); offset += kMaxPieceBytes) {
    const std::size_t piece = std::min(kMaxPieceBytes, data.size() - offset);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(
        MPI_Ibcast(data.data() + offset, static_cast<int>(piece), MPI_BYTE, root, comm_, &request),
        "MPI_Ibcast");
    wait_collective(request, root, fmt::format("broadcast from rank {}", root));
  }
}

std::vector<std::byte> MpiCommunicator::all_gather(std::span<const std::byte> mine) {
  std::vector<std::byte> out(mine.size() * static_cast<std::size_t>(size_));
  const int count = to_int_count(mine.size(), "all_gather");
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(
      MPI_Iallgather(mine.data(), count, MPI_BYTE, out.data(), count, MPI_BYTE, comm_, &request),
      "MPI_Iallgather");
  wait_collective(request, -1, "all-gather");
  return out;
}

void MpiCommunicator::native_allreduce(std::span<float> data, ReduceOp op) {
  constexpr std::size_t kMaxPieceElems = kMaxPieceBytes / sizeof(float);
  for (std::size_t offset = 0; offset < data.size(); offset += kMaxPieceElems) {
    const std::size_t piece = std::min(kMaxPieceElems, data.size() - offset);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data.data() + offset, static_cast<int>(piece), MPI_FLOAT,
                            MPI_SUM, comm_),
              fmt::format("rank {}: MPI_Allreduce", rank_));
  }
  if (op == ReduceOp::kAverage) {
    const float n = static_cast<float>(size_);
    for (float& x : data) x /= n;
  }
}

}  // namespace dojo::comm
