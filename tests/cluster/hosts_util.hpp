#pragma once
// Network-namespace hosts for the multi-host tests (scripts/cluster/hosts.sh): a cluster
// that is up while the object lives and down (every namespace, link and process) after,
// also when a test fails. Tests call skip_reason() first: where `ip netns add` is refused
// (no CAP_SYS_ADMIN, a locked-down container) they skip with its message.
#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/cluster_util.hpp"

namespace dojo::cluster_test {

// Empty when this machine can make network namespaces; otherwise why not.
inline std::string netns_skip_reason() {
  const std::string probe = fmt::format("dojo-probe-{}", ::getpid());
  const fs::path log = fs::temp_directory_path() / (probe + ".log");
  const auto res = run(fmt::format("ip netns add {0} && ip netns del {0}", probe), log);
  fs::remove(log);
  if (res.exit_code == 0) return "";
  return "network namespaces are refused here (`ip netns add` failed: " + res.output + ")";
}

// A folder every host sees (each host has its own /tmp, so not under /tmp).
inline fs::path shared_scratch(const std::string& name) {
  const fs::path p = fs::path("/var/tmp") / fmt::format("dojo-{}-{}", name, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

inline std::string hosts_sh() {
  return source_dir() + "/scripts/cluster/hosts.sh";
}

class HostCluster {
 public:
  // `hosts` hosts under `dir` with links at `rate`. Check up_ok() (and up_output()).
  HostCluster(fs::path dir, int hosts, const std::string& rate = "10gbit")
      : dir_(std::move(dir)), hosts_(hosts) {
    const auto res =
        run(fmt::format("{} up {} {} --rate {}", hosts_sh(), hosts, dir_.string(), rate),
            dir_.parent_path() / (dir_.filename().string() + "-up.log"));
    up_ok_ = res.exit_code == 0;
    up_output_ = res.output;
  }
  ~HostCluster() { down(); }
  HostCluster(const HostCluster&) = delete;
  HostCluster& operator=(const HostCluster&) = delete;

  bool up_ok() const { return up_ok_; }
  const std::string& up_output() const { return up_output_; }
  const fs::path& dir() const { return dir_; }
  int hosts() const { return hosts_; }
  fs::path hostfile() const { return dir_ / "hostfile"; }

  // `hosts.sh exec DIR HOST ` ready to prefix a command (HOST like "dojo-h0").
  std::string exec(const std::string& host) const {
    return fmt::format("{} exec {} {} ", hosts_sh(), dir_.string(), host);
  }
  // mpirun on dojo-h0 across the hosts: `per_host` ranks on each of `hosts` hosts.
  std::string mpirun(int hosts, int per_host) const {
    return exec("dojo-h0") + fmt::format(
                                 "mpirun --hostfile {} -np {} --map-by ppr:{}:node "
                                 "--oversubscribe -x DOJO_BIN -x DOJO_SOURCE_DIR ",
                                 hostfile().string(), hosts * per_host, per_host);
  }
  int link(const std::string& host, const std::string& state) const {
    return run(fmt::format("{} link {} {} {}", hosts_sh(), dir_.string(), host, state),
               dir_.parent_path() / "link.log")
        .exit_code;
  }
  int kill_host(const std::string& host) const {
    return run(fmt::format("{} kill {} {}", hosts_sh(), dir_.string(), host),
               dir_.parent_path() / "kill.log")
        .exit_code;
  }
  // PIDs of the processes running on `host` (its namespace holder excluded).
  std::vector<pid_t> pids(const std::string& host) const {
    const auto res = run(fmt::format("{} pids {} {}", hosts_sh(), dir_.string(), host),
                         dir_.parent_path() / "pids.log");
    std::vector<pid_t> out;
    std::istringstream in(res.output);
    for (pid_t p; in >> p;) out.push_back(p);
    return out;
  }
  Result down() {
    if (down_) return {0, ""};
    down_ = true;
    return run(fmt::format("{} down {}", hosts_sh(), dir_.string()),
               dir_.parent_path() / (dir_.filename().string() + "-down.log"));
  }

 private:
  fs::path dir_;
  int hosts_;
  bool up_ok_ = false;
  bool down_ = false;
  std::string up_output_;
};

}  // namespace dojo::cluster_test
