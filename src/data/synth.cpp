#include "data/synth.hpp"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/log.hpp"
#include "data/labels.hpp"
#include "data/synth_scene.hpp"
#include "data/video_writer.hpp"

namespace dojo::data {

FrameLabels synth_label_columns() {
  FrameLabels labels;
  labels.columns = {{"curvature", "1/m", "mean"},
                    {"ego_speed", "m/s", "mean"},
                    {"lane_change", "0/1", "majority"},
                    {"cars_in_view", "cars", "mean"},
                    {"light", "factor", "mean"}};
  return labels;
}

std::vector<std::string> synthesize(const SynthOptions& options) {
  DOJO_CHECK(!options.out_dir.empty(), InvalidArgument, "synth: --out is empty");
  DOJO_CHECK(options.clips >= 0 && options.clips <= 1'000'000, InvalidArgument,
             "synth: clips = {}, expected 0..1000000", options.clips);
  DOJO_CHECK(options.seconds > 0 && options.seconds <= 3600, InvalidArgument,
             "synth: seconds = {}, expected (0, 3600]", options.seconds);
  DOJO_CHECK(options.width % 2 == 0 && options.height % 2 == 0 && options.width >= 16 &&
                 options.height >= 16,
             InvalidArgument, "synth: size {}x{} must be even and at least 16x16", options.width,
             options.height);
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  DOJO_CHECK(!ec, IoError, "synth: cannot create {}: {}", options.out_dir, ec.message());

  const auto frames = static_cast<std::int64_t>(std::llround(options.seconds * options.fps));
  std::vector<std::uint8_t> bgr(static_cast<std::size_t>(options.width * options.height * 3));
  std::vector<std::string> paths;
  for (std::int64_t i = 0; i < options.clips; ++i) {
    const std::int64_t index = options.first_index + i;
    const std::string path =
        (std::filesystem::path(options.out_dir) / fmt::format("synth_{:04}.mp4", index)).string();
    // Each clip's scene depends on (seed, index) only.
    DrivingScene scene(options.width, options.height, options.fps,
                       mix_seed(options.seed, static_cast<std::uint64_t>(index)));
    WriterOptions writer_options;
    writer_options.width = options.width;
    writer_options.height = options.height;
    writer_options.fps = options.fps;
    writer_options.encoder = options.encoder;
    writer_options.crf = options.crf;
    VideoWriter writer(path, writer_options);
    FrameLabels labels = synth_label_columns();
    labels.fps = options.fps;
    labels.values.reserve(static_cast<std::size_t>(frames * labels.width()));
    for (std::int64_t f = 0; f < frames; ++f) {
      const FrameTruth truth = scene.render_next(bgr);
      writer.write_bgr(bgr);
      labels.values.insert(
          labels.values.end(),
          {truth.curvature_per_m, truth.ego_speed_mps, truth.lane_change ? 1.0 : 0.0,
           static_cast<double>(truth.cars_in_view), truth.light});
    }
    writer.finish();
    write_labels(labels_path_for(path), labels);
    log::debug("synth: wrote {} ({} frames)", path, frames);
    paths.push_back(path);
  }
  return paths;
}

}  // namespace dojo::data
