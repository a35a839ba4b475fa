#pragma once
// RecordingSink: keeps the records a Device reports (with their names copied) so that one
// profiled step can be replayed into any number of cost models.
#include <string>
#include <vector>

#include "accel/cost_sink.hpp"

namespace dojo::accel {

class RecordingSink final : public CostSink {
 public:
  struct Kernel {
    std::string name;
    std::string layer;
    KernelRecord record;  // name/layer views are re-pointed at the strings above on replay
  };
  struct Collective {
    std::string name;
    CollectiveRecord record;
  };

  void on_kernel(const KernelRecord& record) override;
  void on_collective(const CollectiveRecord& record) override;
  const std::vector<Kernel>& kernels() const { return kernels_; }
  const std::vector<Collective>& collectives() const { return collectives_; }
  // The record of kernel i with its name and layer views valid while this sink lives.
  KernelRecord kernel(std::size_t i) const;
  double total_flops() const;

 private:
  std::vector<Kernel> kernels_;
  std::vector<Collective> collectives_;
};

}  // namespace dojo::accel
