#pragma once
// The parameter table: every parameter tensor of the model with its name (as in the
// PyTorch reference), shape, offset in the parameter arena, layer and weight-decay flag.
// It is the one place offsets are computed; the gradient and AdamW arenas share it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.hpp"

namespace dojo::model {

struct TensorInfo {
  std::string name;                 // e.g. "encoder.3.attn.qkv.weight"
  std::vector<std::int64_t> shape;  // e.g. (3 dim, dim)
  std::size_t offset = 0;           // elements from the arena start (64-byte aligned)
  std::size_t size = 0;             // elements
  std::size_t layer = 0;            // index into ParamTable::layers
  bool decay = true;                // weight decay applies (matrices; not biases/norms/tokens)
};

struct ParamTable {
  std::vector<std::string> layers;  // forward order: embed, encoder.i, encoder.norm, ...
  std::vector<TensorInfo> tensors;  // forward order, offsets increasing
  std::size_t total = 0;            // arena elements, padding included

  // Throws InternalError for a name the table does not have.
  const TensorInfo& find(std::string_view name) const;
  // [begin, end) arena elements of each layer, in forward order; they tile [0, total).
  std::vector<std::pair<std::size_t, std::size_t>> layer_ranges() const;
};

ParamTable build_param_table(const ModelConfig& config);

}  // namespace dojo::model
