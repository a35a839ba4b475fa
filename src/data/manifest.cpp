#include "data/manifest.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace dojo::data {
namespace fs = std::filesystem;
using nlohmann::json;

std::int64_t Manifest::total_clips() const {
  std::int64_t n = 0;
  for (const auto& s : shards) n += s.clips;
  return n;
}

bool manifest_exists(const std::string& dir) {
  return fs::is_regular_file(fs::path(dir) / kManifestName);
}

std::string manifest_to_json(const Manifest& m, int indent) {
  json j;
  j["format"] = "dojo-manifest";
  j["version"] = m.version;
  j["clip"] = {{"T", m.clip.frames},
               {"H", m.clip.height},
               {"W", m.clip.width},
               {"C", m.clip.channels},
               {"frame_step", m.clip.frame_step}};
  j["fps"] = m.fps;
  j["clip_stride"] = m.clip_stride;
  j["shards"] = json::array();
  for (const auto& s : m.shards) {
    j["shards"].push_back({{"path", s.path},
                           {"clips", s.clips},
                           {"bytes", s.digest.bytes},
                           {"xxh64", h5::to_hex(s.digest.xxh64)}});
  }
  j["inputs"] = json::array();
  for (const auto& in : m.inputs) {
    j["inputs"].push_back({{"path", in.path},
                           {"status", in.status},
                           {"reason", in.reason},
                           {"frames_decoded", in.frames_decoded},
                           {"clips", in.clips},
                           {"decode_errors", in.decode_errors},
                           {"labels", in.labels}});
  }
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

Manifest manifest_from_json(const std::string& text, const std::string& origin) {
  try {
    const json j = json::parse(text);
    Manifest m;
    DOJO_CHECK(j.value("format", "") == "dojo-manifest", FormatError,
               "{}: not a dojo manifest (format field is not 'dojo-manifest')", origin);
    m.version = j.at("version").get<std::int64_t>();
    DOJO_CHECK(m.version == kManifestVersion, FormatError,
               "{}: manifest version {}, this dojo reads version {}: re-ingest the videos into "
               "a new folder (dojo ingest ... --out NEW_FOLDER)",
               origin, m.version, kManifestVersion);
    const json& c = j.at("clip");
    m.clip.frames = c.at("T").get<std::int64_t>();
    m.clip.height = c.at("H").get<std::int64_t>();
    m.clip.width = c.at("W").get<std::int64_t>();
    m.clip.channels = c.at("C").get<std::int64_t>();
    m.clip.frame_step = c.at("frame_step").get<std::int64_t>();
    m.fps = j.at("fps").get<double>();
    m.clip_stride = j.at("clip_stride").get<std::int64_t>();
    for (const json& s : j.at("shards")) {
      ManifestShard shard{s.at("path").get<std::string>(), s.at("clips").get<std::int64_t>(), {}};
      shard.digest.bytes = s.at("bytes").get<std::int64_t>();
      const auto hash = h5::from_hex(s.at("xxh64").get<std::string>());
      DOJO_CHECK(hash.has_value(), FormatError, "{}: shard {}: xxh64 '{}' is not 16 hex digits",
                 origin, shard.path, s.at("xxh64").get<std::string>());
      shard.digest.xxh64 = *hash;
      DOJO_CHECK(
          shard.path.find('/') == std::string::npos && shard.path != ".." && !shard.path.empty(),
          FormatError, "{}: shard path '{}' must be a file name in the manifest's folder", origin,
          shard.path);
      m.shards.push_back(std::move(shard));
    }
    for (const json& in : j.at("inputs")) {
      m.inputs.push_back({in.at("path").get<std::string>(), in.at("status").get<std::string>(),
                          in.value("reason", ""), in.value("frames_decoded", std::int64_t{0}),
                          in.value("clips", std::int64_t{0}),
                          in.value("decode_errors", std::int64_t{0}), in.value("labels", "")});
    }
    return m;
  } catch (const json::exception& e) {
    throw FormatError(fmt::format("{}: malformed manifest: {}", origin, e.what()));
  }
}

Manifest read_manifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / kManifestName;
  std::ifstream in(path);
  DOJO_CHECK(in.good(), IoError, "{}: cannot read manifest (is this an ingest output folder?)",
             path.string());
  std::stringstream text;
  text << in.rdbuf();
  Manifest m = manifest_from_json(text.str(), path.string());
  check_clip_shape(m.clip, path.string());
  return m;
}

std::optional<h5::FileDigest> manifest_digest_for(const std::string& shard_path) {
  const fs::path path(shard_path);
  const std::string dir = path.has_parent_path() ? path.parent_path().string() : ".";
  if (!manifest_exists(dir)) return std::nullopt;
  const Manifest manifest = read_manifest(dir);
  for (const auto& s : manifest.shards) {
    if (s.path == path.filename().string()) return s.digest;
  }
  return std::nullopt;
}

void write_manifest(const std::string& dir, const Manifest& manifest) {
  write_file_atomic((fs::path(dir) / kManifestName).string(), manifest_to_json(manifest) + "\n");
}

}  // namespace dojo::data
