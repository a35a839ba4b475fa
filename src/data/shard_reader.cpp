#include <filesystem>

#include "core/error.hpp"
#include "data/h5_handles.hpp"
#include "data/shard.hpp"

namespace dojo::data {
namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

std::int64_t read_int_attr(hid_t file, const char* name, const std::string& path) {
  DOJO_CHECK(H5Aexists(file, name) > 0, FormatError, "{}: not a dojo shard: attribute '{}' missing",
             path, name);
  h5::Handle attr = h5::check_id(H5Aopen(file, name, H5P_DEFAULT), path, name);
  std::int64_t value = 0;
  h5::check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path, name);
  return value;
}

std::string read_string_attr(hid_t file, const char* name, const std::string& path) {
  DOJO_CHECK(H5Aexists(file, name) > 0, FormatError, "{}: not a dojo shard: attribute '{}' missing",
             path, name);
  h5::Handle attr = h5::check_id(H5Aopen(file, name, H5P_DEFAULT), path, name);
  h5::Handle type = h5::check_id(H5Aget_type(attr.get()), path, name);
  DOJO_CHECK(H5Tget_class(type.get()) == H5T_STRING && H5Tis_variable_str(type.get()) == 0,
             FormatError, "{}: attribute '{}' is not a fixed-length string", path, name);
  std::string value(H5Tget_size(type.get()), '\0');
  h5::check_status(H5Aread(attr.get(), type.get(), value.data()), path, name);
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

template <typename T>
std::vector<T> read_vector(hid_t file, const char* name, hid_t type, std::int64_t expected,
                           const std::string& path) {
  DOJO_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, FormatError,
             "{}: not a dojo shard: dataset '/{}' missing", path, name);
  h5::Handle set = h5::check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  h5::Handle space = h5::check_id(H5Dget_space(set.get()), path, name);
  hsize_t n = 0;
  DOJO_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, FormatError,
             "{}: dataset '/{}' is not one-dimensional", path, name);
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  DOJO_CHECK(expected < 0 || static_cast<std::int64_t>(n) == expected, FormatError,
             "{}: dataset '/{}' has {} entries, /clips has {}", path, name, n, expected);
  std::vector<T> values(n);
  if (n > 0) {
    h5::check_status(H5Dread(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path,
                     name);
  }
  return values;
}

}  // namespace

struct ShardReader::Impl {
  std::string path;
  ClipShape shape;
  std::int64_t version = 0;
  std::int64_t clips = 0;
  h5::Handle file;
  h5::Handle clip_set;
  std::vector<std::uint64_t> checksums;
  std::vector<std::int64_t> source_index;
  std::vector<std::int64_t> start_frames;
  std::vector<double> fps;
  std::vector<std::string> sources;

  void check_index(std::int64_t i) const {
    DOJO_CHECK(i >= 0 && i < clips, InvalidArgument, "{}: clip index {} out of range [0, {})", path,
               i, clips);
  }
};

ShardReader::ShardReader(std::string path) : impl_(std::make_unique<Impl>()) {
  Lock lock(hdf5_mutex());
  h5::silence_errors();
  Impl& s = *impl_;
  s.path = std::move(path);
  DOJO_CHECK(std::filesystem::is_regular_file(s.path), IoError, "{}: no such shard file", s.path);
  DOJO_CHECK(H5Fis_hdf5(s.path.c_str()) > 0, FormatError, "{}: not an HDF5 file (truncated?)",
             s.path);
  s.file = h5::Handle(H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  DOJO_CHECK(s.file.valid(), FormatError, "{}: cannot open shard: {}", s.path, h5::last_error());
  const hid_t f = s.file.get();
  const std::string format = read_string_attr(f, "format", s.path);
  DOJO_CHECK(format == kShardFormat, FormatError, "{}: format attribute is '{}', expected '{}'",
             s.path, format, kShardFormat);
  s.version = read_int_attr(f, "version", s.path);
  DOJO_CHECK(s.version == kShardVersion, FormatError,
             "{}: shard version {}, this dojo reads version {} (re-ingest the videos)", s.path,
             s.version, kShardVersion);
  s.shape.frames = read_int_attr(f, "T", s.path);
  s.shape.height = read_int_attr(f, "H", s.path);
  s.shape.width = read_int_attr(f, "W", s.path);
  s.shape.channels = read_int_attr(f, "C", s.path);
  s.shape.frame_step = read_int_attr(f, "frame_step", s.path);
  check_clip_shape(s.shape, s.path);

  DOJO_CHECK(H5Lexists(f, "clips", H5P_DEFAULT) > 0, FormatError,
             "{}: not a dojo shard: dataset '/clips' missing", s.path);
  s.clip_set = h5::check_id(H5Dopen2(f, "clips", H5P_DEFAULT), s.path, "open /clips");
  h5::Handle space = h5::check_id(H5Dget_space(s.clip_set.get()), s.path, "/clips space");
  hsize_t dims[5] = {};
  DOJO_CHECK(H5Sget_simple_extent_ndims(space.get()) == 5, FormatError,
             "{}: /clips is not 5-dimensional (N, T, H, W, C)", s.path);
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  DOJO_CHECK(std::int64_t(dims[1]) == s.shape.frames && std::int64_t(dims[2]) == s.shape.height &&
                 std::int64_t(dims[3]) == s.shape.width &&
                 std::int64_t(dims[4]) == s.shape.channels,
             FormatError, "{}: /clips is {}x{}x{}x{} per clip, attributes say {}", s.path, dims[1],
             dims[2], dims[3], dims[4], to_string(s.shape));
  s.clips = static_cast<std::int64_t>(dims[0]);
  s.checksums = read_vector<std::uint64_t>(f, "checksum", H5T_NATIVE_UINT64, s.clips, s.path);
  s.source_index = read_vector<std::int64_t>(f, "source", H5T_NATIVE_INT64, s.clips, s.path);
  s.start_frames = read_vector<std::int64_t>(f, "start_frame", H5T_NATIVE_INT64, s.clips, s.path);
  s.fps = read_vector<double>(f, "fps", H5T_NATIVE_DOUBLE, s.clips, s.path);

  h5::Handle str = h5::check_id(H5Tcopy(H5T_C_S1), s.path, "string type");
  h5::check_status(H5Tset_size(str.get(), H5T_VARIABLE), s.path, "string type");
  std::vector<char*> names = read_vector<char*>(f, "sources", str.get(), -1, s.path);
  for (char* name : names) s.sources.emplace_back(name != nullptr ? name : "");
  if (!names.empty()) {
    h5::Handle set = h5::check_id(H5Dopen2(f, "sources", H5P_DEFAULT), s.path, "sources");
    h5::Handle names_space = h5::check_id(H5Dget_space(set.get()), s.path, "sources");
    H5Dvlen_reclaim(str.get(), names_space.get(), H5P_DEFAULT, names.data());
  }
  for (std::int64_t i = 0; i < s.clips; ++i) {
    const std::int64_t src = s.source_index[static_cast<std::size_t>(i)];
    DOJO_CHECK(src >= 0 && src < std::ssize(s.sources), FormatError,
               "{}: clip {} names source {}, shard lists {} sources", s.path, i, src,
               s.sources.size());
  }
}

ShardReader::~ShardReader() {
  if (!impl_) return;
  Lock lock(hdf5_mutex());
  impl_.reset();
}
ShardReader::ShardReader(ShardReader&&) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    Lock lock(hdf5_mutex());
    impl_ = std::move(other.impl_);
  }
  return *this;
}

const std::string& ShardReader::path() const {
  return impl_->path;
}
const ClipShape& ShardReader::shape() const {
  return impl_->shape;
}
std::int64_t ShardReader::size() const {
  return impl_->clips;
}
std::int64_t ShardReader::version() const {
  return impl_->version;
}

void ShardReader::read_clip(std::int64_t i, std::span<std::uint8_t> out, bool verify) const {
  const Impl& s = *impl_;
  s.check_index(i);
  DOJO_ASSERT(std::ssize(out) == s.shape.clip_bytes(), "clip buffer of {} bytes", out.size());
  {
    Lock lock(hdf5_mutex());
    const hsize_t offset[5] = {static_cast<hsize_t>(i), 0, 0, 0, 0};
    hsize_t stored = 0;
    h5::check_status(H5Dget_chunk_storage_size(s.clip_set.get(), offset, &stored), s.path,
                     "clip chunk size");
    DOJO_CHECK(static_cast<std::int64_t>(stored) == s.shape.clip_bytes(), FormatError,
               "{}: clip {} is stored as {} bytes, expected {}", s.path, i, stored,
               s.shape.clip_bytes());
    std::uint32_t filters = 0;
    h5::check_status(H5Dread_chunk(s.clip_set.get(), H5P_DEFAULT, offset, &filters, out.data()),
                     s.path, "read clip");
    DOJO_CHECK(filters == 0, FormatError, "{}: clip {} has filters (mask {}), shards store raw",
               s.path, i, filters);
  }
  if (verify) {
    const std::uint64_t actual = clip_checksum(out);
    DOJO_CHECK(actual == s.checksums[static_cast<std::size_t>(i)], FormatError,
               "{}: clip {}: checksum mismatch (stored {:016x}, computed {:016x}): the shard is "
               "corrupt",
               s.path, i, s.checksums[static_cast<std::size_t>(i)], actual);
  }
}

std::vector<std::uint8_t> ShardReader::read_clip(std::int64_t i, bool verify) const {
  std::vector<std::uint8_t> clip(static_cast<std::size_t>(impl_->shape.clip_bytes()));
  read_clip(i, clip, verify);
  return clip;
}

bool ShardReader::verify_clip(std::int64_t i) const {
  const auto clip = read_clip(i, false);
  return clip_checksum(clip) == checksum(i);
}

std::uint64_t ShardReader::checksum(std::int64_t i) const {
  impl_->check_index(i);
  return impl_->checksums[static_cast<std::size_t>(i)];
}
const std::string& ShardReader::source(std::int64_t i) const {
  impl_->check_index(i);
  return impl_->sources[static_cast<std::size_t>(impl_->source_index[static_cast<std::size_t>(i)])];
}
std::int64_t ShardReader::start_frame(std::int64_t i) const {
  impl_->check_index(i);
  return impl_->start_frames[static_cast<std::size_t>(i)];
}
double ShardReader::fps(std::int64_t i) const {
  impl_->check_index(i);
  return impl_->fps[static_cast<std::size_t>(i)];
}
const std::vector<std::string>& ShardReader::sources() const {
  return impl_->sources;
}

std::int64_t ShardReader::clip_file_offset(std::int64_t i) const {
  impl_->check_index(i);
  Lock lock(hdf5_mutex());
  const hsize_t offset[5] = {static_cast<hsize_t>(i), 0, 0, 0, 0};
  unsigned filters = 0;
  haddr_t address = 0;
  hsize_t size = 0;
  h5::check_status(
      H5Dget_chunk_info_by_coord(impl_->clip_set.get(), offset, &filters, &address, &size),
      impl_->path, "chunk info");
  return static_cast<std::int64_t>(address);
}

}  // namespace dojo::data
