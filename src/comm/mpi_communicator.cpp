#include "comm/mpi_communicator.hpp"

#include <chrono>
#include <climits>
#include <thread>

#include <sched.h>

#include "comm/poll.hpp"

namespace dojo::comm {
namespace {

// MPI counts are int: larger messages go as several pieces of at most this many bytes.
constexpr std::size_t kMaxPieceBytes = std::size_t{1} << 30;

int to_int_count(std::size_t bytes, std::string_view what) {
  DOJO_CHECK(bytes <= static_cast<std::size_t>(INT_MAX), InvalidArgument,
             "{}: {} bytes exceed MPI's int count limit; split the message", what, bytes);
  return static_cast<int>(bytes);
}

// Polls `request` to completion; false when `timeout` passed first. Throws CommError on
// an MPI error; `describe()` names the operation and is only called on failure, so the
// hot path formats nothing.
template <typename Describe>
bool wait_request(MPI_Request& request, Millis timeout, WaitPolicy policy, Describe describe) {
  int rc = MPI_SUCCESS;
  const bool done = poll_until(
      [&] {
        int flag = 0;
        rc = MPI_Test(&request, &flag, MPI_STATUS_IGNORE);
        return rc != MPI_SUCCESS || flag != 0;
      },
      timeout, policy);
  if (rc != MPI_SUCCESS) check_mpi(rc, describe());
  return done;
}

class MpiRequest final : public RequestImpl {
 public:
  MpiRequest(MPI_Request request, const Communicator& comm, int peer, int tag, bool is_recv)
      : request_(request), comm_(comm), peer_(peer), tag_(tag), is_recv_(is_recv) {}
  ~MpiRequest() override {
    if (request_ != MPI_REQUEST_NULL) {
      // Only reached on an error path: the job is ending, free what we can.
      MPI_Cancel(&request_);
      MPI_Request_free(&request_);
    }
  }
  void wait(Millis timeout, WaitPolicy policy) override {
    const auto describe = [&] {
      return fmt::format("{}: {} {} (tag {})", comm_.describe_rank(comm_.rank()),
                         is_recv_ ? "receive from" : "send to", comm_.describe_rank(peer_), tag_);
    };
    if (!wait_request(request_, timeout, policy, describe)) {
      throw Timeout(fmt::format("{} did not complete within {} ms; {} may be stopped, dead or "
                                "out of step",
                                describe(), timeout.count(), comm_.describe_rank(peer_)),
                    peer_);
    }
  }
  int peer() const override { return peer_; }

 private:
  MPI_Request request_;
  const Communicator& comm_;
  int peer_, tag_;
  bool is_recv_;
};

}  // namespace

void check_mpi(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw CommError(fmt::format("{}: {}", what, std::string_view(text, length)));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, Millis timeout) {
  set_timeout(timeout);
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
  // Non-blocking duplicate, so a peer that never arrives is a Timeout here too.
  MPI_Request dup = MPI_REQUEST_NULL;
  check_mpi(MPI_Comm_idup(comm, &comm_, &dup), "MPI_Comm_idup");
  DOJO_CHECK(wait_request(dup, timeout, WaitPolicy::kLowLatency, [] { return "MPI_Comm_idup"; }),
             Timeout,
             "rank {}: creating a communicator of {} ranks (MPI_Comm_idup) did not complete "
             "within {} ms; a rank did not start or is stopped",
             rank_, size_, timeout.count());
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  gather_hosts();
  int* tag_ub = nullptr;
  int found = 0;
  MPI_Comm_get_attr(comm_, MPI_TAG_UB, &tag_ub, &found);
  DOJO_CHECK(found && *tag_ub >= kInternalTag + 64, CommError,
             "this MPI library allows tags up to {}, dojo needs {}", found ? *tag_ub : -1,
             kInternalTag + 64);
}

// Every rank's host name, once, for error messages (fixed-size records, one Iallgather).
void MpiCommunicator::gather_hosts() {
  constexpr std::size_t kRecord = 256;
  std::string mine = this_host_name();
  mine.resize(kRecord - 1);
  std::vector<char> all(kRecord * static_cast<std::size_t>(size_));
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Iallgather(mine.c_str(), static_cast<int>(kRecord), MPI_CHAR, all.data(),
                           static_cast<int>(kRecord), MPI_CHAR, comm_, &request),
            "MPI_Iallgather (host names)");
  if (!wait_request(request, timeout(), WaitPolicy::kLowLatency,
                    [] { return "MPI_Iallgather (host names)"; })) {
    throw Timeout(fmt::format("rank {} (host {}): gathering host names of {} ranks did not "
                              "complete within {} ms; a rank did not start or is stopped",
                              rank_, this_host_name(), size_, timeout().count()));
  }
  std::vector<std::string> hosts;
  for (int r = 0; r < size_; ++r) hosts.emplace_back(all.data() + kRecord * r);
  set_hosts(std::move(hosts));
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
  return Request(std::make_unique<MpiRequest>(request, *this, peer, tag, false));
}

Request MpiCommunicator::irecv(std::span<std::byte> data, int peer, int tag) {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Irecv(data.data(), to_int_count(data.size(), "irecv"), MPI_BYTE, peer, tag, comm_,
                      &request),
            fmt::format("rank {}: MPI_Irecv from rank {}", rank_, peer));
  return Request(std::make_unique<MpiRequest>(request, *this, peer, tag, true));
}

void MpiCommunicator::wait_collective(MPI_Request& request, std::string_view what) {
  const auto describe = [&] { return fmt::format("{}: {}", describe_rank(rank_), what); };
  if (!wait_request(request, timeout(), wait_policy(), describe)) throw collective_timeout(what);
}

void MpiCommunicator::barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
  wait_collective(request, "barrier (MPI_Ibarrier)");
}

void MpiCommunicator::broadcast(std::span<std::byte> data, int root) {
  for (std::size_t offset = 0; offset < data.size(); offset += kMaxPieceBytes) {
    const std::size_t piece = std::min(kMaxPieceBytes, data.size() - offset);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(
        MPI_Ibcast(data.data() + offset, static_cast<int>(piece), MPI_BYTE, root, comm_, &request),
        "MPI_Ibcast");
    wait_collective(request, fmt::format("broadcast from rank {} (MPI_Ibcast)", root));
  }
}

std::vector<std::byte> MpiCommunicator::all_gather(std::span<const std::byte> mine) {
  std::vector<std::byte> out(mine.size() * static_cast<std::size_t>(size_));
  const int count = to_int_count(mine.size(), "all_gather");
  MPI_Request request = MPI_REQUEST_NULL;
  check_mpi(
      MPI_Iallgather(mine.data(), count, MPI_BYTE, out.data(), count, MPI_BYTE, comm_, &request),
      "MPI_Iallgather");
  wait_collective(request, "all-gather (MPI_Iallgather)");
  return out;
}

void MpiCommunicator::native_allreduce(std::span<float> data, ReduceOp op) {
  constexpr std::size_t kMaxPieceElems = kMaxPieceBytes / sizeof(float);
  for (std::size_t offset = 0; offset < data.size(); offset += kMaxPieceElems) {
    const std::size_t piece = std::min(kMaxPieceElems, data.size() - offset);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data.data() + offset, static_cast<int>(piece),
                             MPI_FLOAT, MPI_SUM, comm_, &request),
              fmt::format("{}: MPI_Iallreduce", describe_rank(rank_)));
    wait_collective(request, fmt::format("all-reduce of {} floats (MPI_Iallreduce)", piece));
  }
  if (op == ReduceOp::kAverage) {
    const float n = static_cast<float>(size_);
    for (float& x : data) x /= n;
  }
}

}  // namespace dojo::comm
