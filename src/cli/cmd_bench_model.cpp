// `dojo bench model`: the model's training-step time and GFLOP/s (model/bench.hpp).
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "model/bench.hpp"

namespace {

struct Options {
  dojo::model::ModelBenchOptions bench;
  std::string precision = "fp32";
  bool json = false;
};

dojo::cli::Runner setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--config", o->bench.config, "model config: tiny, bench, small or a .yaml file")
      ->capture_default_str();
  app.add_option("--threads", o->bench.threads, "host threads (OpenBLAS and kernels)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", o->bench.steps, "timed steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o->bench.warmup, "untimed steps first")->capture_default_str();
  app.add_option("--batch", o->bench.batch, "clips per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--precision", o->precision, "GEMM operand precision")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--json", o->json, "print one JSON object");
  app.add_flag("--openblas", o->bench.openblas, "fp32 GEMMs through OpenBLAS, not oneDNN");
  app.add_flag("--breakdown", o->bench.breakdown, "time every kernel (adds a little overhead)");
  return [o](dojo::cli::Context&) {
    o->bench.precision = dojo::accel::parse_precision(o->precision);
    const auto r = dojo::model::run_model_bench(o->bench);
    if (o->json) {
      nlohmann::json j;
      j["config"] = r.config;
      j["threads"] = r.threads;
      j["precision"] = dojo::accel::to_string(r.precision);
      j["batch"] = r.batch;
      j["steps"] = r.step_ms.size();
      j["step_ms_median"] = r.step_ms_median;
      j["step_ms"] = r.step_ms;
      j["step_cpu_ms_median"] = r.step_cpu_ms_median;
      j["gflop_per_step"] = r.gflop_per_step;
      j["gflops"] = r.gflops;
      j["gemm_peak_gflops"] = r.gemm_peak_gflops;
      j["gemm_shapes"] = r.gemm_shapes;
      j["params"] = r.params;
      j["loss_first"] = r.loss_first;
      j["loss_last"] = r.loss_last;
      j["losses"] = r.losses;
      j["omp_wait_policy"] = std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "";
      fmt::print("{}\n", j.dump());
      return 0;
    }
    if (r.threads > 1 && std::getenv("OMP_WAIT_POLICY") == nullptr) {
      fmt::print(
          "note: OMP_WAIT_POLICY is unset; on a shared machine OMP_WAIT_POLICY=PASSIVE "
          "keeps spinning threads from stalling every parallel kernel\n");
    }
    fmt::print("model {} ({} parameters), batch {}, {} threads, {}\n", r.config, r.params, r.batch,
               r.threads, dojo::accel::to_string(r.precision));
    fmt::print("step time median {:.1f} ms over {} steps ({:.2f} GFLOP/step, {:.1f} GFLOP/s)\n",
               r.step_ms_median, r.step_ms.size(), r.gflop_per_step, r.gflops);
    fmt::print("process CPU time per step median {:.1f} ms\n", r.step_cpu_ms_median);
    fmt::print("loss {:.4f} -> {:.4f}\n", r.loss_first, r.loss_last);
    for (const auto& s : r.gemm_shapes) fmt::print("bare gemm {}\n", s);
    double gemm_ms = 0, gemm_gflop = 0;
    for (const auto& k : r.kernels) {
      fmt::print("  {:<32} {:8.2f} ms/step {:8.2f} cpu ms {:5} calls {:7.1f} GFLOP/s\n", k.name,
                 k.ms_per_step, k.cpu_ms_per_step, k.calls_per_step,
                 k.gflop_per_step / (k.ms_per_step / 1e3));
      if (k.name.starts_with("linear")) {
        gemm_ms += k.ms_per_step;
        gemm_gflop += k.gflop_per_step;
      }
    }
    if (!r.kernels.empty()) {
      fmt::print("linear-layer GEMMs: {:.1f} ms/step, {:.1f} GFLOP/s = {:.0f}% of the bare-GEMM "
                 "ceiling\n",
                 gemm_ms, gemm_gflop / (gemm_ms / 1e3),
                 100.0 * gemm_gflop / (gemm_ms / 1e3) / r.gemm_peak_gflops);
    }
    fmt::print("gemm ceiling {:.1f} GFLOP/s; model reaches {:.0f}% of it\n", r.gemm_peak_gflops,
               100.0 * r.gflops / r.gemm_peak_gflops);
    return 0;
  };
}

DOJO_COMMAND(bench_model, "bench", "model", "time a training step of the video model", kLocal,
             setup);

}  // namespace
