#include "h5/handles.hpp"

#include <xxhash.h>

#include <algorithm>

namespace dojo::h5 {

std::recursive_mutex& mutex() {
  static std::recursive_mutex m;
  return m;
}

void Handle::reset() noexcept {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::string last_error() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        if (n == 0 && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message;
}

Handle check_id(hid_t id, const std::string& path, const char* what) {
  DOJO_CHECK(id >= 0, FormatError, "{}: {}: {}", path, what, last_error());
  return Handle(id);
}

void check_status(herr_t status, const std::string& path, const char* what) {
  DOJO_CHECK(status >= 0, FormatError, "{}: {}: {}", path, what, last_error());
}

bool has_attr(hid_t object, const char* name) {
  return H5Aexists(object, name) > 0;
}

bool has_dataset(hid_t file, const char* name) {
  return H5Lexists(file, name, H5P_DEFAULT) > 0;
}

namespace {

template <typename T>
void write_scalar_attr(hid_t object, const char* name, hid_t type, T value,
                       const std::string& path) {
  Handle space = check_id(H5Screate(H5S_SCALAR), path, "attribute space");
  Handle attr =
      check_id(H5Acreate2(object, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  check_status(H5Awrite(attr.get(), type, &value), path, name);
}

template <typename T>
T read_scalar_attr(hid_t object, const char* name, hid_t type, const std::string& path) {
  DOJO_CHECK(has_attr(object, name), FormatError, "{}: attribute '{}' missing", path, name);
  Handle attr = check_id(H5Aopen(object, name, H5P_DEFAULT), path, name);
  Handle file_type = check_id(H5Aget_type(attr.get()), path, name);
  DOJO_CHECK(H5Tget_class(file_type.get()) == H5T_INTEGER, FormatError,
             "{}: attribute '{}' is not an integer", path, name);
  Handle space = check_id(H5Aget_space(attr.get()), path, name);
  DOJO_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, FormatError,
             "{}: attribute '{}' is not a single value", path, name);
  T value{};
  check_status(H5Aread(attr.get(), type, &value), path, name);
  return value;
}

}  // namespace

void write_int_attr(hid_t object, const char* name, std::int64_t value, const std::string& path) {
  write_scalar_attr(object, name, H5T_NATIVE_INT64, value, path);
}
std::int64_t read_int_attr(hid_t object, const char* name, const std::string& path) {
  return read_scalar_attr<std::int64_t>(object, name, H5T_NATIVE_INT64, path);
}
void write_uint_attr(hid_t object, const char* name, std::uint64_t value, const std::string& path) {
  write_scalar_attr(object, name, H5T_NATIVE_UINT64, value, path);
}
std::uint64_t read_uint_attr(hid_t object, const char* name, const std::string& path) {
  return read_scalar_attr<std::uint64_t>(object, name, H5T_NATIVE_UINT64, path);
}

void write_string_attr(hid_t object, const char* name, const std::string& value,
                       const std::string& path) {
  Handle type = check_id(H5Tcopy(H5T_C_S1), path, "string type");
  check_status(H5Tset_size(type.get(), std::max<std::size_t>(1, value.size())), path,
               "string size");
  Handle space = check_id(H5Screate(H5S_SCALAR), path, "attribute space");
  Handle attr = check_id(
      H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  std::string padded = value;
  padded.resize(std::max<std::size_t>(1, value.size()), '\0');
  check_status(H5Awrite(attr.get(), type.get(), padded.data()), path, name);
}

std::string read_string_attr(hid_t object, const char* name, const std::string& path,
                             std::size_t max_bytes) {
  DOJO_CHECK(has_attr(object, name), FormatError, "{}: attribute '{}' missing", path, name);
  Handle attr = check_id(H5Aopen(object, name, H5P_DEFAULT), path, name);
  Handle type = check_id(H5Aget_type(attr.get()), path, name);
  DOJO_CHECK(H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) == 0,
             FormatError, "{}: attribute '{}' is not a fixed-length string", path, name);
  Handle space = check_id(H5Aget_space(attr.get()), path, name);
  DOJO_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, FormatError,
             "{}: attribute '{}' is not a single string", path, name);
  const std::size_t size = H5Tget_size(type.get());
  DOJO_CHECK(size >= 1 && size <= max_bytes, FormatError,
             "{}: attribute '{}' is {} bytes long, expected 1..{}", path, name, size, max_bytes);
  std::string value(size, '\0');
  check_status(H5Aread(attr.get(), type.get(), value.data()), path, name);
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

void write_blob(hid_t file, const char* name, const std::string& bytes, const std::string& path) {
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  write_vector(file, name, H5T_NATIVE_UINT8, data, path);
  Handle set = check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  write_uint_attr(set.get(), "xxh64", XXH64(bytes.data(), bytes.size(), 0), path);
}

std::string read_blob(hid_t file, const char* name, const std::string& path,
                      std::int64_t max_bytes) {
  const auto data = read_vector<std::uint8_t>(file, name, H5T_NATIVE_UINT8, -1, path, max_bytes);
  Handle set = check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  const std::uint64_t stored = read_uint_attr(set.get(), "xxh64", path);
  const std::uint64_t actual = XXH64(data.data(), data.size(), 0);
  DOJO_CHECK(stored == actual, FormatError,
             "{}: dataset '/{}' is damaged (xxh64 {:016x}, stored {:016x})", path, name, actual,
             stored);
  return std::string(data.begin(), data.end());
}

}  // namespace dojo::h5
