#pragma once
// A run folder, held by the trainer that uses it (rank 0).
//
//   <run>/.lock         advisory lock (flock) for the whole run; holds "pid P on host H"
//   <run>/config.yaml   the effective training config
//   <run>/model.yaml    the model config it trains (the checkpoints carry it too)
//   <run>/checkpoints/  step-NNNNNN.h5 (each with its digest in its first 512 bytes) and `latest`
//   <run>/metrics.jsonl, loss.png, samples/, trace.json, eval.json
//
// Opening a folder takes the lock at once or fails naming the holder; a second trainer
// on the same folder never starts. A folder that already holds checkpoints is only
// trained into with --resume (never overwritten by a fresh start).
#include <cstdint>
#include <string>

namespace dojo::train {

class RunFolder {
 public:
  // Creates the folder (and samples/), checks it takes a file, and locks it. Throws
  // IoError naming the folder, or the process that holds it.
  explicit RunFolder(std::string path);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  const std::string& path() const { return path_; }
  // The highest checkpoint step in the folder, or -1 when it has none.
  std::int64_t newest_checkpoint_step() const;
  // A fresh start (no --resume) into a folder with checkpoints is refused: throws
  // InvalidArgument saying how to continue the run or where else to start.
  void refuse_fresh_start_over_checkpoints() const;
  // Room for one checkpoint of `params` float parameters (with two AdamW moments).
  void check_room_for_checkpoint(std::size_t params) const;
  // Writes <run>/name atomically.
  void write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace dojo::train
