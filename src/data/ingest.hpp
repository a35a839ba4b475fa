#pragma once
// `dojo ingest`: decodes video files into fixed-shape clips and writes HDF5 shards
// (shard.hpp) plus manifest.json (manifest.hpp) into one output folder.
//
// Inputs are files or folders. A folder is walked recursively (symbolic links to folders
// are not followed) and EVERY entry it holds is recorded in the manifest: videos (by
// extension) are decoded, anything else is listed as "ignored" or "skipped" with its
// reason (another extension, a labels file, a FIFO, a device, a socket, a broken link, a
// link loop, a folder that cannot be read). A file named explicitly is tried whatever its
// extension, unless it is not a regular file. Nothing is ever opened that could block
// (file_kind.hpp).
//
// Ranks. Ingest knows no communicator: options.rank / options.size say who this process
// is, and options.all_gather (collective: every rank calls it with its own bytes and gets
// every rank's, in rank order) is how they agree. Rank 0 lists the inputs and drops those
// the folder's manifest already records (resume); the rest are split across ranks by size
// (largest first, each to the least-loaded rank). Each rank writes its own shards
// `shard-rRRRR-SSSSS.h5` (temporary name until complete); rank 0 gathers every rank's
// results (with each shard's digest) and writes the manifest. With size 1 no gather is
// needed. Every rank must call ingest() with the same options.
//
// Bounds. One input gives at most as many sampled frames as its container duration
// allows at the sampling rate (plus slack), and never more than kMaxSampledFrames; an input
// that goes past either is stopped there with the reason in the manifest. Timestamp jumps
// are not filled with copies (frame_sampler.hpp). Before anything is allocated, the clip
// shape is checked against this machine's memory (check_clip_memory).
//
// Labels. When `dir/name.labels.json` (labels.hpp) sits next to `dir/name.ext`, each
// clip's labels (aggregated over its frames) go into the shard's /labels.
//
// A leftover from an earlier run that was killed (a `*.partial` file, a shard the manifest
// does not list) is reported in IngestReport::strays and the log, never counted or read.
// A file FFmpeg cannot use is recorded as skipped with its reason and never stops the run;
// `strict` turns any skipped input into an error after the manifest is written.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "data/manifest.hpp"

namespace dojo::data {

inline constexpr std::int64_t kMaxSampledFrames = 10'000'000;  // per input

// Collective gather: every rank passes its bytes, gets all ranks' bytes in rank order.
using AllGather = std::function<std::vector<std::string>(const std::string& mine)>;

struct IngestOptions {
  std::vector<std::string> inputs;  // files and folders
  std::string out_dir;
  ClipShape shape;
  std::int64_t clip_stride = 0;  // in sampled frames; 0 = T * frame_step
  double fps = 0.0;              // sample each file at this rate; 0 = its own frames
  int threads = 0;               // decoder threads per rank; 0 = FFmpeg's choice
  std::int64_t clips_per_shard = 256;
  bool strict = false;
  // Multi-rank coordination from above (see the header comment); defaults: one process.
  int rank = 0;
  int size = 1;
  AllGather all_gather;  // required when size > 1
};

struct IngestReport {
  std::int64_t inputs_found = 0;         // videos after expanding folders
  std::int64_t inputs_already_done = 0;  // listed in an earlier manifest
  std::int64_t inputs_ok = 0;            // this run, all ranks
  std::int64_t inputs_skipped = 0;       // this run, all ranks
  std::int64_t inputs_ignored = 0;       // this run: not videos (other extensions, labels)
  std::int64_t clips_written = 0;        // this run, all ranks
  std::int64_t frames_decoded = 0;       // this run, all ranks
  std::int64_t shards_written = 0;       // this run, all ranks
  double seconds = 0.0;                  // wall time of this rank
  std::vector<ManifestInput> skipped;    // this run's skipped inputs with reasons
  std::vector<std::string> strays;       // "path: why" for leftovers of an earlier run
};

IngestReport ingest(const IngestOptions& options);

// Decodes one file into clips without writing anything: how many clips and frames it
// gives, or why it is skipped. Used by tests.
ManifestInput probe_input(const std::string& path, const IngestOptions& options);

// What a scan of the inputs found: videos to decode (sorted, unique), and every other
// entry with status "skipped" or "ignored" and its reason.
struct InputScan {
  std::vector<std::string> videos;
  std::vector<ManifestInput> others;
};
// Throws InvalidArgument for an input path that does not exist at all. A folder equal to
// `exclude` (ingest's output folder, when it lies inside an input) is listed as ignored
// and not entered.
InputScan scan_inputs(const std::vector<std::string>& inputs, const std::string& exclude = "");
// scan_inputs(inputs).videos.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace dojo::data
