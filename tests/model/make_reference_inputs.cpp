// Writes the inputs of the PyTorch reference (see scripts/reference/videomae_reference.py):
// dojo's initial tiny-model parameters, one batch of clips and one tube mask.
//   model_reference_inputs OUT.bin
#include <cstdio>
#include <exception>

#include "accel/host_device.hpp"
#include "model/reference_inputs.hpp"
#include "model/tensor_file.hpp"
#include "model/videomae.hpp"

int main(int argc, char** argv) {
  using namespace dojo::model;
  using namespace dojo::model::testing;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.bin\n", argv[0]);
    return 2;
  }
  try {
    const ModelConfig c = load_model_config("tiny");
    dojo::accel::HostDevice device;
    VideoMAE model(c, device, kReferenceBatch);
    model.init(kReferenceInitSeed);
    TensorMap out;
    out["clips"] = {{kReferenceBatch, c.frames, c.height, c.width, c.channels}, reference_clips(c)};
    const TubeMask mask = reference_mask(c);
    out["visible_index"] = {
        {kReferenceBatch, mask.visible},
        std::vector<float>(mask.visible_index.begin(), mask.visible_index.end())};
    out["masked_index"] = {{kReferenceBatch, mask.masked},
                           std::vector<float>(mask.masked_index.begin(), mask.masked_index.end())};
    for (const TensorInfo& t : model.tensors()) {
      const auto p = model.param(t.name);
      out["param/" + t.name] = {t.shape, std::vector<float>(p.begin(), p.end())};
    }
    write_tensor_file(argv[1], out);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_reference_inputs: %s\n", e.what());
    return 1;
  }
}
