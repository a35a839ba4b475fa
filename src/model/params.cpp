#include "model/params.hpp"

#include "core/error.hpp"
#include "model/arena.hpp"

namespace dojo::model {
namespace {

class TableBuilder {
 public:
  explicit TableBuilder(ParamTable& table) : t_(table) {}
  void layer(std::string name) { t_.layers.push_back(std::move(name)); }
  void add(const std::string& name, std::vector<std::int64_t> shape) {
    std::size_t size = 1;
    for (const auto d : shape) size *= std::size_t(d);
    TensorInfo info;
    info.name = name;
    info.decay = shape.size() >= 2;  // matrices decay; biases, norms, mask token do not
    info.shape = std::move(shape);
    info.offset = t_.total;
    info.size = size;
    info.layer = t_.layers.size() - 1;
    t_.total += align_elems<float>(size);
    t_.tensors.push_back(std::move(info));
  }
  void linear(const std::string& prefix, std::int64_t in, std::int64_t out) {
    add(prefix + ".weight", {out, in});
    add(prefix + ".bias", {out});
  }
  void norm(const std::string& prefix, std::int64_t dim) {
    add(prefix + ".weight", {dim});
    add(prefix + ".bias", {dim});
  }
  void block(const std::string& prefix, std::int64_t dim, std::int64_t hidden) {
    layer(prefix);
    norm(prefix + ".norm1", dim);
    linear(prefix + ".attn.qkv", dim, 3 * dim);
    linear(prefix + ".attn.proj", dim, dim);
    norm(prefix + ".norm2", dim);
    linear(prefix + ".mlp.fc1", dim, hidden);
    linear(prefix + ".mlp.fc2", hidden, dim);
  }

 private:
  ParamTable& t_;
};

}  // namespace

const TensorInfo& ParamTable::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  DOJO_ASSERT(false, "no parameter named '{}'", name);
  return tensors.front();  // unreachable
}

std::vector<std::pair<std::size_t, std::size_t>> ParamTable::layer_ranges() const {
  std::vector<std::pair<std::size_t, std::size_t>> ranges(layers.size(), {total, total});
  for (std::size_t i = tensors.size(); i-- > 0;) {
    ranges[tensors[i].layer].first = tensors[i].offset;
  }
  for (std::size_t l = 0; l + 1 < ranges.size(); ++l) ranges[l].second = ranges[l + 1].first;
  return ranges;
}

ParamTable build_param_table(const ModelConfig& c) {
  ParamTable table;
  TableBuilder b(table);
  b.layer("embed");
  b.linear("patch_embed", c.patch_dim(), c.encoder_dim);
  for (std::int64_t i = 0; i < c.encoder_depth; ++i) {
    b.block("encoder." + std::to_string(i), c.encoder_dim, c.encoder_hidden());
  }
  b.layer("encoder.norm");
  b.norm("encoder.norm", c.encoder_dim);
  b.layer("decoder.embed");
  b.linear("decoder_embed", c.encoder_dim, c.decoder_dim);
  b.add("mask_token", {c.decoder_dim});
  for (std::int64_t i = 0; i < c.decoder_depth; ++i) {
    b.block("decoder." + std::to_string(i), c.decoder_dim, c.decoder_hidden());
  }
  b.layer("decoder.norm");
  b.norm("decoder.norm", c.decoder_dim);
  b.layer("head");
  b.linear("head", c.decoder_dim, c.patch_dim());
  return table;
}

}  // namespace dojo::model
