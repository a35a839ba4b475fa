#pragma once
// Subcommand registry. Each subcommand lives in its own file in src/cli and registers
// itself with DOJO_COMMAND; main.cpp builds the CLI11 tree from the registry, so adding
// a subcommand never touches main.cpp. Subcommands hold no logic of their own: they parse
// options into a library struct and call the library.
//
//   namespace {
//   dojo::cli::Runner setup(CLI::App& app) {
//     auto opts = std::make_shared<Options>();
//     app.add_option("--out", opts->out, "output folder")->required();
//     return [opts](dojo::cli::Context& ctx) { ... return 0; };
//   }
//   DOJO_COMMAND(synth, "", "synth", "make synthetic driving clips", kLocal, setup);
//   }
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace dojo::comm {
class Communicator;
}

namespace dojo::cli {

enum class Runtime {
  kLocal,        // no communicator: one process, no MPI
  kDistributed,  // a world communicator (MPI under mpirun/srun, else a single rank)
  kMpi,          // always MPI (an MPI singleton when started without a launcher)
};

struct Context {
  // The world for kDistributed commands; nullptr for kLocal ones.
  comm::Communicator* world = nullptr;
  // Rank on this host (for thread pinning, one GPU/core set per rank); 0 if unknown.
  int local_rank = 0;
  int local_size = 1;
};

using Runner = std::function<int(Context&)>;

struct CommandSpec {
  std::string group;  // "" for top-level, else the parent subcommand ("bench")
  std::string name;
  std::string help;
  Runtime runtime = Runtime::kLocal;
  std::function<Runner(CLI::App&)> setup;
};

int register_command(CommandSpec spec);
const std::vector<CommandSpec>& registered_commands();

}  // namespace dojo::cli

#define DOJO_COMMAND(id, group, name, help, runtime, setup)                     \
  [[maybe_unused]] const int dojo_command_##id = ::dojo::cli::register_command( \
      ::dojo::cli::CommandSpec{group, name, help, ::dojo::cli::Runtime::runtime, setup})
