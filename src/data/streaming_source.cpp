#include "data/streaming_source.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/ingest.hpp"

namespace dojo::data {

StreamingSource::StreamingSource(const std::vector<std::string>& videos, const ClipShape& shape,
                                 std::int64_t clip_stride, double fps)
    : shape_(shape), stride_(clip_stride > 0 ? clip_stride : shape.frames * shape.frame_step) {
  check_clip_shape(shape, "streaming loader");
  reader_options_.width = shape.width;
  reader_options_.height = shape.height;
  reader_options_.channels = shape.channels;
  reader_options_.fps = fps;
  IngestOptions probe;
  probe.shape = shape;
  probe.clip_stride = stride_;
  probe.fps = fps;
  for (const auto& path : expand_inputs(videos)) {
    const ManifestInput result = probe_input(path, probe);
    if (result.status != "ok") {
      log::warn("streaming loader: {}: skipped: {}", path, result.reason);
      continue;
    }
    files_.push_back(path);
    first_.push_back(total_);
    total_ += result.clips;
  }
  DOJO_CHECK(total_ > 0, InvalidArgument, "streaming loader: no clips in the {} video input(s)",
             videos.size());
}

StreamingSource::~StreamingSource() = default;

std::pair<std::size_t, std::int64_t> StreamingSource::locate(std::int64_t i) const {
  DOJO_CHECK(i >= 0 && i < total_, InvalidArgument, "clip index {} out of range [0, {})", i, total_);
  const auto k = static_cast<std::size_t>(std::upper_bound(first_.begin(), first_.end(), i) -
                                          first_.begin() - 1);
  return {k, i - first_[k]};
}

void StreamingSource::read(std::int64_t i, std::span<std::uint8_t> out) {
  const auto [file, local] = locate(i);
  const std::int64_t start = local * stride_;
  if (!reader_ || open_file_ != file || last_start_ >= start) {
    reader_ = std::make_unique<VideoReader>(files_[file], reader_options_);
    cutter_ = std::make_unique<ClipCutter>(shape_, stride_);
    open_file_ = file;
    last_start_ = -1;
  }
  while (reader_->next(cutter_->slot())) {
    if (!cutter_->push()) continue;
    last_start_ = cutter_->clip_start();
    if (last_start_ == start) {
      std::copy(cutter_->clip().begin(), cutter_->clip().end(), out.begin());
      return;
    }
  }
  throw FormatError(fmt::format("{}: clip {} (frame {}) no longer decodes: the file changed "
                                "since the loader indexed it",
                                files_[file], local, start));
}

std::string StreamingSource::describe(std::int64_t i) const {
  const auto [file, local] = locate(i);
  return fmt::format("video {} clip {}", files_[file], local);
}

}  // namespace dojo::data
