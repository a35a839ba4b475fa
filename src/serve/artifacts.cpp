// Artifacts of a job's run folder: GET /v1/jobs/{id}/artifacts (name, bytes) and
// GET /v1/jobs/{id}/artifacts/{path} (Range requests honoured). Every name is resolved
// inside the run folder with symlinks followed (safe_path.hpp).
#include <filesystem>

#include <fmt/format.h>

#include "serve/content_type.hpp"
#include "serve/safe_path.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;

std::string content_type_for(const std::string& path) {
  const auto ext = fs::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".jsonl") return "application/x-ndjson";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".yaml" || ext == ".yml") return "application/yaml";
  if (ext == ".txt" || ext == ".log") return "text/plain; charset=utf-8";
  if (ext == ".woff2") return "font/woff2";
  return "application/octet-stream";
}

void add_artifact_routes(Service& service, std::vector<Route>& routes) {
  routes.push_back(
      {"GET", "/v1/jobs/([^/]+)/artifacts",
       [&service](const ApiRequest& req, ApiResponse& res) {
         const auto job = service.owned_job(req.caller, req.params.at(0));
         const auto root = fs::path(service.job_dir(job.id)) / "run";
         auto list = nlohmann::json::array();
         std::error_code ec;
         if (fs::is_directory(root, ec)) {
           const auto real_root = fs::canonical(root, ec);
           for (auto it = fs::recursive_directory_iterator(root, ec);
                !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
             // Symlinks are listed only if they resolve inside the run folder.
             const auto real = fs::canonical(it->path(), ec);
             if (ec) {
               ec.clear();
               continue;
             }
             const auto inside = real.lexically_relative(real_root);
             if (inside.empty() || *inside.begin() == "..") continue;
             if (!fs::is_regular_file(real, ec)) continue;
             list.push_back({{"name", it->path().lexically_relative(root).generic_string()},
                             {"bytes", static_cast<std::int64_t>(fs::file_size(real, ec))}});
           }
         }
         res.json({{"artifacts", list}});
       }});
  routes.push_back({"GET", "/v1/jobs/([^/]+)/artifacts/(.+)",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto job = service.owned_job(req.caller, req.params.at(0));
                      const auto root = fs::path(service.job_dir(job.id)) / "run";
                      const auto path = resolve_inside(root, req.params.at(1), "path");
                      if (!fs::is_regular_file(path))
                        throw ApiError(404, "path",
                                       fmt::format("'{}' is not a file", req.params.at(1)));
                      res.file_path = path.string();
                      res.content_type = content_type_for(path.string());
                    }});
}

}  // namespace dojo::serve
