#include "serve/bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/stats.hpp"
#include "serve/client.hpp"
#include "serve/executor.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

template <typename Done>
bool wait_for(Done done, double seconds, int every_ms = 20) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
  }
  return true;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// No job in Slurm's queue and every node idle (a cancelled job's node stays busy while it
// completes).
bool cluster_idle() {
  if (!run_command({"squeue", "-h"}).text.empty()) return false;
  const auto nodes = run_command({"sinfo", "-h", "-o", "%T"}).text;
  return nodes.find_first_not_of("idle\n") == std::string::npos && !nodes.empty();
}

// Waits until the cluster is idle, then three seconds more: Slurm's main scheduling loop
// runs at most every sched_min_interval (2 s by default), so a job submitted within that
// time of the loop a job's end triggered waits ~3 s instead of ~1 s (measured here). Every
// timed submit starts from the same settled state.
void settle_cluster() {
  DOJO_CHECK(wait_for([] { return cluster_idle(); }, 120, 50), IoError,
             "--executor slurm: the cluster still has jobs or busy nodes after 120 s");
  std::this_thread::sleep_for(std::chrono::seconds(3));
}

// The #SBATCH options of a batch script (one per line, up to the first blank), without
// the ones the service sets itself on its command line.
std::vector<std::string> sbatch_directives(const fs::path& script) {
  std::ifstream in(script);
  DOJO_CHECK(in.good(), IoError, "cannot read {}", script.string());
  std::vector<std::string> options;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#SBATCH ", 0) != 0) continue;
    std::istringstream words(line.substr(8));
    std::string option;
    words >> option;
    for (const char* own : {"--job-name", "--output", "--nodes", "--ntasks-per-node"}) {
      if (option.rfind(own, 0) == 0) option.clear();
    }
    if (!option.empty()) options.push_back(option);
  }
  return options;
}

// One plain sbatch of one task with the same #SBATCH options as the service's train.sbatch
// (`script_options`), timed from the call until squeue says RUNNING (polled every 20 ms).
// It ends by itself two seconds later, as the service's short job does: a job cancelled
// before the next one would leave Slurm in another state.
double time_plain_sbatch(const std::vector<std::string>& script_options) {
  std::vector<std::string> argv = {"sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=1",
                                   "--job-name=dojo-bench-sbatch", "--output=/dev/null"};
  argv.insert(argv.end(), script_options.begin(), script_options.end());
  argv.insert(argv.end(), {"--wrap", "sleep 2"});
  const auto t0 = Clock::now();
  const auto out = run_command(argv);
  const auto id = out.text.substr(0, out.text.find_first_of(";\n"));
  DOJO_CHECK(out.exit_code == 0 && !id.empty(), IoError, "plain sbatch failed (exit {}): {}",
             out.exit_code, out.text);
  const bool running = wait_for(
      [&] {
        return run_command({"squeue", "-h", "-j", id, "-o", "%T"}).text.rfind("RUNNING", 0) == 0;
      },
      60, 20);
  const double elapsed = seconds_since(t0);
  if (!running) run_command({"scancel", id});
  DOJO_CHECK(running, IoError, "plain sbatch job {} did not start running within 60 s", id);
  return elapsed;
}

}  // namespace

nlohmann::json BenchServeResult::to_json() const {
  return {{"executor", executor},
          {"clients", clients},
          {"seconds", seconds},
          {"polls", polls},
          {"poll_errors", poll_errors},
          {"polls_per_s", polls_per_s},
          {"poll_p50_ms", poll_p50_ms},
          {"poll_p99_ms", poll_p99_ms},
          {"submit_ms_median", submit_ms_median},
          {"submit_to_running_s_median", submit_to_running_s_median},
          {"submit_to_running_wall_s_median", submit_to_running_wall_s_median},
          {"sbatch_submit_to_running_s_median",
           sbatch_submit_to_running_s_median < 0 ? nlohmann::json()
                                                 : nlohmann::json(sbatch_submit_to_running_s_median)},
          {"streams", streams},
          {"streams_complete", streams_complete},
          {"metrics_rows", metrics_rows}};
}

BenchServeResult bench_serve(const BenchServeOptions& options) {
  DOJO_CHECK(options.clients >= 1 && options.seconds > 0, InvalidArgument,
             "--clients must be >= 1 and --seconds > 0");
  DOJO_CHECK(options.executor == "local" || options.executor == "slurm", InvalidArgument,
             "--executor '{}': expected local or slurm", options.executor);
  BenchServeResult result;
  result.executor = options.executor;
  if (options.executor == "slurm") {
    const auto probe = run_command({"squeue", "-h"});
    DOJO_CHECK(probe.exit_code == 0, IoError,
               "--executor slurm: squeue failed (exit {}): no Slurm cluster answers. Start one "
               "(scripts/slurm/local-cluster.sh start DIR) and export SLURM_CONF=DIR/slurm.conf",
               probe.exit_code);
  }
  const auto state = fs::temp_directory_path() / fmt::format("dojo-bench-serve-{}", ::getpid());
  fs::remove_all(state);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{state};
  ServeOptions so;
  so.state_dir = state.string();
  so.listen = "127.0.0.1:0";
  so.slots = 2;
  so.executor = options.executor;
  so.dojo_bin = options.dojo_bin;
  so.rate_per_s = 0;
  so.max_streams_per_user = options.streams + 8;
  so.http_threads = options.clients + options.streams + 16;
  so.poll_interval_s = 0.05;
  Service service(so);
  UserRecord user;
  user.name = "bench";
  user.max_running = 2;
  user.max_ranks = 4;
  const auto token = add_user_with_token(service.store(), user);
  service.start();
  std::atomic<int> port{0};
  std::atomic<bool> stop{false};
  std::thread server([&] {
    run_http_server(service, [&] { return stop.load(); }, [&](int p) { port = p; });
  });
  struct StopServer {
    std::atomic<bool>& stop;
    std::thread& server;
    Service& service;
    ~StopServer() {
      stop = true;
      if (server.joinable()) server.join();
      service.stop();
    }
  } stopper{stop, server, service};
  DOJO_CHECK(wait_for([&] { return port.load() > 0; }, 10), IoError, "the bench server did not start");
  const auto url = fmt::format("http://127.0.0.1:{}", port.load());
  ApiClient client(url, token);

  // Data: a few synthetic clips, ingested for the tiny model.
  const auto dojo = service.options().dojo_bin;
  const auto clips = state / "clips";
  DOJO_CHECK(run_command({dojo, "synth", "--out", clips.string(), "--clips", "3", "--seconds",
                          "2", "--size", "64x64", "--fps", "10"})
                     .exit_code == 0,
             IoError, "dojo synth failed");
  const auto dataset = client.post("/v1/datasets", {{"name", "bench"}}).json()["id"].get<std::int64_t>();
  for (const auto& e : fs::directory_iterator(clips)) {
    if (e.path().extension() != ".mp4") continue;
    client.put_file(fmt::format("/v1/datasets/{}/files/{}", dataset, e.path().filename().string()),
                    e.path().string());
  }
  const auto ingest = client.post(fmt::format("/v1/datasets/{}/ingest", dataset),
                                  {{"frames", 4}, {"size", "16x16"}})
                          .json()["id"]
                          .get<std::int64_t>();
  const auto state_of = [&](std::int64_t id) {
    return client.get(fmt::format("/v1/jobs/{}", id)).json().value("state", "");
  };
  DOJO_CHECK(wait_for([&] { return state_of(ingest) == "succeeded"; }, 120), IoError,
             "the bench dataset's ingest did not succeed");

  // Two training jobs that run for the whole measurement, each timed from its submit call
  // until its record shows it started.
  std::vector<double> submit_ms, to_running_s, to_running_wall_s;
  // Submits a tiny training job of `steps` steps and waits until its record shows it
  // started.
  const auto start_job = [&](std::int64_t steps) {
    const auto t0 = Clock::now();
    const auto r = client.post("/v1/jobs", {{"preset", "tiny"},
                                            {"dataset", dataset},
                                            {"set", {{"train.steps", steps}, {"train.checkpoint_every", 0}}}});
    submit_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    DOJO_CHECK(r.status == 201, IoError, "bench submit failed: {}", r.body);
    const auto id = r.json()["id"].get<std::int64_t>();
    nlohmann::json j;
    DOJO_CHECK(wait_for(
                   [&] {
                     j = client.get(fmt::format("/v1/jobs/{}", id)).json();
                     return j.value("state", "") == "running" && j["started_s"].is_number();
                   },
                   60),
               IoError, "bench job {} did not start within 60 s: {}", id, j.dump());
    to_running_wall_s.push_back(seconds_since(t0));
    to_running_s.push_back(j["started_s"].get<double>() - j["created_s"].get<double>());
    return id;
  };
  if (options.executor == "slurm") {
    // Paired rounds on a settled cluster: a plain sbatch job, then one through the service.
    std::vector<double> plain;
    const auto script_options =
        sbatch_directives(fs::path(service.options().slurm_dir) / "train.sbatch");
    for (std::int64_t round = 0; round < options.sbatch_runs; ++round) {
      settle_cluster();
      plain.push_back(time_plain_sbatch(script_options));
      settle_cluster();
      const auto id = start_job(2);  // a short job: it ends by itself
      DOJO_CHECK(wait_for([&] { return state_of(id) == "succeeded"; }, 120), IoError,
                 "bench job {} did not succeed within 120 s", id);
    }
    result.sbatch_submit_to_running_s_median = median(plain);
    result.submit_to_running_wall_s_median = median(to_running_wall_s);
    result.submit_to_running_s_median = median(to_running_s);
    settle_cluster();
  }
  std::vector<std::int64_t> jobs;
  for (int i = 0; i < 2; ++i) jobs.push_back(start_job(1000000));

  // Event streams on the first job: each must see every metrics row it is sent.
  std::vector<std::thread> streams;
  std::atomic<std::int64_t> complete{0}, rows{0};
  std::atomic<bool> end_streams{false};
  for (std::int64_t s = 0; s < options.streams; ++s) {
    streams.emplace_back([&] {
      ApiClient c(url, token, 60);
      std::int64_t expected = 0;
      bool in_order = true;
      c.follow_events(fmt::format("/v1/jobs/{}/events", jobs[0]), 0, [&](const SseEvent& e) {
        if (e.type == "metrics") {
          const auto step = nlohmann::json::parse(e.data)["step"].get<std::int64_t>();
          if (step != expected + 1) in_order = false;
          expected = step;
          ++rows;
        }
        return !end_streams.load();
      }, 0);
      if (in_order && expected > 0) ++complete;
    });
  }

  // The polls.
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(options.clients));
  std::atomic<std::int64_t> errors{0};
  std::vector<std::thread> pollers;
  const auto deadline = Clock::now() + std::chrono::duration<double>(options.seconds);
  const auto start = Clock::now();
  for (std::int64_t c = 0; c < options.clients; ++c) {
    pollers.emplace_back([&, c] {
      ApiClient poller(url, token);
      auto& mine = latencies[static_cast<std::size_t>(c)];
      const auto path = fmt::format("/v1/jobs/{}", jobs[static_cast<std::size_t>(c) % jobs.size()]);
      while (Clock::now() < deadline) {
        const auto t0 = Clock::now();
        const auto r = poller.get(path);
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (r.status != 200) ++errors;
      }
    });
  }
  for (auto& t : pollers) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  end_streams = true;
  for (const auto id : jobs) {
    const auto j = client.get(fmt::format("/v1/jobs/{}", id)).json();
    DOJO_CHECK(j.value("state", "") == "running", IoError,
               "bench job {} did not run through the measurement: {} ({})", id, j.value("state", ""),
               j.value("failure_reason", nlohmann::json("")).dump());
  }
  for (const auto id : jobs) client.post(fmt::format("/v1/jobs/{}/cancel", id), nlohmann::json::object());
  for (auto& t : streams) t.join();
  for (const auto id : jobs) wait_for([&] { return state_of(id) == "cancelled"; }, 60);

  std::vector<double> all;
  for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  result.clients = options.clients;
  result.seconds = elapsed;
  result.polls = static_cast<std::int64_t>(all.size());
  result.poll_errors = errors;
  result.polls_per_s = static_cast<double>(all.size()) / elapsed;
  result.poll_p50_ms = percentile(all, 50);
  result.poll_p99_ms = percentile(all, 99);
  result.submit_ms_median = median(submit_ms);
  if (options.executor != "slurm") {  // slurm: the paired rounds' numbers
    result.submit_to_running_s_median = median(to_running_s);
    result.submit_to_running_wall_s_median = median(to_running_wall_s);
  }
  result.streams = options.streams;
  result.streams_complete = complete;
  result.metrics_rows = rows;
  return result;
}

}  // namespace dojo::serve
