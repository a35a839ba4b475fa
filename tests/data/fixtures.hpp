#pragma once
// Shared helpers for the data tests: temporary folders, small synthetic clips, broken
// files made from them, and where the shared driving clips live.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "data/clip_shape.hpp"
#include "data/ingest.hpp"

namespace dojo::comm {
class Communicator;
}

namespace dojo::data::testing {

// ingest() with its rank coordination taken from `comm` (as cmd_ingest.cpp does).
IngestReport ingest_on(IngestOptions options, comm::Communicator& comm);

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& child = "") const;

 private:
  std::filesystem::path path_;
};

// `clips` synthetic driving videos of 64x48 at 10 fps (seconds long) in `dir`.
std::vector<std::string> make_synth(const std::filesystem::path& dir, std::int64_t clips,
                                    double seconds, std::uint64_t seed = 1);
// (source, start frame, checksum) of every clip in an ingest folder: what two ingests
// of the same inputs must agree on, whatever the shard layout.
using ClipSet = std::set<std::tuple<std::string, std::int64_t, std::uint64_t>>;
ClipSet clip_set(const std::string& dir);
// A small clip shape that matches make_synth's videos: T=4, 48x64 RGB, step 1.
ClipShape small_shape();

// An MP4 with one AAC audio stream and no video (made with libavcodec's aac encoder).
void write_audio_only(const std::string& path, double seconds);
// A 64x48 MJPEG video (in the container `path`'s extension names, e.g. .mkv) with one
// frame at each of `times_s` (presentation timestamps, seconds; any jumps kept).
void write_timed_video(const std::string& path, const std::vector<double>& times_s);
// Copies `from` to `to` keeping the first `bytes` bytes.
void truncate_copy(const std::string& from, const std::string& to, std::uintmax_t bytes);
// Flips every bit of the byte at `offset`.
void flip_byte(const std::string& path, std::int64_t offset);
// Writes `bytes` of `text` repeated, or pseudo-random bytes when text is empty.
void write_bytes(const std::string& path, std::size_t bytes, const std::string& text = "");
std::vector<std::uint8_t> read_file(const std::string& path);

// $DOJO_SHARED_DATA/driving when it exists, else "" (tests then skip).
std::string driving_dir();

}  // namespace dojo::data::testing
