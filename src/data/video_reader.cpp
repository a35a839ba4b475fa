#include "data/video_reader.hpp"

#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "data/av_handles.hpp"
#include "data/frame_sampler.hpp"

namespace dojo::data {
namespace {

constexpr std::int64_t kMinSide = 16;
constexpr std::int64_t kMaxSide = 16384;
constexpr std::int64_t kMaxPixels = 8192LL * 8192LL;

int rotation_of(const AVStream* stream) {
  const auto* matrix = reinterpret_cast<const std::int32_t*>(
      av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr));
  if (matrix == nullptr) return 0;
  // av_display_rotation_get gives the counter-clockwise angle; display needs the inverse.
  const double ccw = av_display_rotation_get(matrix);
  if (std::isnan(ccw)) return 0;
  int cw = static_cast<int>(std::lround(-ccw)) % 360;
  if (cw < 0) cw += 360;
  return (cw + 45) / 90 * 90 % 360;
}

// Rotates an interleaved (h, w, c) image clockwise by `deg` into `out`.
void rotate_into(const std::uint8_t* src, std::int64_t h, std::int64_t w, std::int64_t c, int deg,
                 std::uint8_t* out) {
  for (std::int64_t y = 0; y < h; ++y) {
    for (std::int64_t x = 0; x < w; ++x) {
      std::int64_t oy = y, ox = x, ow = w;
      if (deg == 90) {
        oy = x;
        ox = h - 1 - y;
        ow = h;
      } else if (deg == 180) {
        oy = h - 1 - y;
        ox = w - 1 - x;
      } else if (deg == 270) {
        oy = w - 1 - x;
        ox = y;
        ow = h;
      }
      std::memcpy(out + (oy * ow + ox) * c, src + (y * w + x) * c, static_cast<std::size_t>(c));
    }
  }
}

using SharedFrame = std::shared_ptr<AVFrame>;

// A decoded frame and its ordinal (0-based, in decoder output order).
struct Decoded {
  SharedFrame frame;
  std::int64_t index = -1;
};

}  // namespace

struct VideoReader::Impl {
  std::string path;
  ReaderOptions options;
  VideoInfo info;
  av::InputPtr format;
  av::CodecPtr codec;
  av::PacketPtr packet = av::make_packet();
  av::SwsPtr sws;
  int stream_index = -1;
  AVRational time_base{0, 1};
  double stream_fps = 0.0;
  std::int64_t frames_decoded = 0;
  std::int64_t next_index = 0;                    // ordinal the next decoded frame gets
  std::int64_t skip_before_pts = AV_NOPTS_VALUE;  // after a seek: frames before the target
  std::int64_t decode_errors = 0;
  bool truncated = false;
  bool input_done = false;    // no more packets will be read
  bool decoder_done = false;  // decoder fully drained

  // Timestamp sampling state (fps > 0).
  std::deque<Decoded> ready;  // frames to hand out, in order
  std::unique_ptr<FrameSampler> sampler;
  Decoded previous;  // the frame the sampler saw last
  std::vector<std::int64_t> picked;
  bool finished_sampling = false;
  std::int64_t last_index = -1;                   // ordinal of the frame next() returned last
  std::int64_t unrotated_w = 0, unrotated_h = 0;  // scale target before rotation
  std::vector<std::uint8_t> rotate_scratch;

  void open();
  bool decode_one(Decoded& out);
  void crop_to_aspect(AVFrame* frame) const;
  void push_sampled(Decoded frame);
  void file_picked(const Decoded& current);
  void convert(const AVFrame* frame, std::span<std::uint8_t> out);
};

void VideoReader::Impl::open() {
  av::VideoInput input = av::open_video_input(path);
  format = std::move(input.format);
  stream_index = input.stream_index;
  const AVCodec* decoder = input.decoder;
  DOJO_CHECK(decoder != nullptr, FormatError, "{}: no decoder for its video stream", path);
  AVStream* stream = input.stream;
  const AVCodecParameters* par = stream->codecpar;
  DOJO_CHECK(par->width >= kMinSide && par->height >= kMinSide && par->width <= kMaxSide &&
                 par->height <= kMaxSide &&
                 static_cast<std::int64_t>(par->width) * par->height <= kMaxPixels,
             FormatError,
             "{}: resolution {}x{} out of range (each side {}..{}, at most 8192x8192 pixels)", path,
             par->width, par->height, kMinSide, kMaxSide);

  codec.reset(avcodec_alloc_context3(decoder));
  if (!codec) throw std::bad_alloc();
  int ret = avcodec_parameters_to_context(codec.get(), par);
  DOJO_CHECK(ret >= 0, FormatError, "{}: bad codec parameters: {}", path, av::error_text(ret));
  codec->thread_count = options.threads;
  codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  ret = avcodec_open2(codec.get(), decoder, nullptr);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot open {} decoder: {}", path, decoder->name,
             av::error_text(ret));
  time_base = stream->time_base;
  stream_fps = input.fps;
  info.codec = decoder->name;
  info.width = par->width;
  info.height = par->height;
  info.rotation_deg = rotation_of(stream);
  info.fps = stream_fps;
  info.duration_s =
      format->duration > 0 ? static_cast<double>(format->duration) / AV_TIME_BASE : 0.0;
  info.frames_hint = stream->nb_frames;
  const bool swap = info.rotation_deg == 90 || info.rotation_deg == 270;
  unrotated_w = swap ? options.height : options.width;
  unrotated_h = swap ? options.width : options.height;
}

// Pulls one decoded frame; false when the decoder is drained.
bool VideoReader::Impl::decode_one(Decoded& out) {
  auto frame = av::make_frame();
  while (!decoder_done) {
    const int ret = avcodec_receive_frame(codec.get(), frame.get());
    if (ret >= 0) {
      if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
        ++decode_errors;
      }
      ++frames_decoded;
      if (skip_before_pts != AV_NOPTS_VALUE) {
        const std::int64_t pts = frame->best_effort_timestamp != AV_NOPTS_VALUE
                                     ? frame->best_effort_timestamp
                                     : frame->pts;
        if (pts != AV_NOPTS_VALUE && pts < skip_before_pts) continue;  // before the target
        skip_before_pts = AV_NOPTS_VALUE;
      }
      out.frame = SharedFrame(frame.release(), av::FrameDeleter{});
      out.index = next_index++;
      return true;
    }
    if (ret == AVERROR_EOF) {
      decoder_done = true;
      break;
    }
    if (ret != AVERROR(EAGAIN)) {
      ++decode_errors;  // a broken frame: keep decoding what follows
      continue;
    }
    if (input_done) {
      // Decoder wants input but none is left: it has been flushed already.
      decoder_done = true;
      break;
    }
    const int read = av_read_frame(format.get(), packet.get());
    if (read < 0) {
      if (read != AVERROR_EOF) {
        ++decode_errors;
        truncated = true;
      }
      input_done = true;
      avcodec_send_packet(codec.get(), nullptr);  // enter draining mode
      continue;
    }
    if (packet->stream_index == stream_index) {
      const int sent = avcodec_send_packet(codec.get(), packet.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) ++decode_errors;
    }
    av_packet_unref(packet.get());
  }
  return false;
}

void VideoReader::Impl::crop_to_aspect(AVFrame* frame) const {
  const std::int64_t sw = frame->width, sh = frame->height;
  std::int64_t cw = sw, ch = sh;
  if (sw * unrotated_h > sh * unrotated_w) {
    cw = sh * unrotated_w / unrotated_h;  // source is wider: trim left and right
  } else {
    ch = sw * unrotated_h / unrotated_w;  // source is taller: trim top and bottom
  }
  frame->crop_left = static_cast<std::size_t>((sw - cw) / 2);
  frame->crop_right = static_cast<std::size_t>(sw - cw - (sw - cw) / 2);
  frame->crop_top = static_cast<std::size_t>((sh - ch) / 2);
  frame->crop_bottom = static_cast<std::size_t>(sh - ch - (sh - ch) / 2);
  av_frame_apply_cropping(frame, AV_FRAME_CROP_UNALIGNED);
}

// Sampling at options.fps (frame_sampler.hpp): the sampler names which of the previous
// and the current frame each tick takes.
void VideoReader::Impl::push_sampled(Decoded frame) {
  if (options.fps <= 0.0) {
    ready.push_back(std::move(frame));
    return;
  }
  if (!sampler) sampler = std::make_unique<FrameSampler>(options.fps, stream_fps);
  const std::int64_t pts = frame.frame->best_effort_timestamp != AV_NOPTS_VALUE
                               ? frame.frame->best_effort_timestamp
                               : frame.frame->pts;
  std::optional<double> t;
  if (pts != AV_NOPTS_VALUE) t = static_cast<double>(pts) * av_q2d(time_base);
  picked.clear();
  sampler->push(t, frame.index, picked);
  file_picked(frame);
  previous = std::move(frame);
}

void VideoReader::Impl::file_picked(const Decoded& current) {
  for (const std::int64_t id : picked) ready.push_back(id == current.index ? current : previous);
}

void VideoReader::Impl::convert(const AVFrame* frame, std::span<std::uint8_t> out) {
  const AVPixelFormat dst_format = options.channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  sws.reset(sws_getCachedContext(sws.release(), frame->width, frame->height,
                                 static_cast<AVPixelFormat>(frame->format),
                                 static_cast<int>(unrotated_w), static_cast<int>(unrotated_h),
                                 dst_format, SWS_BILINEAR, nullptr, nullptr, nullptr));
  DOJO_CHECK(sws != nullptr, FormatError, "{}: cannot convert pixel format {} ({}x{})", path,
             frame->format, frame->width, frame->height);
  const int stride = static_cast<int>(unrotated_w * options.channels);
  std::uint8_t* target = out.data();
  if (info.rotation_deg != 0) {
    rotate_scratch.resize(out.size());
    target = rotate_scratch.data();
  }
  std::uint8_t* planes[4] = {target, nullptr, nullptr, nullptr};
  int strides[4] = {stride, 0, 0, 0};
  sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, planes, strides);
  if (info.rotation_deg != 0) {
    rotate_into(target, unrotated_h, unrotated_w, options.channels, info.rotation_deg, out.data());
  }
}

VideoReader::VideoReader(const std::string& path, const ReaderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  DOJO_CHECK(
      options.width >= 2 && options.height >= 2 && options.width <= 8192 && options.height <= 8192,
      InvalidArgument, "{}: output size {}x{} out of range", path, options.width, options.height);
  DOJO_CHECK(options.channels == 1 || options.channels == 3, InvalidArgument,
             "{}: channels = {}, expected 1 or 3", path, options.channels);
  DOJO_CHECK(options.fps >= 0.0 && options.fps <= 1000.0, InvalidArgument,
             "{}: fps = {}, expected 0 (keep all) .. 1000", path, options.fps);
  impl_->path = path;
  impl_->options = options;
  impl_->open();
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const {
  return impl_->info;
}

bool VideoReader::next(std::span<std::uint8_t> out) {
  Impl& s = *impl_;
  DOJO_ASSERT(static_cast<std::int64_t>(out.size()) ==
                  s.options.width * s.options.height * s.options.channels,
              "frame buffer of {} bytes", out.size());
  while (s.ready.empty()) {
    Decoded frame;
    if (!s.decode_one(frame)) {
      // End of stream: the last frame still covers ticks up to half a frame past it.
      if (s.sampler && !s.finished_sampling) {
        s.picked.clear();
        s.sampler->finish(s.picked);
        s.file_picked(s.previous);
        s.finished_sampling = true;
        s.previous = {};
      }
      if (s.ready.empty()) return false;
      break;
    }
    s.crop_to_aspect(frame.frame.get());
    s.push_sampled(std::move(frame));
  }
  Decoded frame = std::move(s.ready.front());
  s.ready.pop_front();
  s.last_index = frame.index;
  s.convert(frame.frame.get(), out);
  return true;
}

double VideoReader::output_fps() const {
  return impl_->options.fps > 0.0 ? impl_->options.fps : impl_->stream_fps;
}
std::int64_t VideoReader::frames_decoded() const {
  return impl_->frames_decoded;
}
std::int64_t VideoReader::decode_errors() const {
  return impl_->decode_errors;
}
bool VideoReader::truncated() const {
  return impl_->truncated;
}
void VideoReader::seek_frame(std::int64_t index, std::int64_t pts) {
  Impl& s = *impl_;
  DOJO_CHECK(s.options.fps <= 0.0, InvalidArgument,
             "{}: seek_frame needs every frame (fps 0), this reader samples at {} fps", s.path,
             s.options.fps);
  const int ret = av_seek_frame(s.format.get(), s.stream_index, pts, AVSEEK_FLAG_BACKWARD);
  DOJO_CHECK(ret >= 0, FormatError, "{}: cannot seek to frame {} (pts {}): {}", s.path, index, pts,
             av::error_text(ret));
  avcodec_flush_buffers(s.codec.get());
  s.ready.clear();
  s.input_done = false;
  s.decoder_done = false;
  s.skip_before_pts = pts;
  s.next_index = index;
}

std::int64_t VideoReader::frame_index() const {
  return impl_->last_index;
}
std::int64_t VideoReader::timestamp_jumps() const {
  return impl_->sampler ? impl_->sampler->jumps() : 0;
}

}  // namespace dojo::data
