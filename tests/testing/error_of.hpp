#pragma once
// The message of the dojo::Error a call throws, for tests that assert on what it says.
#include <functional>
#include <string>

#include "core/error.hpp"

namespace dojo::testing {

// The message of the dojo::Error `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace dojo::testing
