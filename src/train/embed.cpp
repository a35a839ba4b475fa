#include "train/embed.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "data/clip_source.hpp"
#include "h5/handles.hpp"
#include "train/eval_run.hpp"
#include "train/run_model.hpp"

namespace dojo::train {

struct ClipBatches::Impl {
  data::ShardSet shards;
  std::string path;
  explicit Impl(const std::string& p) : shards(p), path(p) {}
};

ClipBatches::ClipBatches(const std::string& path, const model::ModelConfig& mc)
    : impl_(std::make_unique<Impl>(path)) {
  check_clip_shape(impl_->shards.shape(), mc, path);
  DOJO_CHECK(impl_->shards.size() > 0, InvalidArgument, "{}: no clips", path);
}

ClipBatches::~ClipBatches() = default;

std::int64_t ClipBatches::size() const {
  return impl_->shards.size();
}

const std::string& ClipBatches::source(std::int64_t i) const {
  const auto [reader, local] = impl_->shards.locate(i);
  return reader->source(local);
}

std::vector<float> ClipBatches::read(std::int64_t first, std::int64_t count) const {
  std::vector<float> out;
  for (std::int64_t i = first; i < first + count; ++i) {
    const auto [reader, local] = impl_->shards.locate(i);
    for (const std::uint8_t v : reader->read_clip(local, /*verify=*/true)) {
      out.push_back(static_cast<float>(v) / 255.0f);
    }
  }
  return out;
}

std::vector<float> embed_all(model::VideoMAE& model, const ClipBatches& clips,
                             std::int64_t layer, std::int64_t pool_grid) {
  const std::int64_t n = clips.size(), b = model.batch(),
                     d = embedding_dim(model.config(), pool_grid);
  const auto clip_elems = static_cast<std::size_t>(model.config().clip_elems());
  std::vector<float> out(static_cast<std::size_t>(n * d));
  for (std::int64_t first = 0; first < n; first += b) {
    const std::int64_t real = std::min(b, n - first);
    std::vector<float> batch = clips.read(first, real);
    for (std::int64_t j = real; j < b; ++j) {  // pad with the last clip
      batch.insert(batch.end(), batch.end() - static_cast<std::ptrdiff_t>(clip_elems), batch.end());
    }
    const auto e = model.embed(batch, layer, pool_grid);
    std::copy_n(e.begin(), real * d, out.begin() + first * d);
  }
  return out;
}

std::int64_t embedding_dim(const model::ModelConfig& c, std::int64_t pool_grid) {
  return pool_grid * pool_grid * c.encoder_dim;
}

std::int64_t pixel_feature_dim(const model::ModelConfig& c, std::int64_t grid) {
  return c.grid_t() * grid * grid * c.channels;
}

std::vector<float> pixel_features(const ClipBatches& clips, const model::ModelConfig& c,
                                  std::int64_t grid) {
  DOJO_CHECK(grid >= 1 && grid <= c.height && grid <= c.width, InvalidArgument,
             "pixel features: grid {} for {}x{} frames", grid, c.height, c.width);
  const std::int64_t n = clips.size(), d = pixel_feature_dim(c, grid);
  std::vector<float> out(static_cast<std::size_t>(n * d), 0.0f);
  std::vector<double> sums(static_cast<std::size_t>(d));
  std::vector<double> counts(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto clip = clips.read(i, 1);
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0.0);
    for (std::int64_t t = 0; t < c.frames; ++t) {
      for (std::int64_t y = 0; y < c.height; ++y) {
        for (std::int64_t x = 0; x < c.width; ++x) {
          const std::int64_t cell =
              ((t / c.tubelet_frames) * grid + y * grid / c.height) * grid + x * grid / c.width;
          for (std::int64_t ch = 0; ch < c.channels; ++ch) {
            const auto k = static_cast<std::size_t>(cell * c.channels + ch);
            sums[k] += clip[static_cast<std::size_t>(
                ((t * c.height + y) * c.width + x) * c.channels + ch)];
            counts[k] += 1;
          }
        }
      }
    }
    for (std::int64_t k = 0; k < d; ++k) {
      out[static_cast<std::size_t>(i * d + k)] = static_cast<float>(sums[k] / counts[k]);
    }
  }
  return out;
}

Embeddings embed_run(const EmbedOptions& o) {
  DOJO_CHECK(!o.out.empty() && !o.data.empty(), InvalidArgument,
             "dojo embed: --data and --out are required");
  LoadedModel m = load_model(o.checkpoint, 8);
  const ClipBatches clips(o.data, m.model_config);
  Embeddings e;
  e.values = embed_all(*m.model, clips, o.layer, o.pool_grid);
  e.layer = o.layer;
  e.pool_grid = o.pool_grid;
  e.clips = clips.size();
  e.dim = embedding_dim(m.model_config, o.pool_grid);
  std::map<std::string, std::int64_t> id;
  for (std::int64_t i = 0; i < e.clips; ++i) {
    e.clip.push_back(i);
    const std::string& s = clips.source(i);
    auto [it, fresh] = id.try_emplace(s, static_cast<std::int64_t>(e.sources.size()));
    if (fresh) e.sources.push_back(s);
    e.source.push_back(it->second);
  }
  e.checkpoint = std::filesystem::absolute(m.checkpoint.path).string();
  e.model = m.model_config.name;
  e.step = m.checkpoint.meta.step;
  write_embeddings(o.out, e);
  return e;
}

namespace {

// The (N, D) float matrix; h5 has 1-D helpers only.
void write_matrix(hid_t file, const char* name, const std::vector<float>& values, hsize_t rows,
                  hsize_t cols, const std::string& path) {
  const hsize_t dims[2] = {rows, cols};
  auto space = h5::check_id(H5Screate_simple(2, dims, nullptr), path, name);
  auto set = h5::check_id(
      H5Dcreate2(file, name, H5T_NATIVE_FLOAT, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      path, name);
  if (!values.empty()) {
    h5::check_status(
        H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path,
        name);
  }
}

std::vector<float> read_matrix(hid_t file, const char* name, std::int64_t& rows, std::int64_t& cols,
                               const std::string& path) {
  DOJO_CHECK(h5::has_dataset(file, name), FormatError, "{}: dataset '/{}' missing", path, name);
  auto set = h5::check_id(H5Dopen2(file, name, H5P_DEFAULT), path, name);
  auto space = h5::check_id(H5Dget_space(set.get()), path, name);
  DOJO_CHECK(H5Sget_simple_extent_ndims(space.get()) == 2, FormatError, "{}: /{} is not (N, D)",
             path, name);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  rows = static_cast<std::int64_t>(dims[0]);
  cols = static_cast<std::int64_t>(dims[1]);
  std::vector<float> out(static_cast<std::size_t>(dims[0] * dims[1]));
  if (!out.empty()) {
    h5::check_status(
        H5Dread(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path,
        name);
  }
  return out;
}

constexpr std::size_t kMaxAttrBytes = 4096;  // checkpoint paths can be long

}  // namespace

void write_embeddings(const std::string& path, const Embeddings& e) {
  AtomicFile out(path);
  const std::string partial = out.temp_path().string();
  {
    std::lock_guard lock(h5::mutex());
    h5::silence_errors();
    auto file = h5::check_id(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                             partial, "H5Fcreate");
    const hid_t f = file.get();
    write_matrix(f, "embeddings", e.values, static_cast<hsize_t>(e.clips),
                 static_cast<hsize_t>(e.dim), partial);
    h5::write_vector(f, "clip", H5T_NATIVE_INT64, e.clip, partial);
    h5::write_vector(f, "source", H5T_NATIVE_INT64, e.source, partial);
    h5::write_blob(f, "sources", nlohmann::json(e.sources).dump(), partial);
    h5::write_string_attr(f, "format", kEmbeddingsFormat, partial);
    h5::write_int_attr(f, "version", kEmbeddingsVersion, partial);
    h5::write_string_attr(f, "checkpoint", e.checkpoint, partial);
    h5::write_string_attr(f, "model", e.model, partial);
    h5::write_int_attr(f, "step", e.step, partial);
    h5::write_int_attr(f, "layer", e.layer, partial);
    h5::write_int_attr(f, "pool_grid", e.pool_grid, partial);
    h5::check_status(H5Fclose(file.release()), partial, "H5Fclose");
  }
  out.commit();
}

Embeddings read_embeddings(const std::string& path) {
  std::lock_guard lock(h5::mutex());
  h5::silence_errors();
  auto file = h5::check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "H5Fopen");
  const hid_t f = file.get();
  DOJO_CHECK(h5::read_string_attr(f, "format", path) == kEmbeddingsFormat, FormatError,
             "{}: not a dojo embeddings file", path);
  const std::int64_t version = h5::read_int_attr(f, "version", path);
  DOJO_CHECK(version == kEmbeddingsVersion, FormatError,
             "{}: embeddings version {}, this dojo reads {}", path, version, kEmbeddingsVersion);
  Embeddings e;
  e.values = read_matrix(f, "embeddings", e.clips, e.dim, path);
  e.clip = h5::read_vector<std::int64_t>(f, "clip", H5T_NATIVE_INT64, e.clips, path);
  e.source = h5::read_vector<std::int64_t>(f, "source", H5T_NATIVE_INT64, e.clips, path);
  const auto sources = nlohmann::json::parse(h5::read_blob(f, "sources", path), nullptr, false);
  DOJO_CHECK(sources.is_array(), FormatError, "{}: /sources is not a JSON list", path);
  e.sources = sources.get<std::vector<std::string>>();
  e.checkpoint = h5::read_string_attr(f, "checkpoint", path, kMaxAttrBytes);
  e.model = h5::read_string_attr(f, "model", path);
  e.step = h5::read_int_attr(f, "step", path);
  if (h5::has_attr(f, "layer")) e.layer = h5::read_int_attr(f, "layer", path);
  if (h5::has_attr(f, "pool_grid")) e.pool_grid = h5::read_int_attr(f, "pool_grid", path);
  return e;
}

}  // namespace dojo::train
