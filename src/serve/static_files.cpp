// The dashboard's static files (GET / and GET /static/{path}, from --web-dir) and the API
// description (GET /v1/openapi.yaml). No authentication: the page signs in itself.
#include <filesystem>

#include <fmt/format.h>

#include "serve/content_type.hpp"
#include "serve/safe_path.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;

void add_static_routes(Service& service, std::vector<Route>& routes) {
  const auto serve_file = [&service](const std::string& relative, ApiResponse& res) {
    const auto path = resolve_inside(service.options().web_dir, relative, "path");
    if (!fs::is_regular_file(path))
      throw ApiError(404, "path", fmt::format("'{}' not found", relative));
    res.file_path = path.string();
    res.content_type = content_type_for(path.string());
    // The page changes with the server: always revalidate, never serve a stale copy.
    res.headers["Cache-Control"] = "no-cache";
  };
  routes.push_back({"GET", "/",
                    [serve_file](const ApiRequest&, ApiResponse& res) {
                      serve_file("index.html", res);
                    },
                    false});
  routes.push_back({"GET", "/static/(.+)",
                    [serve_file](const ApiRequest& req, ApiResponse& res) {
                      serve_file(req.params.at(0), res);
                    },
                    false});
  routes.push_back({"GET", "/v1/openapi.yaml",
                    [](const ApiRequest&, ApiResponse& res) {
                      res.status = 200;
                      res.content_type = "application/yaml";
                      res.body = openapi_yaml();
                    },
                    false});
}

}  // namespace dojo::serve
