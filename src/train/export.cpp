#include "train/export.hpp"

#include "core/error.hpp"
#include "model/mask.hpp"
#include "core/random.hpp"
#include "train/run_model.hpp"
#include "train/safetensors.hpp"

namespace dojo::train {

std::string torch_name(std::string_view dojo_name) {
  std::string name(dojo_name);
  for (const std::string prefix : {"encoder", "decoder"}) {
    if (name.starts_with(prefix + ".norm.")) name[prefix.size()] = '_';
  }
  return name;
}

std::map<std::string, std::string> model_metadata(const model::ModelConfig& c) {
  auto i = [](std::int64_t v) { return std::to_string(v); };
  auto f = [](double v) { return fmt::format("{}", v); };
  return {{"name", c.name},
          {"frames", i(c.frames)},
          {"height", i(c.height)},
          {"width", i(c.width)},
          {"channels", i(c.channels)},
          {"tubelet_frames", i(c.tubelet_frames)},
          {"patch", i(c.patch)},
          {"mask_ratio", f(c.mask_ratio)},
          {"encoder_dim", i(c.encoder_dim)},
          {"encoder_depth", i(c.encoder_depth)},
          {"encoder_heads", i(c.encoder_heads)},
          {"decoder_dim", i(c.decoder_dim)},
          {"decoder_depth", i(c.decoder_depth)},
          {"decoder_heads", i(c.decoder_heads)},
          {"mlp_ratio", f(c.mlp_ratio)},
          {"ln_eps", fmt::format("{}", c.ln_eps)},
          {"target_eps", fmt::format("{}", c.target_eps)},
          {"precision", accel::to_string(c.precision)}};
}

ExportSummary export_checkpoint(const ExportOptions& o) {
  DOJO_CHECK(!o.out.empty(), InvalidArgument, "dojo export: --out is required");
  LoadedModel m = load_model(o.checkpoint, 1);
  const model::ModelConfig& c = m.model_config;
  SafeTensors file;
  file.metadata = model_metadata(c);
  file.metadata["format"] = "dojo-videomae";
  file.metadata["step"] = std::to_string(m.checkpoint.meta.step);
  ExportSummary summary;
  for (const auto& t : m.model->tensors()) {
    file.tensors.push_back(
        f32_tensor(torch_name(t.name), t.shape, m.checkpoint.params.data() + t.offset));
    summary.parameters += static_cast<std::int64_t>(t.size);
  }
  summary.tensors = file.tensors.size();
  write_safetensors(o.out, file);

  if (!o.check_clip.empty()) {
    CounterRng rng(o.check_seed);
    std::vector<float> clip(static_cast<std::size_t>(c.clip_elems()));
    for (auto& x : clip) x = static_cast<float>(rng.uniform());
    const model::TubeMask mask = model::make_tube_mask(c, 1, o.check_seed);
    summary.check_loss = m.model->forward_loss(clip, mask);
    const auto pred = m.model->predictions();
    const std::vector<float> loss = {summary.check_loss};
    const auto embedding = m.model->embed(clip);
    SafeTensors check;
    check.metadata = file.metadata;
    check.tensors = {f32_tensor("clip", {1, c.frames, c.height, c.width, c.channels}, clip.data()),
                     i64_tensor("visible_index", {1, mask.visible}, mask.visible_index.data()),
                     i64_tensor("masked_index", {1, mask.masked}, mask.masked_index.data()),
                     f32_tensor("loss", {1}, loss.data()),
                     f32_tensor("predictions", {1, mask.masked, c.patch_dim()}, pred.data()),
                     f32_tensor("embedding", {1, c.encoder_dim}, embedding.data())};
    write_safetensors(o.check_clip, check);
  }
  return summary;
}

}  // namespace dojo::train
