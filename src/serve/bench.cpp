#include "serve/bench.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/client.hpp"
#include "serve/service.hpp"

namespace dojo::serve {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

template <typename Done>
bool wait_for(Done done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Runs argv (no shell) and waits; its exit status.
int run_argv(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> c;
    for (const auto& a : argv) c.push_back(const_cast<char*>(a.c_str()));
    c.push_back(nullptr);
    ::execv(c[0], c.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

nlohmann::json BenchServeResult::to_json() const {
  return {{"clients", clients},
          {"seconds", seconds},
          {"polls", polls},
          {"poll_errors", poll_errors},
          {"polls_per_s", polls_per_s},
          {"poll_p50_ms", poll_p50_ms},
          {"poll_p99_ms", poll_p99_ms},
          {"submit_ms_median", submit_ms_median},
          {"submit_to_running_s_median", submit_to_running_s_median},
          {"streams", streams},
          {"streams_complete", streams_complete},
          {"metrics_rows", metrics_rows}};
}

BenchServeResult bench_serve(const BenchServeOptions& options) {
  DOJO_CHECK(options.clients >= 1 && options.seconds > 0, InvalidArgument,
             "--clients must be >= 1 and --seconds > 0");
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
  DOJO_CHECK(run_argv({dojo, "synth", "--out", clips.string(), "--clips", "3", "--seconds", "2",
                       "--size", "64x64", "--fps", "10"}) == 0,
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

  // Two training jobs that run for the whole measurement.
  BenchServeResult result;
  std::vector<double> submit_ms, to_running_s;
  std::vector<std::int64_t> jobs;
  for (int i = 0; i < 2; ++i) {
    const auto t0 = Clock::now();
    const auto r = client.post("/v1/jobs", {{"preset", "tiny"},
                                            {"dataset", dataset},
                                            {"set", {{"train.steps", 1000000}, {"train.checkpoint_every", 0}}}});
    submit_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    DOJO_CHECK(r.status == 201, IoError, "bench submit failed: {}", r.body);
    jobs.push_back(r.json()["id"].get<std::int64_t>());
  }
  for (const auto id : jobs) {
    DOJO_CHECK(wait_for([&] { return state_of(id) == "running"; }, 30), IoError,
               "bench job {} did not start", id);
    const auto j = client.get(fmt::format("/v1/jobs/{}", id)).json();
    to_running_s.push_back(j["started_s"].get<double>() - j["created_s"].get<double>());
  }

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
  result.poll_p50_ms = percentile(all, 0.50);
  result.poll_p99_ms = percentile(all, 0.99);
  result.submit_ms_median = percentile(submit_ms, 0.5);
  result.submit_to_running_s_median = percentile(to_running_s, 0.5);
  result.streams = options.streams;
  result.streams_complete = complete;
  result.metrics_rows = rows;
  return result;
}

}  // namespace dojo::serve
