#pragma once
// Private to src/data: an RAII owner for HDF5 `hid_t` handles, and the boundary where the
// HDF5 error stack becomes a dojo error. Callers hold hdf5_mutex() (shard.hpp) around
// every use: the Debian HDF5 build is not thread-safe.
#include <hdf5.h>

#include <string>
#include <utility>

namespace dojo::data::h5 {

// Owns one identifier and closes it with the right H5?close for its type.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() noexcept;
  // Gives up ownership (to close it by hand and check the result).
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// The innermost message on HDF5's error stack ("unable to open file", ...), or "".
std::string last_error();
// Turns off HDF5's own printing of its error stack (once per process).
void silence_errors();

// Throws Type(`path: what: <HDF5 message>`) when `id` is negative; returns an owner.
Handle check_id(hid_t id, const std::string& path, const char* what);
// Throws FormatError when `status` is negative.
void check_status(herr_t status, const std::string& path, const char* what);

}  // namespace dojo::data::h5
