#include "model/profile.hpp"

#include "accel/host_device.hpp"
#include "model/optim.hpp"
#include "model/videomae.hpp"

namespace dojo::model {

void profile_training_step(const ModelConfig& config, std::int64_t batch,
                           accel::Precision precision, accel::CostSink& sink) {
  accel::HostDeviceOptions options;
  options.dry_run = true;
  options.precision = precision;
  accel::HostDevice device(options);
  ModelConfig c = config;
  c.precision = precision;
  VideoMAE model(c, device, batch);
  AdamW optimizer(model);
  const TubeMask mask = make_tube_mask(c, batch, 0);
  device.set_sink(&sink);
  model.zero_grads();
  model.forward_backward({}, mask);
  optimizer.step(1e-3f);
  device.set_sink(nullptr);
}

}  // namespace dojo::model
