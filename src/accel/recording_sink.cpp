#include "accel/recording_sink.hpp"

namespace dojo::accel {

void RecordingSink::on_kernel(const KernelRecord& record) {
  kernels_.push_back({std::string(record.name), std::string(record.layer), record});
}

void RecordingSink::on_collective(const CollectiveRecord& record) {
  collectives_.push_back({std::string(record.name), record});
}

KernelRecord RecordingSink::kernel(std::size_t i) const {
  const auto& k = kernels_.at(i);
  KernelRecord record = k.record;
  record.name = k.name;
  record.layer = k.layer;
  return record;
}

double RecordingSink::total_flops() const {
  double flops = 0;
  for (const auto& k : kernels_) flops += k.record.flops;
  return flops;
}

}  // namespace dojo::accel
