#include "data/inspect.hpp"

#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "data/shard.hpp"

namespace dojo::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// `digest`: from the manifest, checked before HDF5 opens the file.
ShardSummary summarize(const std::string& path, bool verify,
                       const std::optional<h5::FileDigest>& digest) {
  ShardSummary s;
  s.path = path;
  try {
    s.digest_checked = digest.has_value();
    ShardReader reader(path, digest);
    s.clips = reader.size();
    s.version = reader.version();
    s.shape = reader.shape();
    s.sources = reader.sources();
    s.label_names = reader.label_names();
    s.file_bytes = static_cast<std::int64_t>(fs::file_size(path));
    if (verify) {
      std::vector<std::uint8_t> clip(static_cast<std::size_t>(s.shape.clip_bytes()));
      for (std::int64_t i = 0; i < s.clips; ++i) {
        reader.read_clip(i, clip, false);
        if (clip_checksum(clip) != reader.checksum(i)) s.bad_clips.push_back(i);
        ++s.clips_verified;
      }
    }
  } catch (const Error& e) {
    s.error = e.what();
  }
  return s;
}

}  // namespace

bool InspectReport::ok() const {
  return problems().empty();
}

std::vector<std::string> InspectReport::problems() const {
  std::vector<std::string> out;
  for (const auto& s : shards) {
    if (!s.error.empty()) out.push_back(s.error);
    for (auto i : s.bad_clips)
      out.push_back(fmt::format("{}: clip {}: checksum mismatch", s.path, i));
  }
  return out;
}

InspectReport inspect(const std::string& path, bool verify) {
  InspectReport report;
  report.path = path;
  report.verified = verify;
  if (fs::is_directory(path)) {
    report.is_manifest = true;
    report.manifest = read_manifest(path);
    for (const auto& entry : report.manifest.shards) {
      ShardSummary s = summarize((fs::path(path) / entry.path).string(), verify, entry.digest);
      if (s.error.empty() && s.clips != entry.clips) {
        s.error =
            fmt::format("{}: holds {} clips, the manifest says {}", s.path, s.clips, entry.clips);
      }
      if (s.error.empty() && s.shape != report.manifest.clip) {
        s.error = fmt::format("{}: clips are {}, the manifest says {}", s.path, to_string(s.shape),
                              to_string(report.manifest.clip));
      }
      report.total_clips += s.clips;
      report.shards.push_back(std::move(s));
    }
  } else {
    DOJO_CHECK(fs::exists(path), IoError, "inspect {}: no such file or folder", path);
    ShardSummary s = summarize(path, verify, manifest_digest_for(path));
    // A lone file that is not a shard at all is an error of the path, not of a shard; a
    // shard its manifest says is damaged stays a problem of that shard.
    if (!s.error.empty() && s.clips == 0 && s.version == 0 && !s.digest_checked)
      throw FormatError(s.error);
    report.total_clips = s.clips;
    report.shards.push_back(std::move(s));
  }
  return report;
}

std::string InspectReport::to_json() const {
  json j;
  j["path"] = path;
  j["kind"] = is_manifest ? "manifest" : "shard";
  j["total_clips"] = total_clips;
  j["verified"] = verified;
  j["ok"] = ok();
  j["problems"] = problems();
  if (is_manifest) j["manifest"] = json::parse(manifest_to_json(manifest, -1));
  j["shards"] = json::array();
  for (const auto& s : shards) {
    j["shards"].push_back({{"path", s.path},
                           {"clips", s.clips},
                           {"version", s.version},
                           {"clip",
                            {{"T", s.shape.frames},
                             {"H", s.shape.height},
                             {"W", s.shape.width},
                             {"C", s.shape.channels},
                             {"frame_step", s.shape.frame_step}}},
                           {"file_bytes", s.file_bytes},
                           {"sources", s.sources},
                           {"label_names", s.label_names},
                           {"digest_checked", s.digest_checked},
                           {"clips_verified", s.clips_verified},
                           {"bad_clips", s.bad_clips},
                           {"error", s.error}});
  }
  return j.dump(2);
}

std::string InspectReport::to_text() const {
  std::string out;
  if (is_manifest) {
    std::map<std::string, std::int64_t> status;
    for (const auto& in : manifest.inputs) ++status[in.status];
    out += fmt::format(
        "{}: ingest folder, clips {}, {} shards, {} clips; inputs: {} ok, {} skipped, {} not "
        "videos\n",
        path, to_string(manifest.clip), shards.size(), total_clips, status["ok"], status["skipped"],
        status["ignored"]);
    for (const auto& in : manifest.inputs) {
      if (in.status != "ok") out += fmt::format("  {} {}: {}\n", in.status, in.path, in.reason);
    }
  }
  for (const auto& s : shards) {
    if (!s.error.empty()) {
      out += fmt::format("  {}: ERROR {}\n", s.path, s.error);
      continue;
    }
    out += fmt::format(
        "  {}: {} clips of {}, version {}, {:.1f} MiB, {} sources, {}", s.path, s.clips,
        to_string(s.shape), s.version, s.file_bytes / 1048576.0, s.sources.size(),
        s.label_names.empty() ? std::string("no labels")
                              : fmt::format("labels {}", fmt::join(s.label_names, ",")));
    if (s.digest_checked) out += ", digest ok";
    if (verified) {
      out += s.bad_clips.empty()
                 ? fmt::format(", {} checksums ok", s.clips_verified)
                 : fmt::format(", {} of {} checksums BAD", s.bad_clips.size(), s.clips_verified);
    }
    out += "\n";
  }
  return out;
}

}  // namespace dojo::data
