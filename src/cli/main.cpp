// The `dojo` executable: builds the subcommand tree from the registry (command.hpp),
// starts the communication runtime for distributed subcommands, and is the one place
// where an error becomes an exit status (and MPI_Abort, so no peer rank hangs).
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "comm/error_agreement.hpp"
#include "comm/runtime.hpp"
#include "core/error.hpp"
#include "core/exit_codes.hpp"
#include "core/log.hpp"

namespace {

// How long failing ranks wait for each other to agree that they failed alike.
constexpr dojo::comm::Millis kErrorAgreement{3000};

// This process's rank as its launcher (mpirun, srun, torchrun) states it; 0 without one.
// Read before the runtime starts, for messages printed before there is a communicator.
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      return std::atoi(value);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dojo;
  CLI::App app{
      "dojo: train unsupervised video models on driving footage across many machines,\n"
      "with every step projected onto a simulated Dojo-style accelerator mesh."};
  app.set_version_flag("--version", std::string("dojo ") + DOJO_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");

  // Sorted so that --help lists groups and commands alphabetically.
  std::vector<const cli::CommandSpec*> specs;
  for (const auto& spec : cli::registered_commands()) specs.push_back(&spec);
  std::sort(specs.begin(), specs.end(), [](auto* a, auto* b) {
    return std::tie(a->group, a->name) < std::tie(b->group, b->name);
  });
  std::map<std::string, CLI::App*> groups;
  std::vector<std::tuple<CLI::App*, const cli::CommandSpec*, cli::Runner>> runners;
  for (const auto* spec : specs) {
    CLI::App* parent = &app;
    if (!spec->group.empty()) {
      auto& group = groups[spec->group];
      if (group == nullptr) {
        group = app.add_subcommand(
            spec->group, spec->group == "bench" ? "measure dojo against its anchors" : spec->group);
        group->require_subcommand(1);
      }
      parent = group;
    }
    CLI::App* sub = parent->add_subcommand(spec->name, spec->help);
    runners.emplace_back(sub, spec, spec->setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every parse error is bad input (exit 2). Under a
    // launcher every rank parses the same command line: only rank 0 says what is wrong.
    if (e.get_exit_code() == 0) return app.exit(e);
    if (launcher_rank() == 0) app.exit(e);
    return kExitBadInput;
  }
  if (verbose) log::set_level(log::Level::kDebug);

  for (auto& [sub, spec, runner] : runners) {
    if (!sub->parsed()) continue;
    std::unique_ptr<comm::Runtime> runtime;
    try {
      cli::Context context;
      if (spec->runtime != cli::Runtime::kLocal) {
        runtime = std::make_unique<comm::Runtime>(spec->runtime == cli::Runtime::kMpi);
        context.world = &runtime->world();
        context.local_rank = runtime->local_rank();
        context.local_size = runtime->local_size();
      }
      return runner(context);
    } catch (const std::exception& e) {
      const int code = exit_code_for(e);
      if (!runtime || runtime->world().size() == 1) {
        log::error("{}", e.what());
        return code;
      }
      // An error every rank found (a bad config, a missing file) is printed once, by rank
      // 0, and every rank exits with its code. Otherwise each failing rank says what it
      // found and the job is ended: peers may be blocked waiting for this rank.
      auto& world = runtime->world();
      if (comm::ranks_failed_alike(world, code, e.what(), kErrorAgreement)) {
        if (world.rank() == 0) log::error("{} (every rank reported this)", e.what());
        return code;
      }
      log::error("{}", e.what());
      runtime->abort_all_ranks(code);
      return code;
    }
  }
  return kExitBadInput;
}
