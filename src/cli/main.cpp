// The `dojo` executable: builds the subcommand tree from the registry (command.hpp),
// starts the communication runtime for distributed subcommands, and is the one place
// where an error becomes an exit status (and MPI_Abort, so no peer rank hangs).
#include <algorithm>
#include <exception>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "comm/runtime.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int exit_code_for(const std::exception& e) {
  return dynamic_cast<const dojo::InvalidArgument*>(&e) != nullptr ? kExitUsage : kExitError;
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
    return app.exit(e);
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
      log::error("{}", e.what());
      const int code = exit_code_for(e);
      // Peers may be blocked in a collective waiting for this rank: end them all.
      if (runtime && runtime->world().size() > 1) runtime->abort_all_ranks(code);
      return code;
    }
  }
  return kExitUsage;
}
