#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "data/shard.hpp"
#include "h5/handles.hpp"

namespace dojo::data {
namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

// Largest plausible counts, so a damaged size field cannot ask for terabytes.
constexpr std::int64_t kMaxClips = 1LL << 24;
constexpr std::int64_t kMaxLabels = 1024;

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
  std::vector<std::string> label_names;
  std::vector<float> labels;  // (N, L)

  void check_index(std::int64_t i) const {
    DOJO_CHECK(i >= 0 && i < clips, InvalidArgument, "{}: clip index {} out of range [0, {})", path,
               i, clips);
  }
};

ShardReader::ShardReader(std::string path, std::optional<h5::FileDigest> digest)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = std::move(path);
  DOJO_CHECK(std::filesystem::is_regular_file(s.path), IoError, "{}: no such shard file", s.path);
  if (digest) h5::check_file_digest(s.path, *digest, "shard");
  Lock lock(h5::mutex());
  h5::silence_errors();
  DOJO_CHECK(H5Fis_hdf5(s.path.c_str()) > 0, FormatError, "{}: not an HDF5 file (truncated?)",
             s.path);
  s.file = h5::Handle(H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  DOJO_CHECK(s.file.valid(), FormatError, "{}: cannot open shard: {}", s.path, h5::last_error());
  const hid_t f = s.file.get();
  DOJO_CHECK(h5::has_attr(f, "format"), FormatError,
             "{}: not a dojo shard: attribute 'format' missing", s.path);
  const std::string format = h5::read_string_attr(f, "format", s.path);
  DOJO_CHECK(format == kShardFormat, FormatError, "{}: format attribute is '{}', expected '{}'",
             s.path, format, kShardFormat);
  s.version = h5::read_int_attr(f, "version", s.path);
  DOJO_CHECK(s.version == kShardVersion, FormatError,
             "{}: shard version {}, this dojo reads version {}: re-ingest the videos (dojo ingest "
             "... --out NEW_FOLDER)",
             s.path, s.version, kShardVersion);
  s.shape.frames = h5::read_int_attr(f, "T", s.path);
  s.shape.height = h5::read_int_attr(f, "H", s.path);
  s.shape.width = h5::read_int_attr(f, "W", s.path);
  s.shape.channels = h5::read_int_attr(f, "C", s.path);
  s.shape.frame_step = h5::read_int_attr(f, "frame_step", s.path);
  check_clip_shape(s.shape, s.path);
  const std::int64_t label_count = h5::read_int_attr(f, "labels", s.path);
  DOJO_CHECK(label_count >= 0 && label_count <= kMaxLabels, FormatError,
             "{}: labels attribute is {}, expected 0..{}", s.path, label_count, kMaxLabels);

  DOJO_CHECK(h5::has_dataset(f, "clips"), FormatError,
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
  DOJO_CHECK(std::int64_t(dims[0]) <= kMaxClips, FormatError,
             "{}: /clips claims {} clips, at most {} expected", s.path, dims[0], kMaxClips);
  s.clips = static_cast<std::int64_t>(dims[0]);
  s.checksums = h5::read_vector<std::uint64_t>(f, "checksum", H5T_NATIVE_UINT64, s.clips, s.path);
  s.source_index = h5::read_vector<std::int64_t>(f, "source", H5T_NATIVE_INT64, s.clips, s.path);
  s.start_frames =
      h5::read_vector<std::int64_t>(f, "start_frame", H5T_NATIVE_INT64, s.clips, s.path);
  s.fps = h5::read_vector<double>(f, "fps", H5T_NATIVE_DOUBLE, s.clips, s.path);

  const std::string meta_text = h5::read_blob(f, "meta", s.path);
  try {
    const auto meta = nlohmann::json::parse(meta_text);
    s.sources = meta.at("sources").get<std::vector<std::string>>();
    s.label_names = meta.at("label_names").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: /meta is not the expected JSON: {}", s.path, e.what()));
  }
  DOJO_CHECK(std::ssize(s.label_names) == label_count, FormatError,
             "{}: /meta names {} labels, the labels attribute says {}", s.path,
             s.label_names.size(), label_count);
  if (label_count > 0) {
    DOJO_CHECK(h5::has_dataset(f, "labels"), FormatError, "{}: dataset '/labels' missing", s.path);
    h5::Handle set = h5::check_id(H5Dopen2(f, "labels", H5P_DEFAULT), s.path, "labels");
    h5::Handle label_space = h5::check_id(H5Dget_space(set.get()), s.path, "labels");
    hsize_t label_dims[2] = {};
    DOJO_CHECK(H5Sget_simple_extent_ndims(label_space.get()) == 2, FormatError,
               "{}: /labels is not 2-dimensional (N, L)", s.path);
    H5Sget_simple_extent_dims(label_space.get(), label_dims, nullptr);
    DOJO_CHECK(std::int64_t(label_dims[0]) == s.clips && std::int64_t(label_dims[1]) == label_count,
               FormatError, "{}: /labels is {}x{}, expected {}x{} (clips x labels)", s.path,
               label_dims[0], label_dims[1], s.clips, label_count);
    s.labels.resize(static_cast<std::size_t>(s.clips * label_count));
    if (!s.labels.empty()) {
      h5::check_status(
          H5Dread(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.labels.data()),
          s.path, "read /labels");
    }
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
  Lock lock(h5::mutex());
  impl_.reset();
}
ShardReader::ShardReader(ShardReader&&) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&& other) noexcept {
  if (this != &other) {
    Lock lock(h5::mutex());
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
    Lock lock(h5::mutex());
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
const std::vector<std::string>& ShardReader::label_names() const {
  return impl_->label_names;
}
std::span<const float> ShardReader::labels(std::int64_t i) const {
  impl_->check_index(i);
  const auto width = impl_->label_names.size();
  return {impl_->labels.data() + static_cast<std::size_t>(i) * width, width};
}

std::int64_t ShardReader::clip_file_offset(std::int64_t i) const {
  impl_->check_index(i);
  Lock lock(h5::mutex());
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
