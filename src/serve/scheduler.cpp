#include "serve/scheduler.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/log.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxReadBytes = 1 << 20;  // per file per tick
constexpr std::size_t kMaxLineBytes = 4096;     // a longer log line is cut

bool terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

// The complete lines of `path` from `offset` (at most kMaxReadBytes); advances `offset`
// past them. A file shorter than `offset` was rewritten: start again at its end.
std::vector<std::string> read_new_lines(const fs::path& path, std::int64_t& offset) {
  std::vector<std::string> lines;
  std::error_code ec;
  const auto size = static_cast<std::int64_t>(fs::file_size(path, ec));
  if (ec) return lines;
  if (size < offset) offset = size;
  if (size == offset) return lines;
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::string chunk(static_cast<std::size_t>(std::min<std::int64_t>(size - offset, kMaxReadBytes)),
                    '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  const auto last = chunk.rfind('\n');
  if (last == std::string::npos) {
    if (chunk.size() < kMaxReadBytes) return lines;  // wait for the line to end
    lines.push_back(chunk.substr(0, kMaxLineBytes));
    offset += static_cast<std::int64_t>(chunk.size());
    return lines;
  }
  std::size_t start = 0;
  while (start <= last) {
    const auto end = chunk.find('\n', start);
    auto line = chunk.substr(start, end - start);
    // A terminal progress line rewrites itself with '\r': keep its last state.
    const auto cr = line.find_last_of('\r', line.size() >= 1 ? line.size() - 1 : 0);
    if (cr != std::string::npos && cr + 1 < line.size()) line = line.substr(cr + 1);
    line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
    if (line.size() > kMaxLineBytes) line.resize(kMaxLineBytes);
    lines.push_back(std::move(line));
    start = end + 1;
  }
  offset += static_cast<std::int64_t>(last + 1);
  return lines;
}

}  // namespace

Scheduler::Scheduler(Store& store, Executor& executor, EventBus& bus, SchedulerOptions options)
    : store_(store), executor_(executor), bus_(bus), options_(std::move(options)) {}

Scheduler::~Scheduler() { stop(); }

std::string Scheduler::log_path(const std::string& jobs_root, std::int64_t job_id) {
  return (fs::path(jobs_root) / std::to_string(job_id) / "log.txt").string();
}

std::string Scheduler::job_dir(std::int64_t id) const {
  return (fs::path(options_.jobs_root) / std::to_string(id)).string();
}

void Scheduler::start() {
  thread_ = std::thread([this] { run(); });
}

void Scheduler::stop() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::wake() {
  {
    std::lock_guard lock(wake_mutex_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

void Scheduler::run() {
  while (!stopping_) {
    try {
      tick();
    } catch (const std::exception& e) {
      log::error("scheduler: {}", e.what());
    }
    std::unique_lock lock(wake_mutex_);
    wake_cv_.wait_for(lock, std::chrono::duration<double>(options_.poll_interval_s),
                      [&] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

void Scheduler::tick() {
  std::lock_guard lock(mutex_);
  for (auto& job : store_.jobs_in_state("running")) settle(job);
  start_queued();
}

void Scheduler::transition(JobRecord& job, const std::string& state, const std::string& reason) {
  const double now = now_s();
  job.state = state;
  // A job that may wait in the executor's own queue (Slurm) starts when settle() sees it.
  if (state == "running") job.started_s = executor_.queues_jobs() ? 0 : now;
  if (state == "queued") job.queued_s = now;
  if (terminal(state)) job.finished_s = now;
  if (state == "failed") job.failure_reason = reason;
  nlohmann::json data{{"state", state}};
  if (!reason.empty()) data["reason"] = reason;
  store_.transaction([&] {
    store_.save_job(job);
    store_.add_event(job.id, "state", data.dump());
  });
  log::info("job {}: {}{}", job.id, state, reason.empty() ? "" : " (" + reason + ")");
  bus_.notify();
}

void Scheduler::follow(JobRecord& job) {
  const fs::path dir = job_dir(job.id);
  std::int64_t log_offset = job.log_offset, metrics_offset = job.metrics_offset;
  const auto log_lines = read_new_lines(dir / "log.txt", log_offset);
  std::vector<std::string> metric_lines;
  if (job.kind == "train") metric_lines = read_new_lines(dir / "run" / "metrics.jsonl", metrics_offset);
  if (log_lines.empty() && metric_lines.empty() && log_offset == job.log_offset &&
      metrics_offset == job.metrics_offset) {
    return;
  }
  store_.transaction([&] {
    for (const auto& line : log_lines)
      store_.add_event(job.id, "log", nlohmann::json{{"line", line}}.dump());
    for (const auto& line : metric_lines) {
      auto row = nlohmann::json::parse(line, nullptr, false);
      if (row.is_discarded() || !row.is_object()) continue;
      if (row.value("kind", "") == "eval") {
        store_.add_event(job.id, "eval", row.dump());
        continue;
      }
      if (row.value("kind", "") == "resume") {  // train/report.hpp: rows above it are abandoned
        store_.add_event(job.id, "resume", row.dump());
        job.step = row.value("step", job.step);
        job.has_metrics = false;  // loss, clips/s and ETA came from abandoned steps
        continue;
      }
      store_.add_event(job.id, "metrics", row.dump());
      job.has_metrics = true;
      job.step = row.value("step", job.step);
      job.loss = row.value("loss", job.loss);
      job.clips_per_s = row.value("clips_per_s", job.clips_per_s);
      const double step_s = row.value("step_s", 0.0);
      job.eta_s = std::max<double>(0.0, static_cast<double>(job.steps - job.step) * step_s);
    }
    job.log_offset = log_offset;
    job.metrics_offset = metrics_offset;
    store_.save_job(job);
  });
  bus_.notify();
}

std::string Scheduler::last_log_line(const JobRecord& job) const {
  std::ifstream in(fs::path(job_dir(job.id)) / "log.txt", std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::int64_t>(in.tellg());
  const std::int64_t from = std::max<std::int64_t>(0, size - 8192);
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The last line that says what went wrong, else the last line.
  std::string last, error;
  std::size_t start = 0;
  while (start < tail.size()) {
    auto end = tail.find('\n', start);
    if (end == std::string::npos) end = tail.size();
    auto line = tail.substr(start, end - start);
    if (!line.empty()) {
      last = line;
      if (line.find("error") != std::string::npos || line.find("Error") != std::string::npos)
        error = line;
    }
    start = end + 1;
  }
  auto out = error.empty() ? last : error;
  if (out.size() > 400) out.resize(400);
  return out;
}

void Scheduler::settle(JobRecord& job) {
  if (job.executor_id.empty()) return;  // launch in progress (recover() handles a crash)
  follow(job);
  const auto probe = executor_.probe(job);
  if (probe.state == Probe::State::kRunning) {
    if (probe.started && job.started_s <= 0) {
      job.started_s = now_s();
      store_.save_job(job);
      bus_.notify();
    }
    if (job.cancel_requested && now_s() > job.cancel_deadline_s && job.cancel_deadline_s > 0) {
      log::warn("job {}: still running {:.0f} s after the stop request: killing it", job.id,
                options_.cancel_grace_s);
      executor_.kill(job);
      job.cancel_deadline_s = 0;  // killed once
      store_.save_job(job);
    }
    return;
  }
  follow(job);  // the last lines
  job.exit_code = probe.state == Probe::State::kExited ? probe.exit_code : -1;
  if (job.cancel_requested) {
    transition(job, "cancelled", "");
  } else if (probe.state == Probe::State::kExited && probe.exit_code == 0) {
    transition(job, "succeeded", "");
  } else if (probe.state == Probe::State::kExited) {
    const auto line = last_log_line(job);
    transition(job, "failed",
               fmt::format("exit code {}{}{}", probe.exit_code, line.empty() ? "" : ": ", line));
  } else {
    transition(job, "failed", probe.reason);
  }
}

std::vector<std::int64_t> Scheduler::order_of(const std::vector<JobRecord>& queued) const {
  std::map<std::int64_t, std::vector<std::int64_t>> by_user;  // ordered by user id
  for (const auto& j : queued) by_user[j.user_id].push_back(j.id);
  for (auto& [user, ids] : by_user) std::sort(ids.begin(), ids.end());
  std::vector<std::int64_t> users;
  for (const auto& [user, ids] : by_user) users.push_back(user);
  // The round robin starts after the user served last.
  const auto first = std::upper_bound(users.begin(), users.end(), last_user_);
  std::rotate(users.begin(), first, users.end());
  std::vector<std::int64_t> order;
  for (std::size_t round = 0; order.size() < queued.size(); ++round) {
    for (const auto user : users) {
      const auto& ids = by_user[user];
      if (round < ids.size()) order.push_back(ids[round]);
    }
  }
  return order;
}

std::vector<std::int64_t> Scheduler::queue_order() {
  std::lock_guard lock(mutex_);
  return order_of(store_.jobs_in_state("queued"));
}

std::int64_t Scheduler::queue_position(std::int64_t job_id) {
  const auto order = queue_order();
  const auto it = std::find(order.begin(), order.end(), job_id);
  return it == order.end() ? 0 : static_cast<std::int64_t>(it - order.begin()) + 1;
}

void Scheduler::start_queued() {
  auto queued = store_.jobs_in_state("queued");
  if (queued.empty()) return;
  std::int64_t used_slots = 0;
  std::map<std::int64_t, std::int64_t> running_jobs, running_ranks;
  for (const auto& j : store_.jobs_in_state("running")) {
    used_slots += executor_.slots_for(j.ranks);
    running_jobs[j.user_id] += 1;
    running_ranks[j.user_id] += j.ranks;
  }
  std::map<std::int64_t, UserRecord> users;
  bool started = true;
  while (started && !queued.empty()) {
    started = false;
    for (const auto id : order_of(queued)) {
      auto it = std::find_if(queued.begin(), queued.end(), [&](auto& j) { return j.id == id; });
      auto job = *it;
      if (!users.count(job.user_id)) {
        const auto user = store_.user_by_id(job.user_id);
        if (!user) continue;
        users[job.user_id] = *user;
      }
      const auto& user = users[job.user_id];
      const auto slots = executor_.slots_for(job.ranks);
      if (used_slots + slots > options_.slots && slots > 0) continue;
      if (running_jobs[job.user_id] >= user.max_running) continue;
      if (running_ranks[job.user_id] + job.ranks > user.max_ranks) continue;
      queued.erase(it);
      last_user_ = job.user_id;
      // Recorded as running before the process exists: a server that dies now finds the
      // job through the executor (recover) instead of starting it twice.
      job.state = "running";
      job.started_s = executor_.queues_jobs() ? 0 : now_s();
      job.executor = executor_.name();
      job.executor_id.clear();
      job.cancel_requested = false;
      job.attempts += 1;
      store_.save_job(job);
      try {
        LaunchRequest request;
        request.job_id = job.id;
        request.kind = job.kind;
        request.argv = nlohmann::json::parse(job.argv).get<std::vector<std::string>>();
        request.ranks = job.ranks;
        request.dir = job_dir(job.id);
        request.log_path = log_path(options_.jobs_root, job.id);
        const auto launched = executor_.launch(request);
        job.executor_id = launched.id;
        job.start_ticks = launched.start_ticks;
        transition(job, "running", "");
        used_slots += slots;
        running_jobs[job.user_id] += 1;
        running_ranks[job.user_id] += job.ranks;
      } catch (const std::exception& e) {
        transition(job, "failed", fmt::format("the job could not be started: {}", e.what()));
      }
      started = true;
      break;  // the round robin moved on: recompute the order
    }
  }
}

std::int64_t Scheduler::submit(JobRecord job, const std::function<void(JobRecord&)>& prepare) {
  std::lock_guard lock(mutex_);
  const double now = now_s();
  job.state = "queued";
  job.created_s = job.queued_s = now;
  std::int64_t id = 0;
  store_.transaction([&] {
    id = store_.add_job(job);
    job.id = id;
    if (prepare) {
      prepare(job);
      store_.save_job(job);
    }
    store_.add_event(id, "state", nlohmann::json{{"state", "queued"}}.dump());
  });
  bus_.notify();
  wake();
  return id;
}

bool Scheduler::cancel(std::int64_t job_id) {
  std::lock_guard lock(mutex_);
  auto job = store_.job(job_id);
  if (!job || terminal(job->state)) return false;
  if (job->state == "queued") {
    job->cancel_requested = true;
    transition(*job, "cancelled", "cancelled while queued");
    return true;
  }
  if (job->cancel_requested) return true;
  job->cancel_requested = true;
  job->cancel_deadline_s = now_s() + options_.cancel_grace_s;
  store_.save_job(*job);
  if (!job->executor_id.empty()) executor_.request_stop(*job);
  store_.add_event(job->id, "log",
                   nlohmann::json{{"line", "dojo serve: stop requested (SIGUSR1): the job "
                                           "checkpoints and exits"}}
                       .dump());
  bus_.notify();
  wake();
  return true;
}

bool Scheduler::resume(std::int64_t job_id) {
  std::lock_guard lock(mutex_);
  auto job = store_.job(job_id);
  if (!job || job->kind != "train" || (job->state != "cancelled" && job->state != "failed"))
    return false;
  job->cancel_requested = false;
  job->cancel_deadline_s = 0;
  job->failure_reason.clear();
  job->exit_code = -1;
  job->finished_s = 0;
  job->executor_id.clear();
  transition(*job, "queued", "resumed: continues from its newest checkpoint");
  wake();
  return true;
}

void Scheduler::recover() {
  std::lock_guard lock(mutex_);
  for (auto& job : store_.jobs_in_state("running")) {
    if (job.executor_id.empty()) {
      // The previous server died while launching it.
      if (const auto found = executor_.find_started(job)) {
        job.executor_id = found->id;
        job.start_ticks = found->start_ticks;
        store_.save_job(job);
      } else {
        transition(job, "queued", "requeued: the server stopped before the job started");
        continue;
      }
    }
    const auto probe = executor_.probe(job);
    if (probe.state == Probe::State::kRunning) {
      log::info("job {}: re-adopted after a restart ({} {})", job.id, job.executor,
                job.executor_id);
      store_.add_event(job.id, "log",
                       nlohmann::json{{"line", "dojo serve: restarted; the job was re-adopted"}}
                           .dump());
      continue;
    }
    settle(job);
  }
  bus_.notify();
}

}  // namespace dojo::serve
