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

void throw_for_exit_code(int code, const std::string& what) {
  switch (code) {
    case kExitBadInput: throw InvalidArgument(what);
    case kExitBadData: throw FormatError(what);
    case kExitPeerLost: throw CommError(what);
    case kExitIo: throw IoError(what);
    case kExitInternal: throw InternalError(what);
    default: throw Error(what);
  }
}

}  // namespace dojo
