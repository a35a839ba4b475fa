#include "data/video_index.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/av_handles.hpp"
#include "data/file_kind.hpp"
#include "data/frame_sampler.hpp"

namespace dojo::data {

VideoIndex index_video(const std::string& path, double fps) {
  if (const auto reason = confirm_regular_file(path)) {
    throw FormatError(fmt::format("{}: {}", path, *reason));
  }
  av::quiet_ffmpeg_log();
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot open container: {}", path, av::error_text(ret));
  av::InputPtr format(raw);
  ret = avformat_find_stream_info(format.get(), nullptr);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot read stream info: {}", path, av::error_text(ret));
  const int stream_index =
      av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  DOJO_CHECK(stream_index >= 0, FormatError, "{}: no video stream", path);
  AVStream* stream = format->streams[stream_index];
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index) format->streams[i]->discard = AVDISCARD_ALL;
  }
  const AVRational guessed = av_guess_frame_rate(format.get(), stream, nullptr);
  const double stream_fps = guessed.num > 0 && guessed.den > 0 ? av_q2d(guessed) : 0.0;

  // Presentation times of the video packets (with their key flag); decoders output frames
  // in this order.
  std::vector<std::pair<std::int64_t, bool>> timed;
  std::int64_t untimed = 0;
  auto packet = av::make_packet();
  while (av_read_frame(format.get(), packet.get()) >= 0) {
    if (packet->stream_index == stream_index && (packet->flags & AV_PKT_FLAG_DISCARD) == 0) {
      const std::int64_t t = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (t == AV_NOPTS_VALUE) {
        ++untimed;
      } else {
        timed.emplace_back(t, (packet->flags & AV_PKT_FLAG_KEY) != 0);
      }
    }
    av_packet_unref(packet.get());
  }
  std::sort(timed.begin(), timed.end());
  std::vector<std::int64_t> pts;
  std::vector<std::int64_t> keys;
  for (const auto& [t, key] : timed) {
    if (key) keys.push_back(std::ssize(pts));
    pts.push_back(t);
  }
  VideoIndex index;
  index.packets = std::ssize(pts) + untimed;
  if (fps <= 0.0) {
    index.sampled_frames = index.packets;
    index.seekable = untimed == 0 && std::adjacent_find(pts.begin(), pts.end()) == pts.end();
    if (index.seekable) {
      index.frame_pts = std::move(pts);
      index.key_frames = std::move(keys);
    }
    return index;
  }
  FrameSampler sampler(fps, stream_fps);
  std::vector<std::int64_t> picked;
  std::int64_t id = 0;
  for (const std::int64_t t : pts) {
    picked.clear();
    sampler.push(static_cast<double>(t) * av_q2d(stream->time_base), id++, picked);
    index.sampled_frames += std::ssize(picked);
  }
  for (std::int64_t i = 0; i < untimed; ++i) {
    picked.clear();
    sampler.push(std::nullopt, id++, picked);
    index.sampled_frames += std::ssize(picked);
  }
  picked.clear();
  sampler.finish(picked);
  index.sampled_frames += std::ssize(picked);
  return index;
}

}  // namespace dojo::data
