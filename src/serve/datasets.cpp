// Datasets: POST /v1/datasets, GET /v1/datasets, GET /v1/datasets/{id},
// PUT /v1/datasets/{id}/files/{name} (streamed to disk), POST /v1/datasets/{id}/ingest.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "serve/safe_path.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

// What the newest ingest wrote (manifest.json), in the dataset's terms.
nlohmann::json ingest_json(Service& service, const DatasetRecord& d) {
  nlohmann::json out{{"job", nullptr}, {"state", nullptr}, {"clips", 0}, {"shards", 0},
                     {"ok", nlohmann::json::array()}, {"skipped", nlohmann::json::array()}};
  if (d.ingest_job == 0) return out;
  const auto job = service.store().job(d.ingest_job);
  if (!job) return out;
  out["job"] = job->id;
  out["state"] = job->state;
  if (!job->failure_reason.empty()) out["failure_reason"] = job->failure_reason;
  std::ifstream in(fs::path(service.dataset_dir(d.id)) / "shards" / "manifest.json");
  if (!in) return out;
  const auto manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object()) return out;
  std::int64_t clips = 0;
  for (const auto& shard : manifest.value("shards", nlohmann::json::array()))
    clips += shard.value("clips", std::int64_t{0});
  out["clips"] = clips;
  out["shards"] = manifest.value("shards", nlohmann::json::array()).size();
  if (manifest.contains("clip")) out["clip"] = manifest["clip"];
  for (const auto& input : manifest.value("inputs", nlohmann::json::array())) {
    // Paths inside the service's folders are not the user's business: the file name only.
    const auto name = fs::path(input.value("path", "")).filename().string();
    if (input.value("status", "") == "skipped") {
      out["skipped"].push_back({{"file", name}, {"reason", input.value("reason", "")}});
    } else {
      out["ok"].push_back({{"file", name},
                           {"clips", input.value("clips", std::int64_t{0})},
                           {"frames_decoded", input.value("frames_decoded", std::int64_t{0})}});
    }
  }
  return out;
}

nlohmann::json dataset_json(Service& service, const DatasetRecord& d, bool detail) {
  auto files = nlohmann::json::array();
  std::int64_t bytes = 0;
  for (const auto& f : service.store().dataset_files(d.id)) {
    files.push_back({{"name", f.name}, {"bytes", f.bytes}});
    bytes += f.bytes;
  }
  nlohmann::json out{{"id", d.id},       {"name", d.name},
                     {"created_s", d.created_s}, {"bytes", bytes},
                     {"file_count", files.size()}};
  const auto ingest = ingest_json(service, d);
  out["ingest_state"] = ingest["state"];
  out["clips"] = ingest["clips"];
  if (detail) {
    out["files"] = files;
    out["ingest"] = ingest;
    out["skipped"] = ingest["skipped"];
  }
  return out;
}

void upload(Service& service, const ApiRequest& req, ApiResponse& res) {
  const auto d = service.owned_dataset(req.caller, req.params.at(0));
  const auto name = req.params.at(1);
  check_file_name(name, "name");
  const auto user = service.store().user_by_id(req.caller.user_id);
  // Replacing a file frees its old bytes.
  std::int64_t old_bytes = 0;
  for (const auto& f : service.store().dataset_files(d.id))
    if (f.name == name) old_bytes = f.bytes;
  const std::int64_t used = service.store().user_storage_bytes(user->id) - old_bytes;
  const std::int64_t room =
      std::min(user->max_storage_bytes - used, service.options().max_upload_bytes);
  const auto quota_error = [&] {
    return ApiError(403, "max_storage_gb",
                    fmt::format("quota 'max_storage_gb' ({:.3f} GB) exceeded: {} bytes in use, "
                                "this file does not fit",
                                static_cast<double>(user->max_storage_bytes) / 1e9, used));
  };
  const auto length = req.header("content-length");
  if (!length.empty() && length.find_first_not_of("0123456789") == std::string::npos &&
      length.size() < 19 && std::stoll(length) > room) {
    throw quota_error();
  }
  const auto files = fs::path(service.dataset_dir(d.id)) / "files";
  fs::create_directories(files);
  // Partial uploads wait outside files/, which an ingest reads.
  const auto incoming = fs::path(service.dataset_dir(d.id)) / "incoming";
  fs::create_directories(incoming);
  const auto temp = incoming / new_secret("").substr(0, 16);
  std::int64_t bytes = 0;
  bool over = false, write_failed = false;
  {
    std::ofstream out(temp, std::ios::binary);
    if (!out) throw IoError(fmt::format("cannot write '{}'", temp.string()));
    const bool complete = req.read_body([&](const char* data, std::size_t n) {
      bytes += static_cast<std::int64_t>(n);
      if (bytes > room) {
        over = true;
        return false;
      }
      out.write(data, static_cast<std::streamsize>(n));
      if (!out) {
        write_failed = true;
        return false;
      }
      return true;
    });
    out.close();
    if (!complete && !over && !write_failed) {
      fs::remove(temp);
      throw ApiError(400, "body", "the upload ended before its body did");
    }
  }
  if (over) {
    fs::remove(temp);
    throw quota_error();
  }
  if (write_failed) {
    fs::remove(temp);
    throw IoError(fmt::format("writing '{}' failed (disk full?)", temp.string()));
  }
  fs::rename(temp, files / name);
  service.store().put_dataset_file(d.id, {name, bytes});
  res.json({{"dataset", d.id}, {"name", name}, {"bytes", bytes}}, 201);
}

void ingest(Service& service, const ApiRequest& req, ApiResponse& res) {
  const auto d = service.owned_dataset(req.caller, req.params.at(0));
  const auto body = req.json_body();
  JsonFields fields(body);
  const auto frames = fields.optional_integer("frames", 1, 1024).value_or(16);
  const auto size = fields.optional_string("size", 16).value_or("96x96");
  const auto frame_step = fields.optional_integer("frame_step", 1, 1000).value_or(1);
  const auto channels = fields.optional_integer("channels", 1, 3).value_or(3);
  const auto clip_stride = fields.optional_integer("clip_stride", 0, 100000).value_or(0);
  const auto fps = fields.optional_integer("fps", 0, 1000).value_or(0);
  fields.finish();
  long long w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(size.c_str(), "%lld%c%lld%c", &w, &x, &h, &extra) != 3 || x != 'x' || w < 4 ||
      h < 4 || w > 4096 || h > 4096)
    throw ApiError(400, "size", fmt::format("'size' = '{}': expected WxH, e.g. 96x96", size));
  if (channels != 1 && channels != 3)
    throw ApiError(400, "channels", "'channels' must be 1 (gray) or 3 (RGB)");
  if (service.store().dataset_files(d.id).empty())
    throw ApiError(409, "dataset", fmt::format("dataset {} has no files yet", d.id));
  if (d.ingest_job != 0) {
    const auto previous = service.store().job(d.ingest_job);
    if (previous && (previous->state == "queued" || previous->state == "running"))
      throw ApiError(409, "dataset",
                     fmt::format("dataset {} is being ingested (job {})", d.id, previous->id));
  }
  const auto dir = fs::path(service.dataset_dir(d.id));
  JobRecord job;
  job.user_id = req.caller.user_id;
  job.kind = "ingest";
  job.dataset_id = d.id;
  job.ranks = 1;
  job.threads = 1;
  job.argv = nlohmann::json(std::vector<std::string>{
                                service.options().dojo_bin, "ingest", (dir / "files").string(),
                                "--out", (dir / "shards").string(), "--frames",
                                std::to_string(frames), "--size", size, "--frame-step",
                                std::to_string(frame_step), "--channels", std::to_string(channels),
                                "--clip-stride", std::to_string(clip_stride), "--fps",
                                std::to_string(fps), "--threads", "1"})
                 .dump();
  const auto id = service.scheduler().submit(job, [&](JobRecord& j) {
    fs::create_directories(service.job_dir(j.id));
    service.store().set_dataset_ingest_job(d.id, j.id);
  });
  res.json({{"id", id}, {"kind", "ingest"}, {"state", "queued"}}, 201);
}

}  // namespace

void add_dataset_routes(Service& service, std::vector<Route>& routes) {
  routes.push_back({"POST", "/v1/datasets",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto body = req.json_body();
                      JsonFields fields(body);
                      const auto name = fields.string("name", 128);
                      fields.finish();
                      if (name.empty()) throw ApiError(400, "name", "'name' may not be empty");
                      DatasetRecord d;
                      d.user_id = req.caller.user_id;
                      d.name = name;
                      const auto id = service.store().add_dataset(d);
                      fs::create_directories(fs::path(service.dataset_dir(id)) / "files");
                      res.json({{"id", id}, {"name", name}}, 201);
                    }});
  routes.push_back({"GET", "/v1/datasets",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      auto list = nlohmann::json::array();
                      for (const auto& d : service.store().datasets(req.caller.user_id))
                        list.push_back(dataset_json(service, d, false));
                      res.json({{"datasets", list}});
                    }});
  routes.push_back({"GET", "/v1/datasets/([^/]+)",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto d = service.owned_dataset(req.caller, req.params.at(0));
                      res.json(dataset_json(service, d, true));
                    }});
  routes.push_back({"PUT", "/v1/datasets/([^/]+)/files/(.*)",
                    [&service](const ApiRequest& req, ApiResponse& res) { upload(service, req, res); },
                    true, /*streaming_body=*/true});
  routes.push_back({"POST", "/v1/datasets/([^/]+)/ingest",
                    [&service](const ApiRequest& req, ApiResponse& res) { ingest(service, req, res); }});
}

}  // namespace dojo::serve
