// `dojo remote ...`: a client of `dojo serve` (serve/client.hpp). --server/--token, or
// DOJO_SERVER/DOJO_TOKEN; tables by default, the server's JSON with --json.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "serve/client.hpp"

namespace dojo::cli {
namespace {

using nlohmann::json;

struct Options {
  std::string server, token;
  bool json_out = false;
  // submit / quote
  std::string preset, config;
  std::int64_t dataset = 0, eval_dataset = 0, ranks = 1, threads = 0;
  std::vector<std::string> sets;
  // job commands
  std::int64_t job = 0;
  bool follow = false;
  std::string artifact, out;
  // upload
  std::string name;
  std::vector<std::string> files;
  std::int64_t frames = 16;
  std::string size = "96x96";
  bool no_wait = false;
};

// A --set value as JSON: numbers and booleans as such, anything else a string.
json set_value(const std::string& text) {
  auto parsed = json::parse(text, nullptr, false);
  if (!parsed.is_discarded() && (parsed.is_number() || parsed.is_boolean())) return parsed;
  return text;
}

void ensure_ok(const serve::HttpResult& r, const std::string& what) {
  if (r.status == 0) throw IoError(fmt::format("{}: no answer from the server ({})", what, r.error));
  if (r.status / 100 != 2) {
    const auto body = r.json();
    const auto error = body.is_object() && body.contains("error") ? body["error"] : json();
    const auto field = error.is_object() ? error.value("field", "") : "";
    const auto message = error.is_object() ? error.value("message", r.body) : r.body;
    throw InvalidArgument(fmt::format("{}: HTTP {}{}: {}", what, r.status,
                                      field.empty() ? "" : " (" + field + ")", message));
  }
}

json check(const serve::HttpResult& r, const std::string& what) {
  ensure_ok(r, what);
  return r.json();
}

std::string number(const json& v, const char* format = "{:.4g}") {
  return v.is_number() ? fmt::format(fmt::runtime(format), v.get<double>()) : "-";
}

void print_quote(const json& quote) {
  fmt::print("quote: model {}, {} steps, global batch {}\n", quote.value("model", ""),
             quote.value("steps", 0), quote.value("global_batch", 0));
  fmt::print("  {:8} {:>12} {:>14} {:>12}\n", "preset", "step", "total", "clips/s");
  for (const auto& t : quote["targets"]) {
    if (!t.value("available", false)) {
      fmt::print("  {:8} unavailable: {}\n", t.value("preset", ""), t.value("reason", ""));
      continue;
    }
    fmt::print("  {:8} {:>10.4g} s {:>12.4g} s {:>12.4g}\n", t.value("preset", ""),
               t["step_s"].get<double>(), t["total_s"].get<double>(), t["clips_per_s"].get<double>());
  }
}

json submit_body(const Options& o, bool dry_run) {
  json body{{"dataset", o.dataset}, {"ranks", o.ranks}, {"dry_run", dry_run}};
  DOJO_CHECK(o.preset.empty() != o.config.empty(), InvalidArgument,
             "give exactly one of --preset (tiny, demo, bench) or --config FILE");
  if (!o.preset.empty()) body["preset"] = o.preset;
  if (!o.config.empty()) {
    std::ifstream in(o.config);
    DOJO_CHECK(in, IoError, "--config '{}': cannot read it", o.config);
    body["config"] = std::string((std::istreambuf_iterator<char>(in)), {});
  }
  if (o.eval_dataset > 0) body["eval_dataset"] = o.eval_dataset;
  if (o.threads > 0) body["threads"] = o.threads;
  json set = json::object();
  for (const auto& s : o.sets) {
    const auto eq = s.find('=');
    DOJO_CHECK(eq != std::string::npos && eq > 0, InvalidArgument, "--set '{}': expected key=value", s);
    set[s.substr(0, eq)] = set_value(s.substr(eq + 1));
  }
  if (!set.empty()) body["set"] = set;
  return body;
}

void print_job(const json& j) {
  for (const auto* key : {"id", "user", "kind", "state", "queue_position", "dataset", "ranks", "step",
                          "steps", "loss", "clips_per_s", "eta_s", "failure_reason", "executor",
                          "executor_id", "exit_code"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    fmt::print("{:16} {}\n", key, j[key].is_string() ? j[key].get<std::string>() : j[key].dump());
  }
}

bool finished(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

int run(const Options& o, const std::string& command) {
  serve::ApiClient client(serve::server_from_env(o.server), serve::token_from_env(o.token));
  const auto job_path = fmt::format("/v1/jobs/{}", o.job);
  if (command == "submit" || command == "quote") {
    const auto r = check(client.post("/v1/jobs", submit_body(o, command == "quote")), command);
    if (o.json_out) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    if (command == "submit") fmt::print("job {} {}\n", r.value("id", 0), r.value("state", ""));
    print_quote(r["quote"]);
  } else if (command == "list") {
    const auto r = check(client.get("/v1/jobs"), "list");
    if (o.json_out) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    fmt::print("{:>5} {:10} {:7} {:10} {:>5} {:>12} {:>9} {:>8}\n", "id", "user", "kind", "state",
               "queue", "step", "loss", "eta");
    for (const auto& j : r["jobs"]) {
      fmt::print("{:>5} {:10} {:7} {:10} {:>5} {:>12} {:>9} {:>8}\n", j["id"].get<std::int64_t>(),
                 j.value("user", ""), j.value("kind", ""), j.value("state", ""),
                 j["queue_position"].is_null() ? "" : j["queue_position"].dump(),
                 fmt::format("{}/{}", j.value("step", 0), j.value("steps", 0)), number(j["loss"]),
                 j["eta_s"].is_number() ? fmt::format("{:.0f}s", j["eta_s"].get<double>()) : "");
    }
  } else if (command == "status") {
    const auto r = check(client.get(job_path), "status");
    if (o.json_out) std::cout << r.dump(2) << "\n";
    else print_job(r);
  } else if (command == "logs") {
    std::int64_t offset = 0;
    while (true) {
      const auto r = client.get(fmt::format("{}/logs?offset={}", job_path, offset));
      ensure_ok(r, "logs");
      std::cout << r.body << std::flush;
      offset = std::stoll(r.headers.at("x-next-offset"));
      if (!o.follow) break;
      if (offset < std::stoll(r.headers.at("x-log-size"))) continue;
      if (finished(check(client.get(job_path), "logs").value("state", ""))) {
        // The last bytes written before the job ended.
        const auto rest = client.get(fmt::format("{}/logs?offset={}", job_path, offset));
        if (rest.status == 200) std::cout << rest.body << std::flush;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  } else if (command == "cancel" || command == "resume") {
    const auto r = check(client.post(fmt::format("{}/{}", job_path, command), json::object()), command);
    if (o.json_out) std::cout << r.dump(2) << "\n";
    else fmt::print("job {} {}\n", r.value("id", 0), r.value("state", ""));
  } else if (command == "download") {
    const auto out = o.out.empty() ? std::filesystem::path(o.artifact).filename().string() : o.out;
    const auto r = client.download(fmt::format("{}/artifacts/{}", job_path, o.artifact), out);
    ensure_ok(r, "download");
    fmt::print("{}: {} bytes\n", out, std::filesystem::file_size(out));
  } else if (command == "upload") {
    const auto created = check(client.post("/v1/datasets", {{"name", o.name}}), "upload");
    const auto id = created["id"].get<std::int64_t>();
    for (const auto& f : o.files) {
      const auto name = std::filesystem::path(f).filename().string();
      check(client.put_file(fmt::format("/v1/datasets/{}/files/{}", id, name), f), "upload " + f);
    }
    const auto job = check(client.post(fmt::format("/v1/datasets/{}/ingest", id),
                                       {{"frames", o.frames}, {"size", o.size}}),
                           "ingest");
    const auto ingest = job["id"].get<std::int64_t>();
    fmt::print("dataset {}: {} files uploaded; ingest job {} queued\n", id, o.files.size(), ingest);
    if (o.no_wait) return 0;
    // Until the ingest ends, so that a submit right after it finds the dataset ready.
    json state;
    while (!finished((state = check(client.get(fmt::format("/v1/jobs/{}", ingest)), "ingest"))
                         .value("state", ""))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    const auto dataset = check(client.get(fmt::format("/v1/datasets/{}", id)), "upload");
    fmt::print("dataset {}: ingest {}: {} clips, {} files skipped\n", id, state.value("state", ""),
               dataset.value("clips", 0), dataset.value("skipped", json::array()).size());
    for (const auto& s : dataset.value("skipped", json::array()))
      fmt::print("  skipped {}: {}\n", s.value("file", ""), s.value("reason", ""));
    if (state.value("state", "") != "succeeded") return 1;
  }
  return 0;
}

Runner setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto cmd = std::make_shared<std::string>();
  app.add_option("--server", o->server, "http://HOST:PORT (default $DOJO_SERVER)");
  app.add_option("--token", o->token, "API token (default $DOJO_TOKEN)");
  app.add_flag("--json", o->json_out, "print the server's JSON");
  app.require_subcommand(1);
  const auto job_sub = [&](const char* name, const char* help) {
    auto* s = app.add_subcommand(name, help);
    s->add_option("job", o->job, "job id")->required();
    s->callback([cmd, name] { *cmd = name; });
    return s;
  };
  for (const auto* name : {"submit", "quote"}) {
    auto* s = app.add_subcommand(name, std::string(name) == "submit"
                                           ? "submit a training job (prints its id and quote)"
                                           : "quote a job on the simulated mesh; queue nothing");
    s->add_option("--preset", o->preset, "tiny, demo or bench");
    s->add_option("--config", o->config, "a training config YAML file");
    s->add_option("--dataset", o->dataset, "dataset id (ingested)")->required();
    s->add_option("--eval-dataset", o->eval_dataset, "held-out dataset id");
    s->add_option("--ranks", o->ranks, "ranks")->capture_default_str();
    s->add_option("--threads", o->threads, "threads per rank");
    s->add_option("--set", o->sets, "config override key=value (repeatable)");
    s->callback([cmd, name] { *cmd = name; });
  }
  app.add_subcommand("list", "your jobs (an admin: all)")->callback([cmd] { *cmd = "list"; });
  job_sub("status", "one job's state and progress");
  job_sub("logs", "a job's output")->add_flag("--follow,-f", o->follow, "keep following until the job ends");
  job_sub("cancel", "checkpoint and stop a job");
  job_sub("resume", "queue a cancelled or failed job again");
  auto* download = job_sub("download", "download an artifact of a job");
  download->add_option("path", o->artifact, "artifact path (see /v1/jobs/ID/artifacts)")->required();
  download->add_option("--out", o->out, "local file (default: the artifact's name)");
  auto* upload = app.add_subcommand("upload", "create a dataset, upload videos, start its ingest");
  upload->add_option("name", o->name, "dataset name")->required();
  upload->add_option("files", o->files, "video files")->required();
  upload->add_option("--frames", o->frames, "frames per clip")->capture_default_str();
  upload->add_option("--size", o->size, "clip size WxH")->capture_default_str();
  upload->add_flag("--no-wait", o->no_wait, "return once the ingest is queued");
  upload->callback([cmd] { *cmd = "upload"; });
  return [o, cmd](Context&) { return run(*o, *cmd); };
}

DOJO_COMMAND(remote, "", "remote", "use a dojo serve over HTTP (submit, watch, collect)", kLocal,
             setup);

}  // namespace
}  // namespace dojo::cli
