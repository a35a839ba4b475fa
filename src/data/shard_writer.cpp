#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "core/error.hpp"
#include "data/h5_handles.hpp"
#include "data/shard.hpp"

namespace dojo::data {
namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

void write_int_attr(hid_t file, const char* name, std::int64_t value, const std::string& path) {
  h5::Handle space = h5::check_id(H5Screate(H5S_SCALAR), path, "attribute space");
  h5::Handle attr = h5::check_id(
      H5Acreate2(file, name, H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  h5::check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path, name);
}

void write_string_attr(hid_t file, const char* name, const std::string& value,
                       const std::string& path) {
  h5::Handle type = h5::check_id(H5Tcopy(H5T_C_S1), path, "string type");
  h5::check_status(H5Tset_size(type.get(), value.size()), path, "string size");
  h5::Handle space = h5::check_id(H5Screate(H5S_SCALAR), path, "attribute space");
  h5::Handle attr = h5::check_id(
      H5Acreate2(file, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path, name);
  h5::check_status(H5Awrite(attr.get(), type.get(), value.data()), path, name);
}

template <typename T>
void write_vector(hid_t file, const char* name, hid_t type, const std::vector<T>& values,
                  const std::string& path) {
  const hsize_t n = values.size();
  h5::Handle space = h5::check_id(H5Screate_simple(1, &n, nullptr), path, name);
  h5::Handle set = h5::check_id(
      H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, name);
  if (n > 0) {
    h5::check_status(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path,
                     name);
  }
}

}  // namespace

struct ShardWriter::Impl {
  std::string path;
  std::string partial_path;
  ClipShape shape;
  h5::Handle file;
  h5::Handle clips;
  std::vector<std::uint64_t> checksums;
  std::vector<std::int64_t> source_index;
  std::vector<std::int64_t> start_frames;
  std::vector<double> fps;
  std::vector<std::string> sources;
  std::unordered_map<std::string, std::int64_t> source_ids;
  bool committed = false;
};

ShardWriter::ShardWriter(std::string path, const ClipShape& shape)
    : impl_(std::make_unique<Impl>()) {
  check_clip_shape(shape, path);
  Lock lock(hdf5_mutex());
  h5::silence_errors();
  Impl& s = *impl_;
  s.path = std::move(path);
  s.partial_path = s.path + ".partial";
  s.shape = shape;
  s.file = h5::Handle(H5Fcreate(s.partial_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  DOJO_CHECK(s.file.valid(), IoError, "{}: cannot create shard: {}", s.partial_path,
             h5::last_error());
  const hsize_t dims[5] = {0, hsize_t(shape.frames), hsize_t(shape.height), hsize_t(shape.width),
                           hsize_t(shape.channels)};
  const hsize_t max_dims[5] = {H5S_UNLIMITED, dims[1], dims[2], dims[3], dims[4]};
  const hsize_t chunk[5] = {1, dims[1], dims[2], dims[3], dims[4]};
  h5::Handle space = h5::check_id(H5Screate_simple(5, dims, max_dims), s.path, "clip space");
  h5::Handle props = h5::check_id(H5Pcreate(H5P_DATASET_CREATE), s.path, "clip properties");
  h5::check_status(H5Pset_chunk(props.get(), 5, chunk), s.path, "clip chunking");
  s.clips = h5::check_id(H5Dcreate2(s.file.get(), "clips", H5T_NATIVE_UINT8, space.get(),
                                    H5P_DEFAULT, props.get(), H5P_DEFAULT),
                         s.path, "create /clips");
}

ShardWriter::~ShardWriter() {
  if (impl_->committed) return;
  Lock lock(hdf5_mutex());
  impl_->clips.reset();
  impl_->file.reset();
  std::remove(impl_->partial_path.c_str());
}

std::int64_t ShardWriter::add_source(const std::string& name) {
  auto [it, inserted] = impl_->source_ids.emplace(name, std::ssize(impl_->sources));
  if (inserted) impl_->sources.push_back(name);
  return it->second;
}

void ShardWriter::append(std::span<const std::uint8_t> clip, std::int64_t source,
                         std::int64_t start_frame, double fps) {
  Impl& s = *impl_;
  DOJO_CHECK(!s.committed, InvalidArgument, "{}: append after commit", s.path);
  DOJO_ASSERT(std::ssize(clip) == s.shape.clip_bytes(), "clip of {} bytes, shard expects {}",
              clip.size(), s.shape.clip_bytes());
  DOJO_ASSERT(source >= 0 && source < std::ssize(s.sources), "source index {}", source);
  Lock lock(hdf5_mutex());
  const auto n = static_cast<hsize_t>(s.checksums.size());
  const hsize_t dims[5] = {n + 1, hsize_t(s.shape.frames), hsize_t(s.shape.height),
                           hsize_t(s.shape.width), hsize_t(s.shape.channels)};
  h5::check_status(H5Dset_extent(s.clips.get(), dims), s.path, "grow /clips");
  // One clip is exactly one unfiltered chunk: write it directly, no hyperslab machinery.
  const hsize_t offset[5] = {n, 0, 0, 0, 0};
  h5::check_status(H5Dwrite_chunk(s.clips.get(), H5P_DEFAULT, 0, offset, clip.size(), clip.data()),
                   s.path, "write clip");
  s.checksums.push_back(clip_checksum(clip));
  s.source_index.push_back(source);
  s.start_frames.push_back(start_frame);
  s.fps.push_back(fps);
}

std::int64_t ShardWriter::size() const {
  return std::ssize(impl_->checksums);
}
const std::string& ShardWriter::path() const {
  return impl_->path;
}

void ShardWriter::commit() {
  Impl& s = *impl_;
  DOJO_CHECK(!s.committed, InvalidArgument, "{}: committed twice", s.path);
  {
    Lock lock(hdf5_mutex());
    const hid_t f = s.file.get();
    write_vector(f, "checksum", H5T_NATIVE_UINT64, s.checksums, s.path);
    write_vector(f, "source", H5T_NATIVE_INT64, s.source_index, s.path);
    write_vector(f, "start_frame", H5T_NATIVE_INT64, s.start_frames, s.path);
    write_vector(f, "fps", H5T_NATIVE_DOUBLE, s.fps, s.path);
    h5::Handle str = h5::check_id(H5Tcopy(H5T_C_S1), s.path, "string type");
    h5::check_status(H5Tset_size(str.get(), H5T_VARIABLE), s.path, "string type");
    std::vector<const char*> names;
    for (const auto& name : s.sources) names.push_back(name.c_str());
    write_vector(f, "sources", str.get(), names, s.path);
    write_string_attr(f, "format", kShardFormat, s.path);
    write_int_attr(f, "version", kShardVersion, s.path);
    write_int_attr(f, "T", s.shape.frames, s.path);
    write_int_attr(f, "H", s.shape.height, s.path);
    write_int_attr(f, "W", s.shape.width, s.path);
    write_int_attr(f, "C", s.shape.channels, s.path);
    write_int_attr(f, "frame_step", s.shape.frame_step, s.path);
    s.clips.reset();
    h5::check_status(H5Fclose(s.file.release()), s.path, "close");
  }
  std::error_code ec;
  std::filesystem::rename(s.partial_path, s.path, ec);
  DOJO_CHECK(!ec, IoError, "{}: cannot rename from {}: {}", s.path, s.partial_path, ec.message());
  s.committed = true;
}

}  // namespace dojo::data
