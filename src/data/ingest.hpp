#pragma once
// `dojo ingest`: decodes video files into fixed-shape clips and writes HDF5 shards
// (shard.hpp) plus manifest.json (manifest.hpp) into one output folder.
//
// Inputs are files or folders (searched recursively for video file extensions; a file
// named explicitly is always tried). Rank 0 lists them and drops those the folder's
// manifest already records (resume); the rest are split across the communicator's ranks
// by size (largest first, each to the least-loaded rank). Each rank writes its own shards
// `shard-rRRRR-SSSSS.h5` (temporary name until complete); rank 0 gathers every rank's
// results and writes the manifest. A file FFmpeg cannot use is recorded as skipped with
// its reason and never stops the run; `strict` turns any skip into an error after the
// manifest is written. Collective: every rank of `comm` must call ingest().
#include <cstdint>
#include <string>
#include <vector>

#include "data/clip_shape.hpp"
#include "data/manifest.hpp"

namespace dojo::comm {
class Communicator;
}

namespace dojo::data {

struct IngestOptions {
  std::vector<std::string> inputs;  // files and folders
  std::string out_dir;
  ClipShape shape;
  std::int64_t clip_stride = 0;  // in sampled frames; 0 = T * frame_step
  double fps = 0.0;              // sample each file at this rate; 0 = its own frames
  int threads = 0;               // decoder threads per rank; 0 = FFmpeg's choice
  std::int64_t clips_per_shard = 256;
  bool strict = false;
};

struct IngestReport {
  std::int64_t inputs_found = 0;         // after expanding folders
  std::int64_t inputs_already_done = 0;  // listed in an earlier manifest
  std::int64_t inputs_ok = 0;            // this run, all ranks
  std::int64_t inputs_skipped = 0;       // this run, all ranks
  std::int64_t clips_written = 0;        // this run, all ranks
  std::int64_t frames_decoded = 0;       // this run, all ranks
  std::int64_t shards_written = 0;       // this run, all ranks
  double seconds = 0.0;                  // wall time of this rank
  std::vector<ManifestInput> skipped;    // this run's skipped inputs with reasons
};

IngestReport ingest(const IngestOptions& options, comm::Communicator& comm);

// Decodes one file into clips without writing anything: how many clips and frames it
// gives, or why it is skipped. Used by the streaming loader's index and by tests.
ManifestInput probe_input(const std::string& path, const IngestOptions& options);

// Expands files and folders into the sorted list of input files (throws InvalidArgument
// for a path that does not exist).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace dojo::data
