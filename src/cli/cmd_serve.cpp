// `dojo serve --state DIR ...`: the training service (serve/service.hpp), and
// `dojo serve user add|list|revoke` to manage its users.
#include <csignal>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/auth.hpp"
#include "serve/service.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;

struct UserOptions {
  std::string name;
  bool admin = false;
  std::int64_t max_running = 2;
  std::int64_t max_ranks = 4;
  double max_storage_gb = 10;
};

struct Options {
  dojo::serve::ServeOptions serve;
  std::string port_file;
  UserOptions user;
};

int run_server(const Options& opts) {
  using namespace dojo;
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGPIPE, SIG_IGN);
  serve::Service service(opts.serve);
  service.start();
  serve::run_http_server(
      service, [] { return g_stop != 0; },
      [&](int port) {
        if (!opts.port_file.empty()) std::ofstream(opts.port_file) << port << "\n";
        fmt::print("dojo serve: http://{}:{}\n", opts.serve.listen.substr(0, opts.serve.listen.rfind(':')),
                   port);
        std::fflush(stdout);
      });
  service.stop();
  log::info("dojo serve: stopped; running jobs keep running and are re-adopted at the next start");
  return 0;
}

}  // namespace

namespace dojo::cli {
namespace {

Runner setup(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto& s = opts->serve;
  app.add_option("--state", s.state_dir, "folder for the database, datasets and jobs");
  app.add_option("--listen", s.listen, "HOST:PORT (port 0: any free port)")->capture_default_str();
  app.add_option("--executor", s.executor, "local (processes here) or slurm (sbatch)")
      ->capture_default_str();
  app.add_option("--slots", s.slots, "CPU slots for running ranks (default: the cores)");
  app.add_option("--job-nice", s.job_nice,
                 "nice value of local jobs, so the API stays responsive while they train (0: "
                 "the server's priority)")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  app.add_option("--web-dir", s.web_dir, "the dashboard's files (default: share/dojo/web)");
  app.add_option("--configs-dir", s.configs_dir, "presets and model configs (default: configs/)");
  app.add_option("--dojo-bin", s.dojo_bin, "the dojo executable jobs run (default: this one)");
  app.add_option("--rate-limit", s.rate_per_s, "requests per second per token (0: unlimited)")
      ->capture_default_str();
  app.add_option("--max-streams", s.max_streams_per_user, "open event streams per user")
      ->capture_default_str();
  app.add_option("--max-queued", s.max_queued_per_user, "queued jobs per user")
      ->capture_default_str();
  app.add_option("--http-threads", s.http_threads, "HTTP worker threads")->capture_default_str();
  app.add_option("--read-timeout", s.read_timeout_s, "seconds a client may take to send")
      ->capture_default_str();
  app.add_option("--heartbeat", s.heartbeat_s, "seconds between event-stream heartbeats")
      ->capture_default_str();
  app.add_option("--cancel-grace", s.cancel_grace_s, "seconds from SIGUSR1 to SIGKILL")
      ->capture_default_str();
  app.add_option("--poll-interval", s.poll_interval_s, "seconds between job checks")
      ->capture_default_str();
  app.add_option("--port-file", opts->port_file, "write the port here once listening");

  auto* user = app.add_subcommand("user", "manage the service's users");
  auto* add = user->add_subcommand("add", "add a user and print its API token (once)");
  add->add_option("name", opts->user.name, "user name")->required();
  add->add_flag("--admin", opts->user.admin, "may see every job and list users");
  add->add_option("--max-running", opts->user.max_running, "jobs running at once")
      ->capture_default_str();
  add->add_option("--max-ranks", opts->user.max_ranks, "ranks of one job, and of all running jobs")
      ->capture_default_str();
  add->add_option("--max-storage-gb", opts->user.max_storage_gb, "uploaded video storage")
      ->capture_default_str();
  auto* list = user->add_subcommand("list", "list users");
  auto* revoke = user->add_subcommand("revoke", "revoke a user and every one of its tokens");
  revoke->add_option("name", opts->user.name, "user name")->required();
  for (auto* sub : {add, list, revoke})
    sub->add_option("--state", s.state_dir, "the service's state folder")->required();
  user->require_subcommand(1);

  return [opts, add, list, revoke](Context&) {
    if (add->parsed() || list->parsed() || revoke->parsed()) {
      std::filesystem::create_directories(opts->serve.state_dir);
      serve::Store store((std::filesystem::path(opts->serve.state_dir) / "dojo.db").string());
      if (add->parsed()) {
        const auto& u = opts->user;
        DOJO_CHECK(u.max_running >= 1 && u.max_ranks >= 1 && u.max_storage_gb > 0,
                   InvalidArgument, "user quotas must be positive");
        serve::UserRecord record;
        record.name = u.name;
        record.admin = u.admin;
        record.max_running = u.max_running;
        record.max_ranks = u.max_ranks;
        record.max_storage_bytes = static_cast<std::int64_t>(u.max_storage_gb * 1e9);
        const auto token = serve::add_user_with_token(store, record);
        log::info("user '{}' added{}; its API token (shown only now) follows", u.name,
                  u.admin ? " (admin)" : "");
        fmt::print("{}\n", token);
      } else if (list->parsed()) {
        fmt::print("{:20} {:6} {:8} {:12} {:10} {:12}\n", "user", "admin", "revoked",
                   "max_running", "max_ranks", "storage_gb");
        for (const auto& u : store.users()) {
          fmt::print("{:20} {:6} {:8} {:12} {:10} {:12.3f}\n", u.name, u.admin ? "yes" : "no",
                     u.revoked ? "yes" : "no", u.max_running, u.max_ranks,
                     static_cast<double>(u.max_storage_bytes) / 1e9);
        }
      } else {
        const auto u = store.user_by_name(opts->user.name);
        DOJO_CHECK(u.has_value(), InvalidArgument, "no user '{}'", opts->user.name);
        store.revoke_user(u->id);
        log::info("user '{}' revoked: its tokens and sessions no longer work", u->name);
      }
      return 0;
    }
    return run_server(*opts);
  };
}

DOJO_COMMAND(serve, "", "serve", "run the training service (HTTP API, queue, dashboard)", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
