#pragma once
// Private to src/data: RAII owners for FFmpeg handles and the one place FFmpeg error
// codes become text. Only the data library's FFmpeg files include this.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace dojo::data::av {

struct InputDeleter {
  void operator()(AVFormatContext* c) const noexcept { avformat_close_input(&c); }
};
// An output context owns its AVIOContext (closed here when the muxer opened one).
struct OutputDeleter {
  void operator()(AVFormatContext* c) const noexcept {
    if (c->pb != nullptr && (c->oformat->flags & AVFMT_NOFILE) == 0) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const noexcept { sws_freeContext(s); }
};

using InputPtr = std::unique_ptr<AVFormatContext, InputDeleter>;
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

// av_strerror as a std::string.
inline std::string error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  return buf;
}

// FFmpeg's own log would repeat every corrupt packet (and x264 its statistics) on stderr;
// dojo counts errors and reports one line per file instead. Idempotent.
void quiet_ffmpeg_log();

// A container opened for its best video stream: every other stream discarded, the
// stream's decoder (nullptr when FFmpeg has none for it) and frame rate (0 when unknown).
// Only regular files are opened (libavformat would block for ever on a FIFO). FormatError
// naming `path` when it is not a readable container with a video stream.
struct VideoInput {
  InputPtr format;
  int stream_index = -1;
  AVStream* stream = nullptr;
  const AVCodec* decoder = nullptr;
  double fps = 0.0;
};
VideoInput open_video_input(const std::string& path);

// Allocations that can only fail when memory is exhausted.
FramePtr make_frame();
PacketPtr make_packet();

}  // namespace dojo::data::av
