#pragma once
// `dojo export`: a checkpoint's parameters as safetensors (safetensors.hpp), named as the
// PyTorch reference (scripts/reference/videomae_torch.py) names its parameters, so
// `model.load_state_dict(tensors, strict=False)` takes them (only its fixed sin-cos
// buffers enc_pos / dec_pos are not in the file). The model config rides in
// __metadata__ as strings (one key per ModelConfig field, plus "format", "step").
//
// The optional check file lets another framework confirm it runs the same model: one
// clip and its mask with dojo's outputs on it, as safetensors too:
//   clip (1, T, H, W, C) F32, visible_index (1, Nv) I64, masked_index (1, Nm) I64,
//   loss (1) F32, predictions (1, Nm, P) F32 (normalised, masked_index order),
//   embedding (1, encoder_dim) F32 (VideoMAE::embed).
// scripts/reference/load_dojo.py reads both files and compares.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "model/config.hpp"

namespace dojo::train {

// dojo's parameter name -> the PyTorch module's ("encoder.norm.weight" ->
// "encoder_norm.weight"; block norms such as "encoder.0.norm1.weight" are unchanged).
std::string torch_name(std::string_view dojo_name);
// Every ModelConfig field as a string (floats with round-trip precision).
std::map<std::string, std::string> model_metadata(const model::ModelConfig& config);

struct ExportOptions {
  std::string checkpoint;
  std::string out;               // model.safetensors
  std::string check_clip;        // optional: the check file described above
  std::uint64_t check_seed = 1;  // the check clip's pixels and mask
};
struct ExportSummary {
  std::size_t tensors = 0;
  std::int64_t parameters = 0;
  float check_loss = 0;  // when a check file was written
};
ExportSummary export_checkpoint(const ExportOptions& options);

}  // namespace dojo::train
