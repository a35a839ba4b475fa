#include "data/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

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
  for (const auto& s : m.shards) j["shards"].push_back({{"path", s.path}, {"clips", s.clips}});
  j["inputs"] = json::array();
  for (const auto& in : m.inputs) {
    j["inputs"].push_back({{"path", in.path},
                           {"status", in.status},
                           {"reason", in.reason},
                           {"frames_decoded", in.frames_decoded},
                           {"clips", in.clips},
                           {"decode_errors", in.decode_errors}});
  }
  return j.dump(indent);
}

Manifest manifest_from_json(const std::string& text, const std::string& origin) {
  try {
    const json j = json::parse(text);
    Manifest m;
    DOJO_CHECK(j.value("format", "") == "dojo-manifest", FormatError,
               "{}: not a dojo manifest (format field is not 'dojo-manifest')", origin);
    m.version = j.at("version").get<std::int64_t>();
    DOJO_CHECK(m.version == kManifestVersion, FormatError,
               "{}: manifest version {}, this dojo reads version {}", origin, m.version,
               kManifestVersion);
    const json& c = j.at("clip");
    m.clip.frames = c.at("T").get<std::int64_t>();
    m.clip.height = c.at("H").get<std::int64_t>();
    m.clip.width = c.at("W").get<std::int64_t>();
    m.clip.channels = c.at("C").get<std::int64_t>();
    m.clip.frame_step = c.at("frame_step").get<std::int64_t>();
    m.fps = j.at("fps").get<double>();
    m.clip_stride = j.at("clip_stride").get<std::int64_t>();
    for (const json& s : j.at("shards")) {
      m.shards.push_back({s.at("path").get<std::string>(), s.at("clips").get<std::int64_t>()});
    }
    for (const json& in : j.at("inputs")) {
      m.inputs.push_back({in.at("path").get<std::string>(), in.at("status").get<std::string>(),
                          in.value("reason", ""), in.value("frames_decoded", std::int64_t{0}),
                          in.value("clips", std::int64_t{0}),
                          in.value("decode_errors", std::int64_t{0})});
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

void write_manifest(const std::string& dir, const Manifest& manifest) {
  const fs::path path = fs::path(dir) / kManifestName;
  const std::string partial = path.string() + ".partial";
  const std::string text = manifest_to_json(manifest) + "\n";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  DOJO_CHECK(fd >= 0, IoError, "{}: cannot create: {}", partial, std::strerror(errno));
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  DOJO_CHECK(written == static_cast<ssize_t>(text.size()) && synced, IoError,
             "{}: write failed: {}", partial, std::strerror(errno));
  std::error_code ec;
  fs::rename(partial, path, ec);
  DOJO_CHECK(!ec, IoError, "{}: cannot rename into place: {}", path.string(), ec.message());
}

}  // namespace dojo::data
