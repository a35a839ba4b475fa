#pragma once
// Error agreement: when a rank fails, do the others fail with the same error?
//
// A config error, a missing file or a bad flag is found by every rank at once. Printing it
// N times, then tearing the job down with MPI_Abort (and Open MPI's banners), buries the
// one line the user needs. So main() asks, with a short deadline: rank r > 0 sends rank 0
// the exit code and a hash of its message; rank 0 answers every rank with the verdict
// "all ranks failed alike" or not. When they agree, rank 0 alone prints the message and
// every rank exits with the same code, without MPI_Abort. When they do not (a rank still
// training, a rank dead, different errors), each failing rank prints its own error and the
// job is aborted as before, only `deadline` later.
//
// Uses point-to-point messages on a tag of its own, so a collective that was cut short by
// the error cannot be confused with it.
#include <cstdint>
#include <string_view>

#include "comm/communicator.hpp"

namespace dojo::comm {

// Collective over `world` among the ranks that failed. True when every rank reported the
// same (code, message) within `deadline`. Never throws.
bool ranks_failed_alike(Communicator& world, int code, std::string_view message,
                        Millis deadline) noexcept;

}  // namespace dojo::comm
