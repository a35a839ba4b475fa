#pragma once
// `dojo serve`: the training service. A Service owns the store, the executor, the
// scheduler and the limits; its routes are the resources' handlers (users.cpp,
// datasets.cpp, jobs.cpp, artifacts.cpp, events.cpp, static_files.cpp); http_server.cpp
// puts them on the wire.
//
// State folder layout:
//   DIR/dojo.db                 the database (WAL)
//   DIR/datasets/N/files/       uploaded videos        DIR/datasets/N/shards/  ingest output
//   DIR/jobs/N/                 config.yaml, log.txt, exit_status, run/ (the run folder)
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/api.hpp"
#include "serve/auth.hpp"
#include "serve/events_bus.hpp"
#include "serve/executor.hpp"
#include "serve/scheduler.hpp"
#include "serve/store.hpp"

namespace dojo::serve {

struct ServeOptions {
  std::string state_dir;
  std::string listen = "127.0.0.1:8080";
  std::string executor = "local";  // local | slurm
  std::int64_t slots = 0;          // 0: this machine's cores
  int job_nice = 10;               // local executor: the jobs' nice value (0: the server's)
  std::string dojo_bin;            // the dojo executable jobs run (default: this one)
  std::string configs_dir;         // presets tiny|demo|bench and model-*.yaml
  std::string web_dir;             // the dashboard's static files
  std::string slurm_dir;           // scripts/slurm (train.sbatch, ingest.sbatch)
  double rate_per_s = 200;         // requests per second per token (0: unlimited)
  std::int64_t max_streams_per_user = 16;
  std::int64_t max_queued_per_user = 100;
  std::int64_t http_threads = 64;
  double read_timeout_s = 10;
  double heartbeat_s = 10;
  double cancel_grace_s = 30;
  double poll_interval_s = 0.2;
  std::int64_t max_upload_bytes = 8LL << 30;
};

struct Route {
  std::string method;
  std::string pattern;  // a regular expression matched against the whole decoded path
  std::function<void(const ApiRequest&, ApiResponse&)> handler;
  bool authenticated = true;
  bool streaming_body = false;  // the handler reads the body itself (uploads)
};

class Service {
 public:
  explicit Service(ServeOptions options);
  ~Service();

  // Settles jobs left by a previous server and starts the scheduler.
  void start();
  // Stops the scheduler and wakes every event stream; running jobs keep running.
  void stop();

  const ServeOptions& options() const { return options_; }
  Store& store() { return *store_; }
  Scheduler& scheduler() { return *scheduler_; }
  EventBus& bus() { return bus_; }
  RateLimiter& rate_limiter() { return rate_limiter_; }
  const std::vector<Route>& routes() const { return routes_; }
  std::string dataset_dir(std::int64_t id) const;
  std::string job_dir(std::int64_t id) const;
  std::string jobs_root() const;

  // Open event streams per user (429 past max_streams_per_user).
  bool open_stream(std::int64_t user_id);
  void close_stream(std::int64_t user_id);

  // Loads the caller's object or throws 404 (also for another user's: never say it
  // exists). Admins see every job.
  DatasetRecord owned_dataset(const Caller& caller, const std::string& id_text);
  JobRecord owned_job(const Caller& caller, const std::string& id_text);
  static void require_admin(const Caller& caller);

 private:
  ServeOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Executor> executor_;
  EventBus bus_;
  std::unique_ptr<Scheduler> scheduler_;
  RateLimiter rate_limiter_;
  std::vector<Route> routes_;
  std::mutex streams_mutex_;
  std::map<std::int64_t, std::int64_t> streams_;
};

// Route tables of the resources (one file each).
void add_user_routes(Service& service, std::vector<Route>& routes);
void add_dataset_routes(Service& service, std::vector<Route>& routes);
void add_job_routes(Service& service, std::vector<Route>& routes);
void add_artifact_routes(Service& service, std::vector<Route>& routes);
void add_event_routes(Service& service, std::vector<Route>& routes);
void add_static_routes(Service& service, std::vector<Route>& routes);

// The JSON of a job as GET /v1/jobs/{id} answers it.
nlohmann::json job_json(Service& service, const JobRecord& job, bool with_position = true);

// Runs the HTTP server until `stop_requested` turns true (checked every 100 ms) or the
// listener fails. `on_listening(port)` is called once the socket is bound.
void run_http_server(Service& service, const std::function<bool()>& stop_requested,
                     const std::function<void(int port)>& on_listening);

// The embedded docs/openapi.yaml.
const std::string& openapi_yaml();

}  // namespace dojo::serve
