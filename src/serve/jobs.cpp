// Jobs: POST /v1/jobs, GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel,
// POST /v1/jobs/{id}/resume, GET /v1/jobs/{id}/logs?offset=N.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "serve/job_spec.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

constexpr std::int64_t kMaxLogChunk = 1 << 20;

nlohmann::json nullable(double value, bool present) {
  return present ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json job_body(const JobRecord& job, const std::string& user, std::int64_t position) {
  nlohmann::json out{
      {"id", job.id},
      {"user", user},
      {"kind", job.kind},
      {"state", job.state},
      {"queue_position", job.state == "queued" ? nlohmann::json(position) : nlohmann::json(nullptr)},
      {"dataset", job.dataset_id},
      {"eval_dataset", job.eval_dataset_id == 0 ? nlohmann::json(nullptr)
                                                : nlohmann::json(job.eval_dataset_id)},
      {"ranks", job.ranks},
      {"threads", job.threads},
      {"step", job.step},
      {"steps", job.steps},
      {"loss", nullable(job.loss, job.has_metrics)},
      {"clips_per_s", nullable(job.clips_per_s, job.has_metrics)},
      {"eta_s", nullable(job.eta_s, job.has_metrics && job.state == "running")},
      {"failure_reason", job.failure_reason.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json(job.failure_reason)},
      {"created_s", job.created_s},
      {"queued_s", job.queued_s},
      {"started_s", nullable(job.started_s, job.started_s > 0)},
      {"finished_s", nullable(job.finished_s, job.finished_s > 0)},
      {"executor", job.executor.empty() ? nlohmann::json(nullptr) : nlohmann::json(job.executor)},
      {"executor_id",
       job.executor_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(job.executor_id)},
      {"exit_code", job.exit_code >= 0 ? nlohmann::json(job.exit_code) : nlohmann::json(nullptr)},
      {"cancel_requested", job.cancel_requested},
      {"attempts", job.attempts}};
  out["quote"] = job.quote.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(job.quote);
  return out;
}

void submit(Service& service, const ApiRequest& req, ApiResponse& res) {
  const auto body = req.json_body();
  auto& store = service.store();
  const auto user = store.user_by_id(req.caller.user_id);
  const auto scratch = fs::path(service.jobs_root()) / fmt::format(".new-{}", new_secret("").substr(0, 16));
  fs::create_directories(scratch);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{scratch};
  const auto spec = parse_train_job(service, req.caller, body, scratch.string());
  if (spec.dry_run) {
    res.json({{"dry_run", true}, {"quote", spec.quote}, {"config", spec.config_yaml}});
    return;
  }
  if (store.count_jobs(user->id, "queued") >= service.options().max_queued_per_user)
    throw ApiError(429, "max_queued",
                   fmt::format("quota 'max_queued': {} jobs already queued; wait for some to start",
                               service.options().max_queued_per_user));
  std::ofstream(scratch / "config.yaml") << spec.config_yaml;
  JobRecord job;
  job.user_id = user->id;
  job.kind = "train";
  job.dataset_id = spec.dataset_id;
  job.eval_dataset_id = spec.eval_dataset_id;
  job.ranks = spec.ranks;
  job.threads = spec.threads;
  job.steps = spec.steps;
  job.quote = spec.quote.dump();
  const auto id = service.scheduler().submit(job, [&](JobRecord& j) {
    const auto dir = fs::path(service.job_dir(j.id));
    fs::rename(scratch, dir);
    cleanup.dir.clear();
    j.argv = nlohmann::json(std::vector<std::string>{service.options().dojo_bin, "train",
                                                     "--config", (dir / "config.yaml").string(),
                                                     "--run-dir", (dir / "run").string(),
                                                     "--resume", "auto"})
                 .dump();
  });
  res.json({{"id", id}, {"state", "queued"}, {"quote", spec.quote}}, 201);
}

void logs(Service& service, const ApiRequest& req, ApiResponse& res) {
  const auto job = service.owned_job(req.caller, req.params.at(0));
  std::int64_t offset = 0;
  if (const auto text = req.query_value("offset")) {
    if (text->empty() || text->size() > 18 || text->find_first_not_of("0123456789") != std::string::npos)
      throw ApiError(400, "offset", fmt::format("'offset' = '{}': expected a byte offset >= 0", *text));
    offset = std::stoll(*text);
  }
  const auto path = fs::path(service.job_dir(job.id)) / "log.txt";
  std::error_code ec;
  const auto size = fs::exists(path, ec) ? static_cast<std::int64_t>(fs::file_size(path, ec)) : 0;
  offset = std::min(offset, size);
  const auto n = std::min(size - offset, kMaxLogChunk);
  std::string text(static_cast<std::size_t>(n), '\0');
  if (n > 0) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(offset);
    in.read(text.data(), n);
  }
  res.status = 200;
  res.content_type = "text/plain; charset=utf-8";
  res.body = std::move(text);
  res.headers["X-Log-Size"] = std::to_string(size);
  res.headers["X-Next-Offset"] = std::to_string(offset + n);
}

}  // namespace

nlohmann::json job_json(Service& service, const JobRecord& job, bool with_position) {
  const auto user = service.store().user_by_id(job.user_id);
  const auto position =
      with_position && job.state == "queued" ? service.scheduler().queue_position(job.id) : 0;
  return job_body(job, user ? user->name : "", position);
}

void add_job_routes(Service& service, std::vector<Route>& routes) {
  routes.push_back({"POST", "/v1/jobs",
                    [&service](const ApiRequest& req, ApiResponse& res) { submit(service, req, res); }});
  routes.push_back({"GET", "/v1/jobs",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto jobs = service.store().jobs(
                          req.caller.admin ? std::nullopt
                                           : std::optional<std::int64_t>(req.caller.user_id));
                      const auto order = service.scheduler().queue_order();
                      std::map<std::int64_t, std::string> names;
                      for (const auto& u : service.store().users()) names[u.id] = u.name;
                      auto list = nlohmann::json::array();
                      for (const auto& j : jobs) {
                        const auto it = std::find(order.begin(), order.end(), j.id);
                        const std::int64_t position =
                            it == order.end() ? 0 : (it - order.begin()) + 1;
                        list.push_back(job_body(j, names[j.user_id], position));
                      }
                      res.json({{"jobs", list}});
                    }});
  routes.push_back({"GET", "/v1/jobs/([^/]+)",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      res.json(job_json(service, service.owned_job(req.caller, req.params.at(0))));
                    }});
  routes.push_back({"POST", "/v1/jobs/([^/]+)/cancel",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto job = service.owned_job(req.caller, req.params.at(0));
                      if (!service.scheduler().cancel(job.id))
                        throw ApiError(409, "state",
                                       fmt::format("job {} is {}: nothing to cancel", job.id,
                                                   job.state));
                      res.json(job_json(service, *service.store().job(job.id)));
                    }});
  routes.push_back({"POST", "/v1/jobs/([^/]+)/resume",
                    [&service](const ApiRequest& req, ApiResponse& res) {
                      const auto job = service.owned_job(req.caller, req.params.at(0));
                      if (!service.scheduler().resume(job.id))
                        throw ApiError(409, "state",
                                       fmt::format("job {} is a {} job in state {}: only "
                                                   "cancelled or failed training jobs resume",
                                                   job.id, job.kind, job.state));
                      res.json(job_json(service, *service.store().job(job.id)));
                    }});
  routes.push_back({"GET", "/v1/jobs/([^/]+)/logs",
                    [&service](const ApiRequest& req, ApiResponse& res) { logs(service, req, res); }});
}

}  // namespace dojo::serve
