#pragma once
// StreamingSource: clips decoded straight from video files, no shards (the loader's
// streaming mode).
//
// Index. Built at construction without decoding (video_index.hpp: the container's packets
// and timestamps), with the same cutting as ingest (clip_cutter.hpp), so global clip i is
// the clip ingest would write as the i-th of these files. Files that cannot be used are
// left out with a warning.
//
// Reading. `workers` decode threads; file f belongs to worker f % workers, which keeps up
// to kOpenFiles decoders of its files open (least recently used closed first). A clip
// ahead in an open decoder is reached by decoding forward; one behind it, or far ahead, by
// seeking to the key frame before it (every-frame mode, fps = 0, where the index holds
// each frame's timestamp) or by reopening the file (sampled mode). read_many() decodes a
// batch's clips in parallel on the workers; the bytes of clip i never depend on the order
// or the thread it was read in. No checksums (has_checksum() is false). Member functions
// are called from one thread at a time (the loader's reader thread).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/clip_source.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {

class StreamingSource final : public ClipSource {
 public:
  static constexpr std::size_t kOpenFiles = 4;  // open decoders per worker

  StreamingSource(const std::vector<std::string>& videos, const ClipShape& shape,
                  std::int64_t clip_stride, double fps, int workers = 1, int decoder_threads = 1);
  ~StreamingSource() override;
  std::int64_t size() const override { return total_; }
  const ClipShape& shape() const override { return shape_; }
  void read(std::int64_t i, std::span<std::uint8_t> out) override;
  void read_many(std::span<const std::int64_t> ids, std::span<std::uint8_t> out) override;
  bool has_checksum() const override { return false; }
  std::uint64_t checksum(std::int64_t) const override { return 0; }
  std::string describe(std::int64_t i) const override;

  std::int64_t files() const { return std::ssize(files_); }
  double index_seconds() const { return index_seconds_; }  // time the index took

 private:
  struct File {
    std::string path;
    std::int64_t first = 0;  // global index of its clip 0
    std::int64_t clips = 0;
    std::vector<std::int64_t> frame_pts;   // every-frame mode: for seeking; else empty
    std::vector<std::int64_t> key_frames;  // every-frame mode: key frame ordinals
  };
  struct Worker;
  std::pair<std::size_t, std::int64_t> locate(std::int64_t i) const;

  ClipShape shape_;
  std::int64_t stride_;
  ReaderOptions reader_options_;
  std::vector<File> files_;
  std::vector<std::int64_t> first_;  // files_[k].first, for binary search
  std::int64_t total_ = 0;
  double index_seconds_ = 0.0;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace dojo::data
