#pragma once
// VideoReader: decodes one video file into frames of a fixed size, through libavformat /
// libavcodec (any codec this FFmpeg decodes; frame + slice threading) and swscale.
//
// Each frame is centre-cropped to the output aspect ratio (no letterbox bars, no
// stretching), scaled bilinearly to width x height and converted to RGB24 (channels 3)
// or 8-bit luma (channels 1). Rotation metadata (the stream's display matrix) is honoured:
// a phone clip recorded upright comes out upright. With `fps` > 0 frames are sampled by
// presentation timestamp at that rate (nearest decoded frame to each tick n / fps), so a
// variable-frame-rate file gives evenly spaced frames; with `fps` = 0 every decoded frame
// is returned. Sampling details (streams without timestamps, timestamp jumps):
// frame_sampler.hpp.
//
// Damaged input: the constructor throws FormatError with a specific reason (cannot open,
// no video stream, no decoder, resolution out of range). While decoding, packets the
// decoder rejects and frames it flags as corrupt are counted in decode_errors() and
// decoding goes on with what follows; a read error ends the stream early (truncated()).
// Not thread-safe; one reader per thread.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace dojo::data {

struct ReaderOptions {
  std::int64_t width = 96;
  std::int64_t height = 96;
  std::int64_t channels = 3;  // 3: RGB, 1: luma
  double fps = 0.0;           // target sampling rate; 0 keeps every decoded frame
  int threads = 0;            // decoder threads; 0 lets FFmpeg choose
};

struct VideoInfo {
  std::string codec;       // decoder name, e.g. "h264"
  std::int64_t width = 0;  // coded picture size, before rotation
  std::int64_t height = 0;
  int rotation_deg = 0;          // clockwise rotation applied for display: 0, 90, 180, 270
  double fps = 0.0;              // the stream's frame rate as FFmpeg guesses it (0 if unknown)
  double duration_s = 0.0;       // container duration (0 if unknown)
  std::int64_t frames_hint = 0;  // container frame count (0 if unknown)
};

class VideoReader {
 public:
  VideoReader(const std::string& path, const ReaderOptions& options);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  // Writes the next sampled frame, (height, width, channels) uint8, into `out` (exactly
  // that many bytes). Returns false at the end of the stream.
  bool next(std::span<std::uint8_t> out);
  // Rate of the returned frames: options.fps if set, else the stream's.
  double output_fps() const;

  std::int64_t frames_decoded() const;  // frames the decoder produced (before sampling)
  std::int64_t decode_errors() const;   // rejected packets + corrupt frames + read errors
  bool truncated() const;               // a read error ended the stream early
  // Ordinal (0-based, decoder output order) of the decoded frame the last next() returned:
  // the row of that frame in a per-frame labels file. -1 before the first next().
  std::int64_t frame_index() const;
  // Every-frame readers (fps 0) only: continue at decoded frame `index`, whose presentation
  // timestamp (stream time base) is `pts` (video_index.hpp lists them): seeks to the key
  // frame at or before it and decodes forward, dropping the frames before it. Throws
  // FormatError when the container cannot seek.
  void seek_frame(std::int64_t index, std::int64_t pts);
  // Timestamp gaps treated as discontinuities instead of filled (frame_sampler.hpp).
  std::int64_t timestamp_jumps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dojo::data
