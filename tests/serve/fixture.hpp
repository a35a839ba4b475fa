#pragma once
// Helpers for the service tests: a `dojo serve` process on an ephemeral port with its own
// state folder, users made with `dojo serve user add`, raw HTTP for requests a normal client
// would not send, synthetic clips, and waits with a deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "serve/client.hpp"
#include "testing/command.hpp"

namespace dojo::serve_test {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using dojo::serve::ApiClient;
using nlohmann::json;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

template <typename Done>
bool wait_until(Done done, double seconds, int poll_ms = 100) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return true;
}

// `dojo serve` in the background; stdout/stderr to state/../server-N.log.
class ServerProcess {
 public:
  ServerProcess(fs::path state, std::vector<std::string> args)
      : state_(std::move(state)), args_(std::move(args)) {}
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void start() {
    const auto port_file = state_.parent_path() / (state_.filename().string() + ".port");
    fs::remove(port_file);
    log_ = state_.parent_path() / fmt::format("{}-server-{}.log", state_.filename().string(), ++starts_);
    std::vector<std::string> argv = {dojo::testing::dojo_bin(), "serve",     "--state",
                                     state_.string(),           "--listen", "127.0.0.1:0",
                                     "--port-file",             port_file.string()};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv(c[0], c.data());
      ::_exit(127);
    }
    ASSERT_TRUE(wait_until([&] { return fs::exists(port_file) && fs::file_size(port_file) > 0; },
                           30))
        << "the server did not start: " << read_text(log_);
    port_ = std::stoi(read_text(port_file));
  }
  // SIGKILL, reaped.
  void kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM; the exit status (or -1 if it did not exit within `seconds`).
  int terminate(double seconds) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool done = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, seconds);
    if (!done) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  int port() const { return port_; }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::string log() const { return read_text(log_); }
  const fs::path& state() const { return state_; }

 private:
  fs::path state_;
  std::vector<std::string> args_;
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int starts_ = 0;
};

// `dojo serve user add NAME --state DIR FLAGS` -> the token.
inline std::string add_user(const fs::path& state, const std::string& name,
                            const std::string& flags = "") {
  const auto r = dojo::testing::run_command(
      fmt::format("{} serve user add {} --state {} {}", dojo::testing::dojo_bin(), name,
                  state.string(), flags),
      /*keep_stderr=*/false);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto token = r.output;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  EXPECT_EQ(token.rfind("dojo_", 0), 0u) << token;
  return token;
}

struct RawResponse {
  int status = 0;
  std::string text;  // the whole answer
};

// Sends `request` bytes as they are over a new connection and reads the answer until the
// server closes it.
inline RawResponse raw_http(int port, const std::string& request) {
  RawResponse out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return out;
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) out.text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (out.text.rfind("HTTP/1.1 ", 0) == 0) out.status = std::stoi(out.text.substr(9, 3));
  return out;
}

inline RawResponse raw_get(int port, const std::string& target, const std::string& token) {
  return raw_http(port, fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                    "{}\r\nConnection: close\r\n\r\n",
                                    target, token));
}

// Synthetic driving clips (dojo synth), made once per folder.
inline fs::path synth_clips(const fs::path& dir, int clips) {
  if (!fs::exists(dir / "done")) {
    const auto r = dojo::testing::run_command(fmt::format(
        "{} synth --out {} --clips {} --seconds 2 --size 64x64 --fps 10", dojo::testing::dojo_bin(),
        dir.string(), clips));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(dir / "done") << "1";
  }
  return dir;
}

inline std::vector<fs::path> videos_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".mp4") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline json job_of(ApiClient& c, std::int64_t id) {
  return c.get(fmt::format("/v1/jobs/{}", id)).json();
}

inline bool finished(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

// Waits for the job to reach `state`; the job's JSON when it did, null when it ended in
// another state or the time ran out.
inline json wait_state(ApiClient& c, std::int64_t id, const std::string& state, double seconds) {
  json job;
  const bool ok = wait_until(
      [&] {
        job = job_of(c, id);
        const auto now = job.value("state", "");
        return now == state || finished(now);
      },
      seconds, 200);
  return ok && job.value("state", "") == state ? job : json();
}

// A dataset of the caller's with the given clips uploaded and ingested for the tiny model.
inline std::int64_t ingested_dataset(ApiClient& c, const std::string& name,
                                     const std::vector<fs::path>& files) {
  const auto created = c.post("/v1/datasets", {{"name", name}});
  EXPECT_EQ(created.status, 201) << created.body;
  const auto id = created.json().value("id", std::int64_t{0});
  for (const auto& f : files) {
    const auto up = c.put_file(fmt::format("/v1/datasets/{}/files/{}", id, f.filename().string()),
                               f.string());
    EXPECT_EQ(up.status, 201) << up.body;
  }
  const auto ingest =
      c.post(fmt::format("/v1/datasets/{}/ingest", id), {{"frames", 4}, {"size", "16x16"}});
  EXPECT_EQ(ingest.status, 201) << ingest.body;
  const auto job = wait_state(c, ingest.json().value("id", std::int64_t{0}), "succeeded", 120);
  EXPECT_FALSE(job.is_null()) << c.get(fmt::format("/v1/datasets/{}", id)).body;
  return id;
}

// A tiny training job; returns the 201 answer.
inline serve::HttpResult submit_tiny(ApiClient& c, std::int64_t dataset, std::int64_t steps,
                                     json extra_set = json::object(), int ranks = 1) {
  json set = {{"train.steps", steps}, {"train.checkpoint_every", 5}, {"eval.clips", 4},
              {"eval.samples", 1}};
  for (const auto& [k, v] : extra_set.items()) set[k] = v;
  return c.post("/v1/jobs", {{"preset", "tiny"}, {"dataset", dataset}, {"ranks", ranks}, {"set", set}});
}

}  // namespace dojo::serve_test
