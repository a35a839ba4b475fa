#include "data/video_writer.hpp"

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "data/av_handles.hpp"

namespace dojo::data {

struct VideoWriter::Impl {
  std::string path;
  std::string partial_path;
  WriterOptions options;
  av::OutputPtr format;
  av::CodecPtr codec;
  av::SwsPtr sws;
  av::FramePtr frame = av::make_frame();
  av::PacketPtr packet = av::make_packet();
  AVStream* stream = nullptr;
  std::int64_t frames = 0;
  bool finished = false;

  void check(int ret, const char* what) const {
    DOJO_CHECK(ret >= 0, IoError, "{}: {}: {}", path, what, av::error_text(ret));
  }
  // Sends `input` (nullptr flushes) and writes every packet the encoder returns.
  void encode(const AVFrame* input) {
    check(avcodec_send_frame(codec.get(), input), "encode frame");
    while (true) {
      const int ret = avcodec_receive_packet(codec.get(), packet.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      check(ret, "receive packet");
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(format.get(), packet.get()), "write packet");
    }
  }
};

VideoWriter::VideoWriter(const std::string& path, const WriterOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = path;
  s.partial_path = path + ".partial";
  s.options = options;
  DOJO_CHECK(options.width >= 2 && options.height >= 2 && options.width % 2 == 0 &&
                 options.height % 2 == 0,
             InvalidArgument, "{}: frame size {}x{} must be even and at least 2x2", path,
             options.width, options.height);
  DOJO_CHECK(options.fps >= 1 && options.fps <= 240, InvalidArgument,
             "{}: fps = {}, expected 1..240", path, options.fps);

  av::quiet_ffmpeg_log();
  AVFormatContext* raw = nullptr;
  // The container is chosen from the final name; bytes go to the partial name.
  int ret = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str());
  DOJO_CHECK(ret >= 0 && raw != nullptr, InvalidArgument,
             "{}: no container format for this file name: {}", path, av::error_text(ret));
  s.format.reset(raw);
  const AVCodec* encoder = avcodec_find_encoder_by_name(options.encoder.c_str());
  DOJO_CHECK(encoder != nullptr, InvalidArgument, "{}: encoder '{}' is not in this FFmpeg", path,
             options.encoder);
  s.stream = avformat_new_stream(s.format.get(), nullptr);
  if (s.stream == nullptr) throw std::bad_alloc();
  s.codec.reset(avcodec_alloc_context3(encoder));
  if (!s.codec) throw std::bad_alloc();
  AVCodecContext* c = s.codec.get();
  c->width = static_cast<int>(options.width);
  c->height = static_cast<int>(options.height);
  c->time_base = AVRational{1, options.fps};
  c->framerate = AVRational{options.fps, 1};
  c->gop_size = options.gop > 0 ? options.gop : 2 * options.fps;
  c->thread_count = options.threads;
  c->pix_fmt = encoder->id == AV_CODEC_ID_MJPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
  if (s.format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (options.encoder == "libx264") {
    av_opt_set(c->priv_data, "preset", options.preset.c_str(), 0);
    av_opt_set_int(c->priv_data, "crf", options.crf, 0);
  } else {
    c->bit_rate = 8 * c->width * c->height * options.fps / 10;  // ~0.8 bit per pixel
  }
  s.check(avcodec_open2(c, encoder, nullptr), "open encoder");
  s.check(avcodec_parameters_from_context(s.stream->codecpar, c), "codec parameters");
  s.stream->time_base = c->time_base;

  s.frame->format = c->pix_fmt;
  s.frame->width = c->width;
  s.frame->height = c->height;
  s.check(av_frame_get_buffer(s.frame.get(), 0), "allocate frame");
  s.sws.reset(sws_getContext(c->width, c->height, AV_PIX_FMT_BGR24, c->width, c->height, c->pix_fmt,
                             SWS_BILINEAR, nullptr, nullptr, nullptr));
  DOJO_CHECK(s.sws != nullptr, InvalidArgument, "{}: no BGR -> YUV conversion", path);

  ret = avio_open(&s.format->pb, s.partial_path.c_str(), AVIO_FLAG_WRITE);
  DOJO_CHECK(ret >= 0, IoError, "{}: cannot create: {}", s.partial_path, av::error_text(ret));
  s.check(avformat_write_header(s.format.get(), nullptr), "write header");
}

VideoWriter::~VideoWriter() {
  if (!impl_->finished) {
    impl_->format.reset();  // closes the file before it is removed
    std::error_code ignored;
    std::filesystem::remove(impl_->partial_path, ignored);
  }
}

void VideoWriter::write_bgr(std::span<const std::uint8_t> bgr) {
  Impl& s = *impl_;
  DOJO_CHECK(!s.finished, InvalidArgument, "{}: write after finish()", s.path);
  DOJO_ASSERT(static_cast<std::int64_t>(bgr.size()) == s.options.width * s.options.height * 3,
              "BGR frame of {} bytes for {}x{}", bgr.size(), s.options.width, s.options.height);
  s.check(av_frame_make_writable(s.frame.get()), "frame writable");
  const std::uint8_t* src[1] = {bgr.data()};
  const int src_stride[1] = {static_cast<int>(s.options.width * 3)};
  sws_scale(s.sws.get(), src, src_stride, 0, static_cast<int>(s.options.height), s.frame->data,
            s.frame->linesize);
  s.frame->pts = s.frames++;
  s.encode(s.frame.get());
}

void VideoWriter::finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  s.encode(nullptr);
  s.check(av_write_trailer(s.format.get()), "write trailer");
  s.format.reset();
  std::error_code ec;
  std::filesystem::rename(s.partial_path, s.path, ec);
  DOJO_CHECK(!ec, IoError, "{}: cannot rename from {}: {}", s.path, s.partial_path, ec.message());
  s.finished = true;
}

std::int64_t VideoWriter::frames_written() const {
  return impl_->frames;
}

}  // namespace dojo::data
