#include "comm/bench_allreduce.hpp"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "core/stats.hpp"

namespace dojo::comm {
namespace {

// Values are multiples of 1/4 below 2^10, so any sum over <= 2^10 ranks is exact in float
// and every algorithm must reproduce it bit for bit.
float input_value(int rank, std::size_t i) {
  return 0.25f * static_cast<float>((static_cast<std::size_t>(rank) * 7 + i) % 13) +
         static_cast<float>(rank);
}

void fill(std::span<float> data, int rank) {
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = input_value(rank, i);
}

bool check_sum(std::span<const float> data, int ranks) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    float expected = 0;
    for (int r = 0; r < ranks; ++r) expected += input_value(r, i);
    if (data[i] != expected) return false;
  }
  return true;
}

int default_iters(std::size_t bytes) {
  const std::size_t budget = std::size_t{512} << 20;  // bytes moved per measurement
  return static_cast<int>(
      std::clamp<std::size_t>(budget / std::max<std::size_t>(bytes, 1), 10, 200));
}

}  // namespace

std::vector<AllreduceBenchRow> bench_allreduce(Communicator& mpi, Communicator* gloo,
                                               const AllreduceBenchOptions& options) {
  using Clock = std::chrono::steady_clock;
  std::vector<AllreduceBenchRow> rows;
  for (std::size_t bytes : options.sizes_bytes) {
    std::vector<float> buffer(bytes / sizeof(float));
    for (Algorithm algorithm : options.algorithms) {
      Communicator& comm = algorithm == Algorithm::kGloo ? *gloo : mpi;
      DOJO_CHECK(algorithm != Algorithm::kGloo || gloo != nullptr, InvalidArgument,
                 "bench allreduce: algorithm gloo needs a gloo communicator");
      Allreducer reducer(comm, algorithm);
      std::span<float> data(buffer);

      fill(data, comm.rank());
      reducer.run(data, ReduceOp::kSum);
      const int mine_ok = check_sum(data, comm.size()) ? 1 : 0;
      const auto all_ok = all_gather_value(mpi, mine_ok);
      const bool correct = std::all_of(all_ok.begin(), all_ok.end(), [](int v) { return v; });

      for (int i = 0; i < options.warmup; ++i) reducer.run(data, ReduceOp::kAverage);
      const int iters = options.iters > 0 ? options.iters : default_iters(bytes);
      std::vector<double> times;
      for (int i = 0; i < iters; ++i) {
        mpi.barrier();
        const auto start = Clock::now();
        reducer.run(data, ReduceOp::kAverage);  // average keeps values bounded over iterations
        const double mine = std::chrono::duration<double>(Clock::now() - start).count();
        const auto all = all_gather_value(mpi, mine);
        times.push_back(*std::max_element(all.begin(), all.end()));
      }
      const double median_s = median(times);
      const int n = comm.size();
      const double algbw = bytes == 0 ? 0.0 : static_cast<double>(bytes) / median_s / 1e9;
      rows.push_back({algorithm, bytes, n, median_s * 1e6, algbw,
                      algbw * 2.0 * (n - 1) / std::max(n, 1), correct});
    }
  }
  return rows;
}

std::vector<std::size_t> parse_sizes(const std::string& list) {
  std::vector<std::size_t> sizes;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t pos = 0;
    unsigned long long value = 0;
    try {
      value = std::stoull(item, &pos);
    } catch (const std::exception&) {
      throw InvalidArgument(fmt::format("--sizes: '{}' is not a size (e.g. 4K, 1M, 65539)", item));
    }
    const std::string suffix = item.substr(pos);
    std::size_t scale = 1;
    if (suffix == "K" || suffix == "k")
      scale = 1 << 10;
    else if (suffix == "M" || suffix == "m")
      scale = 1 << 20;
    else if (suffix == "G" || suffix == "g")
      scale = std::size_t{1} << 30;
    else if (!suffix.empty() && suffix != "B")
      throw InvalidArgument(
          fmt::format("--sizes: '{}' has unknown suffix '{}' (K, M, G)", item, suffix));
    const std::size_t bytes = value * scale;
    DOJO_CHECK(bytes % sizeof(float) == 0, InvalidArgument,
               "--sizes: {} bytes is not a whole number of float32 elements", bytes);
    sizes.push_back(bytes);
  }
  DOJO_CHECK(!sizes.empty(), InvalidArgument, "--sizes: no sizes given");
  return sizes;
}

std::string format_bytes(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{}M", bytes >> 20);
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return fmt::format("{}K", bytes >> 10);
  return fmt::format("{}", bytes);
}

}  // namespace dojo::comm
