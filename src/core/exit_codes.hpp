#pragma once
// dojo's exit codes: what a script or a scheduler can tell apart without reading the log.
//
//   0  success (also: stopped by a signal after writing a checkpoint)
//   1  any other error
//   2  bad input: a flag, a config key or value, an argument (InvalidArgument)
//   3  bad data: a file that is not what its format promises (FormatError)
//   4  peer lost: a rank died, stopped answering or disagreed (CommError, Timeout)
//   5  I/O: a file or folder that cannot be read or written (IoError)
//   6  internal: a bug in dojo (InternalError)
#include <exception>
#include <string>

namespace dojo {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitBadData = 3;
inline constexpr int kExitPeerLost = 4;
inline constexpr int kExitIo = 5;
inline constexpr int kExitInternal = 6;

// The exit code for an exception, by its dojo error type (kExitError for anything else).
int exit_code_for(const std::exception& e) noexcept;
// The other way: throws the dojo error whose exit code is `code` with message `what`
// (Error for kExitError and any other code). For an error one rank found and sent to the
// others, so every rank fails alike.
[[noreturn]] void throw_for_exit_code(int code, const std::string& what);

}  // namespace dojo
