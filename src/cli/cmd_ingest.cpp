// `dojo ingest`: video files -> HDF5 shards + manifest.json (data/ingest.hpp). Runs on
// every rank of the world; ranks split the inputs.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.hpp"
#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/ingest.hpp"

namespace {

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<dojo::data::IngestOptions>();
  auto size = std::make_shared<std::string>("96x96");
  app.add_option("inputs", opts->inputs, "video files or folders (searched recursively)")
      ->required();
  app.add_option("--out", opts->out_dir, "output folder (shards + manifest.json)")->required();
  app.add_option("--frames", opts->shape.frames, "frames per clip (T)")->capture_default_str();
  app.add_option("--size", *size, "clip frame size WxH (centre crop, then scale)")
      ->capture_default_str();
  app.add_option("--channels", opts->shape.channels, "3 (RGB) or 1 (gray)")->capture_default_str();
  app.add_option("--frame-step", opts->shape.frame_step, "sampled frames between clip frames")
      ->capture_default_str();
  app.add_option("--clip-stride", opts->clip_stride,
                 "sampled frames between clip starts (0: T * frame step)")
      ->capture_default_str();
  app.add_option("--fps", opts->fps, "sample frames by timestamp at this rate (0: every frame)")
      ->capture_default_str();
  app.add_option("--threads", opts->threads,
                 "decoder threads per rank (0: cores / ranks on this host)")
      ->capture_default_str();
  app.add_option("--clips-per-shard", opts->clips_per_shard, "clips per HDF5 shard")
      ->capture_default_str();
  app.add_flag("--strict", opts->strict, "fail when any input is skipped");
  return [opts, size](dojo::cli::Context& ctx) {
    long long w = 0, h = 0;
    char x = 0;
    DOJO_CHECK(std::sscanf(size->c_str(), "%lld%c%lld", &w, &x, &h) == 3 && (x == 'x' || x == 'X'),
               InvalidArgument, "--size '{}': expected WxH, e.g. 96x96", *size);
    opts->shape.width = w;
    opts->shape.height = h;
    if (opts->threads == 0) {
      // Ranks on one host share its cores instead of each decoding with all of them.
      const auto cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      opts->threads = std::max(1, cores / std::max(1, ctx.local_size));
    }
    // Ranks coordinate through the world communicator; data itself knows no communicator.
    dojo::comm::Communicator& world = *ctx.world;
    opts->rank = world.rank();
    opts->size = world.size();
    opts->all_gather = [&world](const std::string& mine) {
      const auto all = dojo::comm::all_gather_bytes(world, std::as_bytes(std::span(mine)));
      std::vector<std::string> out;
      for (const auto& bytes : all)
        out.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return out;
    };
    const auto report = dojo::data::ingest(*opts);
    const double fps = report.seconds > 0 ? report.frames_decoded / report.seconds : 0.0;
    dojo::log::info0(
        "ingest: {} inputs found, {} already done, {} ok, {} skipped, {} not videos; {} clips in "
        "{} shards; {} frames in {:.2f} s ({:.0f} frames/s){}",
        report.inputs_found, report.inputs_already_done, report.inputs_ok, report.inputs_skipped,
        report.inputs_ignored, report.clips_written, report.shards_written, report.frames_decoded,
        report.seconds, fps,
        report.strays.empty()
            ? ""
            : fmt::format("; {} leftover file(s) of an earlier run ignored", report.strays.size()));
    return 0;
  };
}

DOJO_COMMAND(ingest, "", "ingest", "decode videos into HDF5 clip shards", kDistributed, setup);

}  // namespace
