#include "core/exit_codes.hpp"

#include <new>

#include "core/error.hpp"

namespace dojo {

int exit_code_for(const std::exception& e) noexcept {
  if (dynamic_cast<const InvalidArgument*>(&e) != nullptr) return kExitBadInput;
  if (dynamic_cast<const FormatError*>(&e) != nullptr) return kExitBadData;
  if (dynamic_cast<const CommError*>(&e) != nullptr) return kExitPeerLost;
  if (dynamic_cast<const IoError*>(&e) != nullptr) return kExitIo;
  if (dynamic_cast<const InternalError*>(&e) != nullptr) return kExitInternal;
  return kExitError;
}

}  // namespace dojo
