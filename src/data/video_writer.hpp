#pragma once
// VideoWriter: encodes BGR frames (OpenCV's order) into a video file through libavcodec /
// libavformat. Default: H.264 (libx264) in MP4. The container follows the file extension
// (.mp4, .mkv, .avi, ...). The file is written under `<path>.partial` and renamed by
// finish(); a writer destroyed before finish() removes the partial file.
//
// With threads = 1 the output is bitwise deterministic for the same frames.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace dojo::data {

struct WriterOptions {
  std::int64_t width = 0;   // even
  std::int64_t height = 0;  // even
  int fps = 30;
  std::string encoder = "libx264";  // any libavcodec video encoder name
  int crf = 23;                     // libx264 quality (lower is better)
  std::string preset = "veryfast";  // libx264 speed preset
  int gop = 0;                      // keyframe interval; 0 = 2 seconds
  int threads = 1;
};

class VideoWriter {
 public:
  VideoWriter(const std::string& path, const WriterOptions& options);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Appends one (height, width, 3) BGR frame.
  void write_bgr(std::span<const std::uint8_t> frame);
  // Flushes the encoder, writes the trailer and renames the file into place.
  void finish();
  std::int64_t frames_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dojo::data
