#include "data/ingest.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/clip_cutter.hpp"
#include "data/shard.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::set<std::string> kVideoExtensions = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg",  ".mpeg", ".ts",  ".mts", ".m2ts",
    ".flv", ".3gp", ".ivf", ".y4m", ".h264", ".264", ".hevc", ".265",  ".wmv", ".ogv", ".mjpeg"};

bool has_video_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return kVideoExtensions.count(ext) > 0;
}

// "path: reason" -> "reason": the manifest entry already names the file.
std::string reason_of(const std::string& what, const std::string& path) {
  const std::string prefix = path + ": ";
  return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
}

using ClipSink =
    std::function<void(std::span<const std::uint8_t> clip, std::int64_t start_frame, double fps)>;

// Decodes `path` and hands each clip to `sink`. Never throws for a bad video (the result
// says skipped and why); errors from `sink` (writing shards) propagate.
ManifestInput decode_clips(const std::string& path, const IngestOptions& o, const ClipSink& sink) {
  ManifestInput result{path, "ok", "", 0, 0, 0};
  std::int64_t sampled = 0;
  try {
    ReaderOptions ro;
    ro.width = o.shape.width;
    ro.height = o.shape.height;
    ro.channels = o.shape.channels;
    ro.fps = o.fps;
    ro.threads = o.threads;
    VideoReader reader(path, ro);
    ClipCutter cutter(o.shape, o.clip_stride);
    while (true) {
      bool got = false;
      try {
        got = reader.next(cutter.slot());
      } catch (const FormatError& e) {
        // A frame that cannot be converted ends this file; the clips before it stay.
        result.reason = "stopped early: " + reason_of(e.what(), path);
        ++result.decode_errors;
      }
      if (!got) break;
      ++sampled;
      if (cutter.push()) {
        sink(cutter.clip(), cutter.clip_start(), reader.output_fps());
        ++result.clips;
      }
    }
    result.frames_decoded = reader.frames_decoded();
    result.decode_errors += reader.decode_errors();
    if (reader.truncated() && result.reason.empty()) {
      result.reason = "read error before the end of the file (truncated?)";
    }
  } catch (const FormatError& e) {
    result.status = "skipped";
    result.reason = reason_of(e.what(), path);
    return result;
  }
  if (result.clips == 0) {
    result.status = "skipped";
    const std::int64_t span = o.shape.span_frames();
    result.reason = result.frames_decoded == 0
                        ? (result.reason.empty() ? "no frames decoded" : result.reason)
                        : fmt::format("shorter than one clip: {} sampled frames, a clip spans {}",
                                      sampled, span);
  }
  return result;
}

// The shards one rank writes: rolls over to a new file every clips_per_shard clips.
class ShardSink {
 public:
  ShardSink(std::string dir, int rank, const IngestOptions& o)
      : dir_(std::move(dir)), rank_(rank), options_(o) {
    // Continue numbering after this rank's shards from earlier runs.
    const std::regex pattern(fmt::format("shard-r{:04}-([0-9]+)\\.h5", rank));
    for (const auto& entry : fs::directory_iterator(dir_)) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, m, pattern))
        next_ = std::max<std::int64_t>(next_, std::stoll(m[1]) + 1);
    }
  }

  void append(std::span<const std::uint8_t> clip, const std::string& source, std::int64_t start,
              double fps) {
    if (!writer_) {
      const std::string name = fmt::format("shard-r{:04}-{:05}.h5", rank_, next_++);
      writer_ = std::make_unique<ShardWriter>((fs::path(dir_) / name).string(), options_.shape);
    }
    writer_->append(clip, writer_->add_source(source), start, fps);
    if (writer_->size() >= options_.clips_per_shard) finish();
  }

  void finish() {
    if (!writer_) return;
    writer_->commit();
    shards_.push_back({fs::path(writer_->path()).filename().string(), writer_->size()});
    writer_.reset();
  }

  const std::vector<ManifestShard>& shards() const { return shards_; }

 private:
  std::string dir_;
  int rank_;
  IngestOptions options_;
  std::int64_t next_ = 0;
  std::unique_ptr<ShardWriter> writer_;
  std::vector<ManifestShard> shards_;
};

json input_to_json(const ManifestInput& in) {
  return {{"path", in.path},     {"status", in.status},
          {"reason", in.reason}, {"frames_decoded", in.frames_decoded},
          {"clips", in.clips},   {"decode_errors", in.decode_errors}};
}
ManifestInput input_from_json(const json& j) {
  return {j.at("path"),           j.at("status"), j.at("reason"),
          j.at("frames_decoded"), j.at("clips"),  j.at("decode_errors")};
}

std::vector<std::byte> to_bytes(const json& j) {
  const std::string s = j.dump();
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}
json from_bytes(const std::vector<std::byte>& b) {
  return json::parse(std::string(reinterpret_cast<const char*>(b.data()), b.size()));
}

// Rank 0's plan: the inputs to do and who does them, or an error every rank raises.
json make_plan(const IngestOptions& o, int ranks, std::int64_t& already_done, std::int64_t& found) {
  json plan;
  try {
    const auto files = expand_inputs(o.inputs);
    found = std::ssize(files);
    std::set<std::string> done;
    if (manifest_exists(o.out_dir)) {
      const Manifest old = read_manifest(o.out_dir);
      DOJO_CHECK(old.clip == o.shape && old.clip_stride == o.clip_stride && old.fps == o.fps,
                 InvalidArgument,
                 "{}: holds clips {} (stride {}, fps {}), this ingest asks for {} (stride {}, fps "
                 "{}): use another --out folder",
                 o.out_dir, to_string(old.clip), old.clip_stride, old.fps, to_string(o.shape),
                 o.clip_stride, o.fps);
      for (const auto& in : old.inputs) done.insert(in.path);
    }
    // Largest first, each to the least-loaded rank: balanced by bytes, deterministic.
    std::vector<std::pair<std::uintmax_t, std::string>> todo;
    for (const auto& f : files) {
      if (done.count(f) > 0) {
        ++already_done;
        continue;
      }
      std::error_code ec;
      const auto size = fs::file_size(f, ec);
      todo.emplace_back(ec ? 0 : size, f);
    }
    std::sort(todo.begin(), todo.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<std::uintmax_t> load(static_cast<std::size_t>(ranks), 0);
    json assignment = json::array();
    for (int r = 0; r < ranks; ++r) assignment.push_back(json::array());
    for (const auto& [size, path] : todo) {
      const auto r =
          static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      load[r] += std::max<std::uintmax_t>(size, 1);
      assignment[r].push_back(path);
    }
    plan["assignment"] = assignment;
    plan["already_done"] = already_done;
    plan["found"] = found;
  } catch (const Error& e) {
    plan["error"] = e.what();
  }
  return plan;
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::set<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(input), ec);
    DOJO_CHECK(!ec && fs::exists(p), InvalidArgument, "ingest input {}: no such file or folder",
               input);
    if (fs::is_directory(p)) {
      for (auto it =
               fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied);
           it != fs::recursive_directory_iterator(); ++it) {
        if (it->is_regular_file() && has_video_extension(it->path()))
          files.insert(it->path().string());
      }
    } else {
      files.insert(p.string());
    }
  }
  return {files.begin(), files.end()};
}

ManifestInput probe_input(const std::string& path, const IngestOptions& options) {
  check_clip_shape(options.shape, "probe " + path);
  return decode_clips(path, options, [](auto, auto, auto) {});
}

IngestReport ingest(const IngestOptions& o, comm::Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  check_clip_shape(o.shape, "ingest");
  DOJO_CHECK(!o.out_dir.empty(), InvalidArgument, "ingest: --out is empty");
  DOJO_CHECK(o.clips_per_shard >= 1, InvalidArgument, "ingest: clips per shard = {}, expected >= 1",
             o.clips_per_shard);
  DOJO_CHECK(o.clip_stride >= 0, InvalidArgument, "ingest: clip stride = {}, expected >= 0",
             o.clip_stride);
  DOJO_CHECK(o.fps >= 0, InvalidArgument, "ingest: fps = {}, expected >= 0", o.fps);
  const int rank = comm.rank();
  IngestReport report;

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  DOJO_CHECK(!ec, IoError, "ingest: cannot create {}: {}", o.out_dir, ec.message());

  // 1. Rank 0 plans; every rank receives the plan.
  json plan;
  if (rank == 0) plan = make_plan(o, comm.size(), report.inputs_already_done, report.inputs_found);
  const auto plans =
      comm::all_gather_bytes(comm, rank == 0 ? to_bytes(plan) : std::vector<std::byte>{});
  plan = from_bytes(plans[0]);
  if (plan.contains("error")) throw InvalidArgument(plan["error"].get<std::string>());
  report.inputs_found = plan["found"];
  report.inputs_already_done = plan["already_done"];

  // 2. Each rank decodes its inputs into its own shards.
  ShardSink sink(o.out_dir, rank, o);
  json mine;
  mine["inputs"] = json::array();
  for (const auto& path_json : plan["assignment"][static_cast<std::size_t>(rank)]) {
    const std::string path = path_json;
    const ManifestInput result = decode_clips(
        path, o, [&](std::span<const std::uint8_t> clip, std::int64_t start, double fps) {
          sink.append(clip, path, start, fps);
        });
    if (result.status == "ok") {
      log::info(
          "ingest: {}: {} clips from {} frames{}{}", path, result.clips, result.frames_decoded,
          result.decode_errors > 0 ? fmt::format(", {} decode errors", result.decode_errors) : "",
          result.reason.empty() ? "" : " (" + result.reason + ")");
    } else {
      log::warn("ingest: {}: skipped: {}", path, result.reason);
    }
    mine["inputs"].push_back(input_to_json(result));
  }
  sink.finish();
  mine["shards"] = json::array();
  for (const auto& s : sink.shards())
    mine["shards"].push_back({{"path", s.path}, {"clips", s.clips}});

  // 3. Rank 0 merges every rank's results into the manifest.
  const auto results = comm::all_gather_bytes(comm, to_bytes(mine));
  Manifest manifest;
  if (rank == 0 && manifest_exists(o.out_dir)) manifest = read_manifest(o.out_dir);
  manifest.clip = o.shape;
  manifest.fps = o.fps;
  manifest.clip_stride = o.clip_stride;
  for (const auto& bytes : results) {
    const json r = from_bytes(bytes);
    for (const auto& in : r["inputs"]) {
      ManifestInput input = input_from_json(in);
      report.frames_decoded += input.frames_decoded;
      if (input.status == "ok") {
        ++report.inputs_ok;
        report.clips_written += input.clips;
      } else {
        ++report.inputs_skipped;
        report.skipped.push_back(input);
      }
      manifest.inputs.push_back(std::move(input));
    }
    for (const auto& s : r["shards"]) {
      manifest.shards.push_back({s["path"], s["clips"]});
      ++report.shards_written;
    }
  }
  if (rank == 0) {
    std::sort(manifest.inputs.begin(), manifest.inputs.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    std::sort(manifest.shards.begin(), manifest.shards.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    write_manifest(o.out_dir, manifest);
  }
  comm.barrier();  // the manifest exists when any rank returns
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.strict && report.inputs_skipped > 0) {
    throw FormatError(fmt::format("ingest --strict: {} input(s) skipped, first: {}: {}",
                                  report.inputs_skipped, report.skipped[0].path,
                                  report.skipped[0].reason));
  }
  return report;
}

}  // namespace dojo::data
