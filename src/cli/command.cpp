#include "cli/command.hpp"

namespace dojo::cli {
namespace {

std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;  // filled during static initialisation
  return commands;
}

}  // namespace

int register_command(CommandSpec spec) {
  registry().push_back(std::move(spec));
  return static_cast<int>(registry().size());
}

const std::vector<CommandSpec>& registered_commands() {
  return registry();
}

}  // namespace dojo::cli
