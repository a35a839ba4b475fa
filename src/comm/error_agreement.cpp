#include "comm/error_agreement.hpp"

#include <xxhash.h>

#include <array>

namespace dojo::comm {
namespace {

constexpr int kReportTag = kInternalTag + 900;
constexpr int kVerdictTag = kInternalTag + 901;

}  // namespace

bool ranks_failed_alike(Communicator& world, int code, std::string_view message,
                        Millis deadline) noexcept {
  if (world.size() == 1) return true;
  try {
    const std::array<std::uint64_t, 2> mine = {static_cast<std::uint64_t>(code),
                                               XXH64(message.data(), message.size(), 0)};
    if (world.rank() == 0) {
      bool alike = true;
      std::vector<std::array<std::uint64_t, 2>> theirs(static_cast<std::size_t>(world.size()));
      std::vector<Request> receives;
      for (int r = 1; r < world.size(); ++r) {
        receives.push_back(world.irecv(std::as_writable_bytes(std::span(theirs[r])), r, kReportTag));
      }
      for (int r = 1; r < world.size(); ++r) {
        try {
          receives[static_cast<std::size_t>(r - 1)].wait(deadline);
          alike = alike && theirs[static_cast<std::size_t>(r)] == mine;
        } catch (const Error&) {
          alike = false;  // rank r did not report: still working, or gone
        }
      }
      const std::uint64_t verdict = alike ? 1 : 0;
      for (int r = 1; r < world.size(); ++r) {
        Request send = world.isend(std::as_bytes(std::span(&verdict, 1)), r, kVerdictTag);
        try {
          send.wait(Millis(200));
        } catch (const Error&) {
        }
      }
      return alike;
    }
    Request send = world.isend(std::as_bytes(std::span(mine)), 0, kReportTag);
    std::uint64_t verdict = 0;
    Request receive = world.irecv(std::as_writable_bytes(std::span(&verdict, 1)), 0, kVerdictTag);
    send.wait(deadline);
    receive.wait(deadline * 2);
    return verdict == 1;
  } catch (...) {
    return false;
  }
}

}  // namespace dojo::comm
