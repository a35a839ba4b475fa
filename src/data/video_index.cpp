#include "data/video_index.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/av_handles.hpp"
#include "data/frame_sampler.hpp"

namespace dojo::data {

VideoIndex index_video(const std::string& path, double fps) {
  av::VideoInput input = av::open_video_input(path);
  av::InputPtr& format = input.format;
  const int stream_index = input.stream_index;
  AVStream* stream = input.stream;
  const double stream_fps = input.fps;

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
