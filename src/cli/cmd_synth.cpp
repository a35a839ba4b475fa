// `dojo synth`: procedurally generated driving clips as H.264 MP4 (data/synth.hpp).
#include <cstdio>
#include <memory>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/synth.hpp"

namespace {

// Parses "WxH" into width and height.
void parse_size(const std::string& text, std::int64_t& width, std::int64_t& height) {
  long long w = 0, h = 0;
  char x = 0;
  DOJO_CHECK(std::sscanf(text.c_str(), "%lld%c%lld", &w, &x, &h) == 3 && (x == 'x' || x == 'X'),
             InvalidArgument, "--size '{}': expected WxH, e.g. 320x240", text);
  width = w;
  height = h;
}

dojo::cli::Runner setup(CLI::App& app) {
  auto opts = std::make_shared<dojo::data::SynthOptions>();
  auto size = std::make_shared<std::string>("320x240");
  app.add_option("--out", opts->out_dir, "output folder")->required();
  app.add_option("--clips", opts->clips, "number of video files")->capture_default_str();
  app.add_option("--seconds", opts->seconds, "length of each file")->capture_default_str();
  app.add_option("--size", *size, "frame size WxH (even)")->capture_default_str();
  app.add_option("--fps", opts->fps, "frame rate")->capture_default_str();
  app.add_option("--seed", opts->seed, "scene seed (same seed, same files)")->capture_default_str();
  app.add_option("--crf", opts->crf, "x264 quality, lower is better")->capture_default_str();
  app.add_option("--first-index", opts->first_index, "number of the first file")
      ->capture_default_str();
  return [opts, size](dojo::cli::Context&) {
    parse_size(*size, opts->width, opts->height);
    const auto paths = dojo::data::synthesize(*opts);
    dojo::log::info("synth: wrote {} clips of {} s at {}x{} {} fps into {}", paths.size(),
                    opts->seconds, opts->width, opts->height, opts->fps, opts->out_dir);
    return 0;
  };
}

DOJO_COMMAND(synth, "", "synth", "generate synthetic driving clips (H.264 MP4)", kLocal, setup);

}  // namespace
