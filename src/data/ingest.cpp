#include "data/ingest.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/clip_cutter.hpp"
#include "data/file_kind.hpp"
#include "data/labels.hpp"
#include "data/shard.hpp"
#include "data/video_reader.hpp"

namespace dojo::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// "path: reason" -> "reason": the manifest entry already names the file.
std::string reason_of(const std::string& what, const std::string& path) {
  const std::string prefix = path + ": ";
  return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
}

struct ClipOut {
  std::span<const std::uint8_t> pixels;
  std::int64_t start_frame = 0;
  double fps = 0.0;
  std::span<const float> labels;  // empty: no labels
  const std::vector<std::string>* label_names = nullptr;
};
using ClipSink = std::function<void(const ClipOut& clip)>;

// The most sampled frames an input may give: its container duration at the sampling rate,
// with slack for rounding and a last partial frame; kMaxSampledFrames when unknown.
std::int64_t sampled_frame_bound(const VideoInfo& info, double fps, std::int64_t span) {
  const double rate = fps > 0 ? fps : info.fps;
  if (info.duration_s <= 0 || rate <= 0) return kMaxSampledFrames;
  const double bound = std::ceil((info.duration_s + 1.0) * rate * 1.05) + static_cast<double>(span);
  return static_cast<std::int64_t>(std::min(bound, static_cast<double>(kMaxSampledFrames)));
}

// The labels file next to `path`, if any; a damaged one is noted in `note` and not used.
std::unique_ptr<FrameLabels> find_labels(const std::string& path, std::string& labels_path,
                                         std::string& note) {
  const std::string candidate = labels_path_for(path);
  if (not_a_regular_file(candidate)) return nullptr;
  try {
    auto labels = std::make_unique<FrameLabels>(read_labels(candidate));
    labels_path = candidate;
    return labels;
  } catch (const Error& e) {
    note = "labels not used: " + std::string(e.what());
    return nullptr;
  }
}

// Decodes `path` and hands each clip to `sink`. Never throws for a bad video (the result
// says skipped and why); errors from `sink` (writing shards) propagate.
ManifestInput decode_clips(const std::string& path, const IngestOptions& o, const ClipSink& sink) {
  ManifestInput result{path, "ok", "", 0, 0, 0, ""};
  std::int64_t sampled = 0;
  std::vector<std::string> notes;
  try {
    if (const auto reason = confirm_regular_file(path)) throw FormatError(path + ": " + *reason);
    ReaderOptions ro;
    ro.width = o.shape.width;
    ro.height = o.shape.height;
    ro.channels = o.shape.channels;
    ro.fps = o.fps;
    ro.threads = o.threads;
    VideoReader reader(path, ro);
    ClipCutter cutter(o.shape, o.clip_stride);
    std::string labels_note;
    const auto labels = find_labels(path, result.labels, labels_note);
    if (!labels_note.empty()) notes.push_back(labels_note);
    const std::vector<std::string> label_names =
        labels ? labels->names() : std::vector<std::string>{};
    const std::int64_t span = o.shape.span_frames();
    const std::int64_t bound = sampled_frame_bound(reader.info(), o.fps, span);
    std::deque<std::int64_t> rows;  // decoded-frame ordinals of the last `span` sampled frames
    std::vector<std::int64_t> clip_rows(static_cast<std::size_t>(o.shape.frames));
    bool labels_short = false;
    while (true) {
      bool got = false;
      try {
        got = reader.next(cutter.slot());
      } catch (const FormatError& e) {
        // A frame that cannot be converted ends this file; the clips before it stay.
        notes.push_back("stopped early: " + reason_of(e.what(), path));
        ++result.decode_errors;
      }
      if (!got) break;
      if (sampled >= bound) {
        notes.push_back(fmt::format(
            "stopped after {} sampled frames: more than its duration ({:.1f} s at {:.2f} fps) "
            "allows (bound {})",
            sampled, reader.info().duration_s, o.fps > 0 ? o.fps : reader.info().fps, bound));
        break;
      }
      ++sampled;
      rows.push_back(reader.frame_index());
      if (std::ssize(rows) > span) rows.pop_front();
      if (!cutter.push()) continue;
      ClipOut clip{cutter.clip(), cutter.clip_start(), reader.output_fps(), {}, &label_names};
      std::vector<float> values;
      if (labels && !labels_short) {
        for (std::int64_t t = 0; t < o.shape.frames; ++t)
          clip_rows[static_cast<std::size_t>(t)] =
              rows[static_cast<std::size_t>(t * o.shape.frame_step)];
        try {
          values = aggregate_clip(*labels, clip_rows, result.labels);
          clip.labels = values;
        } catch (const FormatError& e) {
          labels_short = true;  // later clips lie further on: none of them has labels either
          notes.push_back("labels stop early: " + reason_of(e.what(), result.labels));
        }
      }
      sink(clip);
      ++result.clips;
    }
    result.frames_decoded = reader.frames_decoded();
    result.decode_errors += reader.decode_errors();
    if (reader.timestamp_jumps() > 0) {
      notes.push_back(
          fmt::format("{} timestamp jump(s) treated as discontinuities", reader.timestamp_jumps()));
    }
    if (reader.truncated()) notes.push_back("read error before the end of the file (truncated?)");
  } catch (const FormatError& e) {
    result.status = "skipped";
    result.reason = reason_of(e.what(), path);
    return result;
  }
  for (const auto& n : notes) result.reason += (result.reason.empty() ? "" : "; ") + n;
  if (result.clips == 0) {
    result.status = "skipped";
    const std::int64_t span = o.shape.span_frames();
    if (result.frames_decoded == 0) {
      if (result.reason.empty()) result.reason = "no frames decoded";
    } else {
      result.reason = fmt::format("shorter than one clip: {} sampled frames, a clip spans {}{}",
                                  sampled, span, result.reason.empty() ? "" : "; " + result.reason);
    }
  }
  return result;
}

// The shards one rank writes: rolls over to a new file every clips_per_shard clips, and
// when a clip's label columns differ from the open shard's.
class ShardSink {
 public:
  ShardSink(std::string dir, int rank, const IngestOptions& o)
      : dir_(std::move(dir)), rank_(rank), options_(o) {
    // Continue numbering after this rank's shards (and leftovers) from earlier runs.
    const std::regex pattern(fmt::format("shard-r{:04}-([0-9]+)\\.h5(\\.partial)?", rank));
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      std::smatch m;
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, m, pattern))
        next_ = std::max<std::int64_t>(next_, std::stoll(m[1]) + 1);
    }
  }

  void append(const ClipOut& clip, const std::string& source) {
    const auto& names = *clip.label_names;
    if (writer_ && !names.empty() && writer_->label_names() != names) finish();
    if (!writer_) {
      const std::string name = fmt::format("shard-r{:04}-{:05}.h5", rank_, next_++);
      writer_ =
          std::make_unique<ShardWriter>((fs::path(dir_) / name).string(), options_.shape, names);
    }
    const bool fits = clip.labels.size() == writer_->label_names().size();
    writer_->append(clip.pixels, writer_->add_source(source), clip.start_frame, clip.fps,
                    fits ? clip.labels : std::span<const float>{});
    if (writer_->size() >= options_.clips_per_shard) finish();
  }

  void finish() {
    if (!writer_) return;
    const h5::FileDigest digest = writer_->commit();
    shards_.push_back({fs::path(writer_->path()).filename().string(), writer_->size(), digest});
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
          {"clips", in.clips},   {"decode_errors", in.decode_errors},
          {"labels", in.labels}};
}
ManifestInput input_from_json(const json& j) {
  return {j.at("path"),  j.at("status"),        j.at("reason"), j.at("frames_decoded"),
          j.at("clips"), j.at("decode_errors"), j.at("labels")};
}
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Leftovers of an earlier run that stopped before writing its manifest: partial files and
// shards the manifest does not list. They are never read (the loader follows the
// manifest) and their inputs are redone.
std::vector<std::string> find_strays(const std::string& dir, const Manifest* manifest) {
  std::set<std::string> listed;
  if (manifest != nullptr)
    for (const auto& s : manifest->shards) listed.insert(s.path);
  std::vector<std::string> strays;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".partial")) {
      strays.push_back(entry.path().string() + ": a partial file left by an interrupted run");
    } else if (entry.path().extension() == ".h5" && listed.count(name) == 0) {
      strays.push_back(entry.path().string() +
                       ": a shard the manifest does not list (left by an interrupted run?)");
    }
  }
  std::sort(strays.begin(), strays.end());
  return strays;
}

// Rank 0's plan: the inputs to do and who does them, or an error every rank raises.
json make_plan(const IngestOptions& o) {
  json plan;
  try {
    const InputScan scan = scan_inputs(o.inputs, o.out_dir);
    std::set<std::string> done;
    std::unique_ptr<Manifest> old;
    if (manifest_exists(o.out_dir)) {
      old = std::make_unique<Manifest>(read_manifest(o.out_dir));
      DOJO_CHECK(old->clip == o.shape && old->clip_stride == o.clip_stride && old->fps == o.fps,
                 InvalidArgument,
                 "{}: holds clips {} (stride {}, fps {}), this ingest asks for {} (stride {}, fps "
                 "{}): use another --out folder",
                 o.out_dir, to_string(old->clip), old->clip_stride, old->fps, to_string(o.shape),
                 o.clip_stride, o.fps);
      // A skipped input is tried again (it may have been replaced or repaired since).
      for (const auto& in : old->inputs) {
        if (in.status != "skipped") done.insert(in.path);
      }
    }
    plan["strays"] = find_strays(o.out_dir, old.get());
    // Largest first, each to the least-loaded rank: balanced by bytes, deterministic.
    std::int64_t already_done = 0;
    std::vector<std::pair<std::uintmax_t, std::string>> todo;
    for (const auto& f : scan.videos) {
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
    std::vector<std::uintmax_t> load(static_cast<std::size_t>(o.size), 0);
    json assignment = json::array();
    for (int r = 0; r < o.size; ++r) assignment.push_back(json::array());
    for (const auto& [size, path] : todo) {
      const auto r =
          static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      load[r] += std::max<std::uintmax_t>(size, 1);
      assignment[r].push_back(path);
    }
    json others = json::array();
    for (const auto& other : scan.others) {
      if (done.count(other.path) == 0) others.push_back(input_to_json(other));
    }
    plan["assignment"] = assignment;
    plan["others"] = others;
    plan["already_done"] = already_done;
    plan["found"] = std::ssize(scan.videos);
  } catch (const Error& e) {
    plan["error"] = e.what();
  }
  return plan;
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  return scan_inputs(inputs).videos;
}

ManifestInput probe_input(const std::string& path, const IngestOptions& options) {
  check_clip_shape(options.shape, "probe " + path);
  return decode_clips(path, options, [](const ClipOut&) {});
}

IngestReport ingest(const IngestOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_clip_shape(o.shape, "ingest");
  check_clip_memory(o.shape, o.shape.span_frames() + o.shape.frames, "ingest");
  DOJO_CHECK(!o.out_dir.empty(), InvalidArgument, "ingest: --out is empty");
  DOJO_CHECK(o.clips_per_shard >= 1, InvalidArgument, "ingest: clips per shard = {}, expected >= 1",
             o.clips_per_shard);
  DOJO_CHECK(o.clip_stride >= 0, InvalidArgument, "ingest: clip stride = {}, expected >= 0",
             o.clip_stride);
  DOJO_CHECK(o.fps >= 0, InvalidArgument, "ingest: fps = {}, expected >= 0", o.fps);
  DOJO_CHECK(o.size >= 1 && o.rank >= 0 && o.rank < o.size, InvalidArgument,
             "ingest: rank {} of {} ranks", o.rank, o.size);
  DOJO_CHECK(o.size == 1 || o.all_gather, InvalidArgument,
             "ingest: {} ranks but no all_gather to coordinate them", o.size);
  const int rank = o.rank;
  const auto gather = [&](const std::string& mine) {
    return o.size == 1 ? std::vector<std::string>{mine} : o.all_gather(mine);
  };
  IngestReport report;

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  DOJO_CHECK(!ec, IoError, "ingest: cannot create {}: {}", o.out_dir, ec.message());

  // 1. Rank 0 plans; every rank receives the plan.
  const auto plans = gather(rank == 0 ? dump(make_plan(o)) : std::string());
  const json plan = json::parse(plans.at(0));
  if (plan.contains("error")) throw InvalidArgument(plan["error"].get<std::string>());
  report.inputs_found = plan["found"];
  report.inputs_already_done = plan["already_done"];
  report.strays = plan["strays"].get<std::vector<std::string>>();
  if (rank == 0) {
    for (const auto& stray : report.strays) log::warn("ingest: {}: ignored", stray);
  }

  // 2. Each rank decodes its inputs into its own shards.
  ShardSink sink(o.out_dir, rank, o);
  json mine;
  mine["inputs"] = json::array();
  for (const auto& path_json : plan["assignment"][static_cast<std::size_t>(rank)]) {
    const std::string path = path_json;
    const ManifestInput result =
        decode_clips(path, o, [&](const ClipOut& clip) { sink.append(clip, path); });
    if (result.status == "ok") {
      log::info(
          "ingest: {}: {} clips from {} frames{}{}{}", path, result.clips, result.frames_decoded,
          result.labels.empty() ? "" : ", with labels",
          result.decode_errors > 0 ? fmt::format(", {} decode errors", result.decode_errors) : "",
          result.reason.empty() ? "" : " (" + result.reason + ")");
    } else {
      log::warn("ingest: {}: skipped: {}", path, result.reason);
    }
    mine["inputs"].push_back(input_to_json(result));
  }
  sink.finish();
  mine["shards"] = json::array();
  for (const auto& s : sink.shards()) {
    mine["shards"].push_back({{"path", s.path},
                              {"clips", s.clips},
                              {"bytes", s.digest.bytes},
                              {"xxh64", h5::to_hex(s.digest.xxh64)}});
  }

  // 3. Rank 0 merges every rank's results (and the scan's other entries) into the manifest.
  const auto results = gather(dump(mine));
  Manifest manifest;
  if (rank == 0 && manifest_exists(o.out_dir)) {
    manifest = read_manifest(o.out_dir);
    // The inputs tried again (skipped before) get this run's entry instead of the old one.
    std::set<std::string> retried;
    for (const auto& other : plan["others"]) retried.insert(other["path"].get<std::string>());
    for (const auto& paths : plan["assignment"]) {
      for (const auto& path : paths) retried.insert(path.get<std::string>());
    }
    std::erase_if(manifest.inputs, [&](const auto& in) { return retried.count(in.path) > 0; });
  }
  manifest.clip = o.shape;
  manifest.fps = o.fps;
  manifest.clip_stride = o.clip_stride;
  for (const auto& other : plan["others"]) {
    ManifestInput input = input_from_json(other);
    if (input.status == "skipped") {
      ++report.inputs_skipped;
      report.skipped.push_back(input);
    } else {
      ++report.inputs_ignored;
    }
    manifest.inputs.push_back(std::move(input));
  }
  for (const auto& bytes : results) {
    const json r = json::parse(bytes);
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
      ManifestShard shard{s["path"], s["clips"], {}};
      shard.digest.bytes = s["bytes"];
      shard.digest.xxh64 = h5::from_hex(s["xxh64"].get<std::string>()).value_or(0);
      manifest.shards.push_back(std::move(shard));
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
  gather(std::string());  // a barrier: the manifest exists when any rank returns
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.strict && report.inputs_skipped > 0) {
    throw FormatError(fmt::format("ingest --strict: {} input(s) skipped, first: {}: {}",
                                  report.inputs_skipped, report.skipped[0].path,
                                  report.skipped[0].reason));
  }
  return report;
}

}  // namespace dojo::data
