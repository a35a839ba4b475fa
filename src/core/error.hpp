#pragma once
// dojo's error hierarchy and its two checks.
//
//   DOJO_CHECK(cond, Type, fmt, args...)  what a user, a file or a peer can get wrong:
//       throws dojo::Type with a message that names the operation, the value received
//       and what was expected.
//   DOJO_ASSERT(cond, fmt, args...)       our own invariants: throws InternalError with
//       the source location. Never compiled out (unlike assert()).
//
// Library code throws; only src/cli/main.cpp turns an error into an exit code.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace dojo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// A value given by the user (flag, config key, argument) is out of its domain.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};
// A file or directory could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};
// A file was read but its contents are not what its format promises.
class FormatError : public Error {
 public:
  using Error::Error;
};
// A peer rank failed, disagreed or disappeared. `peer()` is -1 when unknown.
class CommError : public Error {
 public:
  explicit CommError(const std::string& what, int peer = -1) : Error(what), peer_(peer) {}
  int peer() const noexcept { return peer_; }

 private:
  int peer_;
};
// A blocking wait ran past its deadline.
class Timeout : public CommError {
 public:
  using CommError::CommError;
};
// One of our own invariants does not hold: a bug in dojo.
class InternalError : public Error {
 public:
  using Error::Error;
};

}  // namespace dojo

#define DOJO_CHECK(cond, Type, ...)                   \
  do {                                                \
    if (!(cond)) [[unlikely]] {                       \
      throw ::dojo::Type(::fmt::format(__VA_ARGS__)); \
    }                                                 \
  } while (0)

#define DOJO_ASSERT(cond, ...)                                                                 \
  do {                                                                                         \
    if (!(cond)) [[unlikely]] {                                                                \
      throw ::dojo::InternalError(::fmt::format("internal error at {}:{}: {} ({})", __FILE__,  \
                                                __LINE__, #cond, ::fmt::format(__VA_ARGS__))); \
    }                                                                                          \
  } while (0)
