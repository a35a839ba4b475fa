#include "data/av_handles.hpp"

#include <mutex>
#include <new>

#include <fmt/format.h>

#include "core/error.hpp"
#include "data/file_kind.hpp"

namespace dojo::data::av {

void quiet_ffmpeg_log() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_FATAL); });
}

VideoInput open_video_input(const std::string& path) {
  if (const auto reason = confirm_regular_file(path)) {
    throw FormatError(fmt::format("{}: {}", path, *reason));
  }
  quiet_ffmpeg_log();
  VideoInput in;
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot open container: {}", path, error_text(ret));
  in.format.reset(raw);
  ret = avformat_find_stream_info(in.format.get(), nullptr);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot read stream info: {}", path, error_text(ret));
  in.stream_index =
      av_find_best_stream(in.format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &in.decoder, 0);
  DOJO_CHECK(in.stream_index != AVERROR_STREAM_NOT_FOUND, FormatError, "{}: no video stream",
             path);
  if (in.stream_index < 0) {
    // A video stream without a decoder: still indexable, not decodable.
    in.stream_index = av_find_best_stream(in.format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    in.decoder = nullptr;
  }
  DOJO_CHECK(in.stream_index >= 0, FormatError, "{}: no video stream ({})", path,
             error_text(in.stream_index));
  in.stream = in.format->streams[in.stream_index];
  // Only the video stream is demuxed into packets anyone looks at; skip the rest cheaply.
  for (unsigned i = 0; i < in.format->nb_streams; ++i) {
    if (static_cast<int>(i) != in.stream_index) in.format->streams[i]->discard = AVDISCARD_ALL;
  }
  const AVRational guessed = av_guess_frame_rate(in.format.get(), in.stream, nullptr);
  in.fps = guessed.num > 0 && guessed.den > 0 ? av_q2d(guessed) : 0.0;
  return in;
}

FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

}  // namespace dojo::data::av
