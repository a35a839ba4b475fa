#include "data/video_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/error.hpp"
#include "core/atomic_file.hpp"
#include "data/av_handles.hpp"

namespace dojo::data {

struct VideoWriter::Impl {
  std::string path;
  std::string partial_path;             // = file->temp_path()
  std::unique_ptr<AtomicFile> file;     // removes the partial file unless committed
  WriterOptions options;
  av::OutputPtr format;
  av::CodecPtr codec;
  av::SwsPtr sws;
  av::FramePtr frame = av::make_frame();
  av::PacketPtr packet = av::make_packet();
  AVStream* stream = nullptr;
  std::int64_t frames = 0;
  std::int64_t last_pts = -1;
  bool finished = false;
  std::vector<std::uint8_t> padded;  // input frame + SIMD over-read padding

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
      // Without a duration the MP4 edit list ends at the last frame's start and demuxers
      // drop that frame.
      if (packet->duration == 0) packet->duration = 1000;
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
  s.file = std::make_unique<AtomicFile>(path);
  s.partial_path = s.file->temp_path().string();
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
  // No creation time or library version in the file: same frames, same bytes.
  s.format->flags |= AVFMT_FLAG_BITEXACT;
  // The muxer reopens its url for faststart's second pass: point it at the partial file.
  av_freep(&s.format->url);
  s.format->url = av_strdup(s.partial_path.c_str());
  if (s.format->url == nullptr) throw std::bad_alloc();
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
  // A fine time base: with 1/fps, B-frame reordering at low rates makes the MP4 edit list
  // hide the first frame from demuxers.
  c->time_base = AVRational{1, options.fps * 1000};
  c->framerate = AVRational{options.fps, 1};
  c->gop_size = options.gop > 0 ? options.gop : 2 * options.fps;
  c->thread_count = options.threads;
  c->flags |= AV_CODEC_FLAG_BITEXACT;
  c->pix_fmt = encoder->id == AV_CODEC_ID_MJPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
  if (s.format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (options.encoder == "libx264") {
    av_opt_set(c->priv_data, "preset", options.preset.c_str(), 0);
    av_opt_set_int(c->priv_data, "crf", options.crf, 0);
    if (options.threads == 1) {
      // Measured here (libx264 164): with its frame-type lookahead and macroblock tree on,
      // repeated encodes of the same frames in one process sometimes differ in a few
      // bytes. Without them the output is the same every time.
      av_opt_set(c->priv_data, "x264-params", "rc-lookahead=0:mbtree=0", 0);
    }
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
                             SWS_BILINEAR | SWS_ACCURATE_RND | SWS_BITEXACT, nullptr, nullptr,
                             nullptr));
  DOJO_CHECK(s.sws != nullptr, InvalidArgument, "{}: no BGR -> YUV conversion", path);

  if (options.rotation_deg != 0) {
    DOJO_CHECK(options.rotation_deg % 90 == 0, InvalidArgument,
               "{}: rotation {} degrees, expected a multiple of 90", path, options.rotation_deg);
    auto* matrix = reinterpret_cast<std::int32_t*>(
        av_stream_new_side_data(s.stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(std::int32_t)));
    if (matrix == nullptr) throw std::bad_alloc();
    // av_display_rotation_get() of this matrix is -rotation_deg: FFmpeg stores the inverse.
    av_display_rotation_set(matrix, options.rotation_deg);
  }

  ret = avio_open(&s.format->pb, s.partial_path.c_str(), AVIO_FLAG_WRITE);
  DOJO_CHECK(ret >= 0, IoError, "{}: cannot create: {}", s.partial_path, av::error_text(ret));
  AVDictionary* muxer_options = nullptr;
  if (options.faststart) av_dict_set(&muxer_options, "movflags", "+faststart", 0);
  ret = avformat_write_header(s.format.get(), &muxer_options);
  av_dict_free(&muxer_options);
  s.check(ret, "write header");
}

VideoWriter::~VideoWriter() {
  // Closes the file before the AtomicFile removes an unfinished one.
  if (!impl_->finished) impl_->format.reset();
}

void VideoWriter::write_bgr(std::span<const std::uint8_t> bgr) {
  write_bgr_at(bgr, static_cast<double>(impl_->frames) / impl_->options.fps);
}

void VideoWriter::write_bgr_at(std::span<const std::uint8_t> bgr, double time_s) {
  Impl& s = *impl_;
  const auto pts = static_cast<std::int64_t>(std::llround(time_s * s.options.fps * 1000.0));
  DOJO_CHECK(pts > s.last_pts, InvalidArgument, "{}: frame time {} s is not after the previous",
             s.path, time_s);
  DOJO_CHECK(!s.finished, InvalidArgument, "{}: write after finish()", s.path);
  DOJO_ASSERT(static_cast<std::int64_t>(bgr.size()) == s.options.width * s.options.height * 3,
              "BGR frame of {} bytes for {}x{}", bgr.size(), s.options.width, s.options.height);
  s.check(av_frame_make_writable(s.frame.get()), "frame writable");
  // swscale's SIMD reads up to 16 bytes past the last pixel: give it a zero-padded copy,
  // so nothing outside the frame can leak into the output.
  s.padded.resize(bgr.size() + 64, 0);
  std::copy(bgr.begin(), bgr.end(), s.padded.begin());
  const std::uint8_t* src[1] = {s.padded.data()};
  const int src_stride[1] = {static_cast<int>(s.options.width * 3)};
  sws_scale(s.sws.get(), src, src_stride, 0, static_cast<int>(s.options.height), s.frame->data,
            s.frame->linesize);
  s.frame->pts = pts;
  s.last_pts = pts;
  ++s.frames;
  s.encode(s.frame.get());
}

void VideoWriter::finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  s.encode(nullptr);
  s.check(av_write_trailer(s.format.get()), "write trailer");
  s.format.reset();
  s.file->commit();  // fsync, rename over the final name, fsync the folder
  s.finished = true;
}

std::int64_t VideoWriter::frames_written() const {
  return impl_->frames;
}

}  // namespace dojo::data
