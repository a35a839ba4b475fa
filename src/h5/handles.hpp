#pragma once
// HDF5 handles: an RAII owner for `hid_t`, the boundary where the HDF5 error stack becomes
// a dojo error (the file and what was being done, then HDF5's innermost message), and
// small helpers for the attributes and 1-D datasets dojo's files use.
//
// Threads: the Debian HDF5 build is not thread-safe. Every HDF5 call in the process must
// hold h5::mutex(); these helpers do not take it themselves (callers hold it around a
// whole file operation).
//
// Damaged files: HDF5 may crash while parsing a damaged file, so a file whose digest is
// known is checked with check_file_digest() (digest.hpp) before it is opened. Without a
// digest, keep to what a flipped byte cannot turn into a crash: fixed-size numeric data
// and attributes, strings as a uint8 blob that we parse ourselves (write_blob/read_blob),
// and bounded sizes (read_string_attr, read_blob take a maximum).
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace dojo::h5 {

// The one lock every HDF5 call in the process holds.
std::recursive_mutex& mutex();

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

// Throws FormatError(`path: what: <HDF5 message>`) when `id` is negative; returns an owner.
Handle check_id(hid_t id, const std::string& path, const char* what);
// Throws FormatError when `status` is negative.
void check_status(herr_t status, const std::string& path, const char* what);

// Scalar attributes on `object` (a file or dataset). Readers throw FormatError naming the
// file and attribute when it is missing or of the wrong kind.
void write_int_attr(hid_t object, const char* name, std::int64_t value, const std::string& path);
std::int64_t read_int_attr(hid_t object, const char* name, const std::string& path);
void write_uint_attr(hid_t object, const char* name, std::uint64_t value, const std::string& path);
std::uint64_t read_uint_attr(hid_t object, const char* name, const std::string& path);
// A fixed-length string attribute (never variable-length: its heap is what breaks).
void write_string_attr(hid_t object, const char* name, const std::string& value,
                       const std::string& path);
std::string read_string_attr(hid_t object, const char* name, const std::string& path,
                             std::size_t max_bytes = 256);
bool has_attr(hid_t object, const char* name);
bool has_dataset(hid_t file, const char* name);

// A 1-D dataset of a native numeric type.
template <typename T>
void write_vector(hid_t file, const char* name, hid_t type, const std::vector<T>& values,
                  const std::string& path);
// Reads a 1-D dataset; `expected` >= 0 checks its length; longer than max_elems throws.
template <typename T>
std::vector<T> read_vector(hid_t file, const char* name, hid_t type, std::int64_t expected,
                           const std::string& path, std::int64_t max_elems = 1LL << 31);

// A byte blob (uint8 1-D dataset) with its xxh64 as attribute `xxh64`: for text (JSON)
// that would otherwise be variable-length strings. read_blob checks length <= max_bytes
// and the hash, throwing FormatError naming the file and dataset.
void write_blob(hid_t file, const char* name, const std::string& bytes, const std::string& path);
std::string read_blob(hid_t file, const char* name, const std::string& path,
                      std::int64_t max_bytes = 64LL << 20);

// ---- implementation of the templates ----

template <typename T>
void write_vector(hid_t file, const char* name, hid_t type, const std::vector<T>& values,
                  const std::string& path) {
  const hsize_t n = values.size();
  Handle space = check_id(H5Screate_simple(1, &n, nullptr), path, name);
  Handle set = check_id(
      H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, name);
  if (n > 0) {
    check_status(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path,
                 name);
  }
}

template <typename T>
std::vector<T> read_vector(hid_t file, const char* name, hid_t type, std::int64_t expected,
                           const std::string& path, std::int64_t max_elems) {
  DOJO_CHECK(has_dataset(file, name), FormatError, "{}: dataset '/{}' missing", path, name);
  Handle set = check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  Handle space = check_id(H5Dget_space(set.get()), path, name);
  DOJO_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, FormatError,
             "{}: dataset '/{}' is not one-dimensional", path, name);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  DOJO_CHECK(expected < 0 || static_cast<std::int64_t>(n) == expected, FormatError,
             "{}: dataset '/{}' has {} entries, expected {}", path, name, n, expected);
  DOJO_CHECK(static_cast<std::int64_t>(n) <= max_elems, FormatError,
             "{}: dataset '/{}' has {} entries, at most {} expected", path, name, n, max_elems);
  std::vector<T> values(n);
  if (n > 0) {
    check_status(H5Dread(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path,
                 name);
  }
  return values;
}

}  // namespace dojo::h5
