#include "serve/service.hpp"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

// `<dir of the dojo binary>/../share/dojo/<name>` for an installed dojo, else the source
// tree's folder (a build tree).
std::string installed_or_source(const std::string& share_name, const std::string& source_name) {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path() / ".." / "share" / "dojo" / share_name;
    if (fs::is_directory(installed)) return fs::weakly_canonical(installed).string();
  }
  return (fs::path(DOJO_SOURCE_DIR) / source_name).string();
}

ServeOptions with_defaults(ServeOptions o) {
  DOJO_CHECK(!o.state_dir.empty(), InvalidArgument, "--state: a folder for the service's state");
  o.state_dir = fs::absolute(o.state_dir).string();
  if (o.slots <= 0) o.slots = std::max(1u, std::thread::hardware_concurrency());
  if (o.dojo_bin.empty()) {
    std::error_code ec;
    o.dojo_bin = fs::read_symlink("/proc/self/exe", ec).string();
  }
  if (o.configs_dir.empty()) o.configs_dir = installed_or_source("configs", "configs");
  if (o.web_dir.empty()) o.web_dir = installed_or_source("web", "web");
  if (o.slurm_dir.empty()) o.slurm_dir = installed_or_source("slurm", "scripts/slurm");
  DOJO_CHECK(o.executor == "local" || o.executor == "slurm", InvalidArgument,
             "--executor '{}': expected local or slurm", o.executor);
  return o;
}

}  // namespace

Service::Service(ServeOptions options)
    : options_(with_defaults(std::move(options))), rate_limiter_(options_.rate_per_s) {
  fs::create_directories(fs::path(options_.state_dir) / "datasets");
  fs::create_directories(jobs_root());
  store_ = std::make_unique<Store>((fs::path(options_.state_dir) / "dojo.db").string());
  if (options_.executor == "slurm") {
    executor_ = make_slurm_executor({jobs_root(), options_.slurm_dir});
  } else {
    executor_ = make_local_executor({jobs_root(), "", options_.job_nice});
  }
  scheduler_ = std::make_unique<Scheduler>(
      *store_, *executor_, bus_,
      SchedulerOptions{jobs_root(), options_.slots, options_.poll_interval_s,
                       options_.cancel_grace_s});
  add_user_routes(*this, routes_);
  add_dataset_routes(*this, routes_);
  add_job_routes(*this, routes_);
  add_artifact_routes(*this, routes_);
  add_event_routes(*this, routes_);
  add_static_routes(*this, routes_);
}

Service::~Service() { stop(); }

void Service::start() {
  scheduler_->recover();
  scheduler_->start();
}

void Service::stop() {
  if (scheduler_) scheduler_->stop();
  bus_.close();
}

std::string Service::jobs_root() const { return (fs::path(options_.state_dir) / "jobs").string(); }

std::string Service::dataset_dir(std::int64_t id) const {
  return (fs::path(options_.state_dir) / "datasets" / std::to_string(id)).string();
}

std::string Service::job_dir(std::int64_t id) const {
  return (fs::path(jobs_root()) / std::to_string(id)).string();
}

bool Service::open_stream(std::int64_t user_id) {
  std::lock_guard lock(streams_mutex_);
  auto& n = streams_[user_id];
  if (n >= options_.max_streams_per_user) return false;
  ++n;
  return true;
}

void Service::close_stream(std::int64_t user_id) {
  std::lock_guard lock(streams_mutex_);
  auto& n = streams_[user_id];
  if (n > 0) --n;
}

namespace {
std::int64_t parse_id(const std::string& text, const std::string& what) {
  std::int64_t id = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw ApiError(404, what, fmt::format("{} '{}' not found", what, text));
  id = std::stoll(text);
  return id;
}
}  // namespace

DatasetRecord Service::owned_dataset(const Caller& caller, const std::string& id_text) {
  const auto id = parse_id(id_text, "dataset");
  auto d = store_->dataset(id);
  if (!d || (d->user_id != caller.user_id && !caller.admin))
    throw ApiError(404, "dataset", fmt::format("dataset {} not found", id_text));
  return *d;
}

JobRecord Service::owned_job(const Caller& caller, const std::string& id_text) {
  const auto id = parse_id(id_text, "job");
  auto j = store_->job(id);
  if (!j || (j->user_id != caller.user_id && !caller.admin))
    throw ApiError(404, "job", fmt::format("job {} not found", id_text));
  return *j;
}

void Service::require_admin(const Caller& caller) {
  if (!caller.admin) throw ApiError(403, "", "this endpoint is for administrators");
}

}  // namespace dojo::serve
