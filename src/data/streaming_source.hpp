#pragma once
// StreamingSource: clips decoded straight from video files, no shards (the loader's
// streaming mode). The global index is built at construction by decoding each file once
// (the same cutting as ingest: clip_cutter.hpp); files that cannot be used are left out
// with a warning. Reading clip i decodes forward from the current position when i lies
// ahead in the file being read, else reopens the file: sequential order (shuffle off) is
// cheap, random order costs up to one decode of the file per clip. For training at scale,
// ingest into shards. No checksums (has_checksum() is false).
#include <memory>
#include <string>
#include <vector>

#include "data/clip_cutter.hpp"
#include "data/clip_source.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {

class StreamingSource final : public ClipSource {
 public:
  StreamingSource(const std::vector<std::string>& videos, const ClipShape& shape,
                  std::int64_t clip_stride, double fps);
  ~StreamingSource() override;
  std::int64_t size() const override { return total_; }
  const ClipShape& shape() const override { return shape_; }
  void read(std::int64_t i, std::span<std::uint8_t> out) override;
  bool has_checksum() const override { return false; }
  std::uint64_t checksum(std::int64_t) const override { return 0; }
  std::string describe(std::int64_t i) const override;

 private:
  std::pair<std::size_t, std::int64_t> locate(std::int64_t i) const;

  ClipShape shape_;
  std::int64_t stride_;
  ReaderOptions reader_options_;
  std::vector<std::string> files_;
  std::vector<std::int64_t> first_;  // global index of each file's clip 0
  std::int64_t total_ = 0;
  // The file being read and how far.
  std::size_t open_file_ = 0;
  std::unique_ptr<VideoReader> reader_;
  std::unique_ptr<ClipCutter> cutter_;
  std::int64_t last_start_ = -1;
};

}  // namespace dojo::data
