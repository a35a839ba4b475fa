// `dojo bench model`: the model's training-step time and GFLOP/s (model/bench.hpp).
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
      j["gflop_per_step"] = r.gflop_per_step;
      j["gflops"] = r.gflops;
      j["gemm_peak_gflops"] = r.gemm_peak_gflops;
      j["gemm_shapes"] = r.gemm_shapes;
      j["params"] = r.params;
      j["loss_first"] = r.loss_first;
      j["loss_last"] = r.loss_last;
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("model {} ({} parameters), batch {}, {} threads, {}\n", r.config, r.params, r.batch,
               r.threads, dojo::accel::to_string(r.precision));
    fmt::print("step time median {:.1f} ms over {} steps ({:.2f} GFLOP/step, {:.1f} GFLOP/s)\n",
               r.step_ms_median, r.step_ms.size(), r.gflop_per_step, r.gflops);
    fmt::print("loss {:.4f} -> {:.4f}\n", r.loss_first, r.loss_last);
    for (const auto& s : r.gemm_shapes) fmt::print("bare gemm {}\n", s);
    fmt::print("gemm ceiling {:.1f} GFLOP/s; model reaches {:.0f}% of it\n", r.gemm_peak_gflops,
               100.0 * r.gflops / r.gemm_peak_gflops);
    return 0;
  };
}

DOJO_COMMAND(bench_model, "bench", "model", "time a training step of the video model", kLocal,
             setup);

}  // namespace
