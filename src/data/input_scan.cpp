// scan_inputs (ingest.hpp): files and folders -> videos to decode, and every other entry
// with the reason it is not decoded.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "data/file_kind.hpp"
#include "data/ingest.hpp"
#include "data/labels.hpp"

namespace dojo::data {
namespace fs = std::filesystem;

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

class Scanner {
 public:
  explicit Scanner(fs::path exclude) : exclude_(std::move(exclude)) {}

  void add_other(const std::string& path, const char* status, const std::string& reason) {
    others_.emplace(path, ManifestInput{path, status, reason, 0, 0, 0, ""});
  }

  // An entry found inside a folder: decoded only when it is a regular file with a video
  // extension.
  void entry(const fs::path& path) {
    const std::string p = path.string();
    std::error_code ec;
    const auto link = fs::symlink_status(path, ec);
    if (!ec && fs::is_symlink(link)) {
      const auto target = fs::status(path, ec);
      if (!ec && fs::is_directory(target)) {
        add_other(p, "ignored", "a symbolic link to a folder (links to folders are not followed)");
        return;
      }
    } else if (!ec && fs::is_directory(link)) {
      folder(path);
      return;
    }
    if (const auto reason = not_a_regular_file(p)) {
      add_other(p, "skipped", *reason);
    } else if (is_labels_file(p)) {
      add_other(p, "ignored", "a labels file (read with its video)");
    } else if (!has_video_extension(path)) {
      add_other(p, "ignored",
                "extension '" + path.extension().string() +
                    "' is not a video extension (name the file itself to try it)");
    } else {
      videos_.insert(p);
    }
  }

  void folder(const fs::path& dir) {
    if (!exclude_.empty() && dir.lexically_normal() == exclude_) {
      add_other(dir.string(), "ignored", "the ingest output folder");
      return;
    }
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      add_other(dir.string(), "skipped", "a folder that cannot be read: " + ec.message());
      return;
    }
    std::vector<fs::path> children;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      children.push_back(it->path());
    }
    if (ec) add_other(dir.string(), "skipped", "a folder that cannot be read: " + ec.message());
    std::sort(children.begin(), children.end());
    for (const auto& child : children) entry(child);
  }

  // An input named on the command line: tried whatever its extension.
  void input(const std::string& input) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(input, ec);
    const fs::path path = ec ? fs::path(input) : absolute.lexically_normal();
    const auto link = fs::symlink_status(path, ec);
    DOJO_CHECK(!ec && fs::exists(link), InvalidArgument, "ingest input {}: no such file or folder",
               input);
    const auto target = fs::status(path, ec);
    if (!ec && fs::is_directory(target)) {
      folder(path);
    } else if (const auto reason = not_a_regular_file(path.string())) {
      add_other(path.string(), "skipped", *reason);
    } else {
      videos_.insert(path.string());
    }
  }

  InputScan result() const {
    InputScan scan;
    scan.videos.assign(videos_.begin(), videos_.end());
    for (const auto& [path, entry] : others_) {
      if (videos_.count(path) == 0) scan.others.push_back(entry);
    }
    return scan;
  }

 private:
  fs::path exclude_;
  std::set<std::string> videos_;
  std::map<std::string, ManifestInput> others_;
};

}  // namespace

InputScan scan_inputs(const std::vector<std::string>& inputs, const std::string& exclude) {
  std::error_code ec;
  const fs::path absolute = exclude.empty() ? fs::path() : fs::absolute(exclude, ec);
  Scanner scanner(ec ? fs::path() : absolute.lexically_normal());
  for (const auto& input : inputs) scanner.input(input);
  return scanner.result();
}

}  // namespace dojo::data
