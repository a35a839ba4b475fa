#include <cmath>
#include <filesystem>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "data/shard.hpp"
#include "h5/handles.hpp"

namespace dojo::data {
namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

}  // namespace

struct ShardWriter::Impl {
  std::string path;
  std::unique_ptr<AtomicFile> atomic;  // `<path>.partial` until commit(); outlives `file`
  std::string partial_path;
  ClipShape shape;
  h5::Handle file;
  h5::Handle clips;
  std::vector<std::uint64_t> checksums;
  std::vector<std::int64_t> source_index;
  std::vector<std::int64_t> start_frames;
  std::vector<double> fps;
  std::vector<std::string> label_names;
  std::vector<float> labels;  // (N, L)
  std::vector<std::string> sources;
  std::unordered_map<std::string, std::int64_t> source_ids;
  bool committed = false;
};

ShardWriter::ShardWriter(std::string path, const ClipShape& shape,
                         std::vector<std::string> label_names)
    : impl_(std::make_unique<Impl>()) {
  check_clip_shape(shape, path);
  Lock lock(h5::mutex());
  impl_->label_names = std::move(label_names);
  h5::silence_errors();
  Impl& s = *impl_;
  s.path = std::move(path);
  s.atomic = std::make_unique<AtomicFile>(s.path);
  s.partial_path = s.atomic->temp_path().string();
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
  Lock lock(h5::mutex());
  impl_->clips.reset();
  impl_->file.reset();
  impl_->atomic.reset();  // removes the partial file
}

std::int64_t ShardWriter::add_source(const std::string& name) {
  auto [it, inserted] = impl_->source_ids.emplace(name, std::ssize(impl_->sources));
  if (inserted) impl_->sources.push_back(name);
  return it->second;
}

void ShardWriter::append(std::span<const std::uint8_t> clip, std::int64_t source,
                         std::int64_t start_frame, double fps, std::span<const float> labels) {
  Impl& s = *impl_;
  DOJO_CHECK(!s.committed, InvalidArgument, "{}: append after commit", s.path);
  DOJO_ASSERT(std::ssize(clip) == s.shape.clip_bytes(), "clip of {} bytes, shard expects {}",
              clip.size(), s.shape.clip_bytes());
  DOJO_ASSERT(source >= 0 && source < std::ssize(s.sources), "source index {}", source);
  DOJO_ASSERT(labels.empty() || labels.size() == s.label_names.size(),
              "{} label values, shard has {} label columns", labels.size(), s.label_names.size());
  Lock lock(h5::mutex());
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
  if (labels.empty()) {
    s.labels.insert(s.labels.end(), s.label_names.size(), std::numeric_limits<float>::quiet_NaN());
  } else {
    s.labels.insert(s.labels.end(), labels.begin(), labels.end());
  }
}

std::int64_t ShardWriter::size() const {
  return std::ssize(impl_->checksums);
}
const std::string& ShardWriter::path() const {
  return impl_->path;
}
const std::vector<std::string>& ShardWriter::label_names() const {
  return impl_->label_names;
}

h5::FileDigest ShardWriter::commit() {
  Impl& s = *impl_;
  DOJO_CHECK(!s.committed, InvalidArgument, "{}: committed twice", s.path);
  {
    Lock lock(h5::mutex());
    const hid_t f = s.file.get();
    h5::write_vector(f, "checksum", H5T_NATIVE_UINT64, s.checksums, s.path);
    h5::write_vector(f, "source", H5T_NATIVE_INT64, s.source_index, s.path);
    h5::write_vector(f, "start_frame", H5T_NATIVE_INT64, s.start_frames, s.path);
    h5::write_vector(f, "fps", H5T_NATIVE_DOUBLE, s.fps, s.path);
    const nlohmann::json meta{{"sources", s.sources}, {"label_names", s.label_names}};
    h5::write_blob(f, "meta", meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                   s.path);
    if (!s.label_names.empty()) {
      const hsize_t dims[2] = {s.checksums.size(), s.label_names.size()};
      h5::Handle space = h5::check_id(H5Screate_simple(2, dims, nullptr), s.path, "labels");
      h5::Handle set = h5::check_id(H5Dcreate2(f, "labels", H5T_NATIVE_FLOAT, space.get(),
                                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                    s.path, "labels");
      if (!s.labels.empty()) {
        h5::check_status(
            H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.labels.data()),
            s.path, "write /labels");
      }
    }
    h5::write_string_attr(f, "format", kShardFormat, s.path);
    h5::write_int_attr(f, "version", kShardVersion, s.path);
    h5::write_int_attr(f, "T", s.shape.frames, s.path);
    h5::write_int_attr(f, "H", s.shape.height, s.path);
    h5::write_int_attr(f, "W", s.shape.width, s.path);
    h5::write_int_attr(f, "C", s.shape.channels, s.path);
    h5::write_int_attr(f, "frame_step", s.shape.frame_step, s.path);
    h5::write_int_attr(f, "labels", std::ssize(s.label_names), s.path);
    s.clips.reset();
    h5::check_status(H5Fclose(s.file.release()), s.path, "close");
  }
  const h5::FileDigest digest = h5::digest_file(s.partial_path);
  s.atomic->commit();  // fsync, rename into place, fsync the folder
  s.committed = true;
  return digest;
}

}  // namespace dojo::data
