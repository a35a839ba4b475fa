#pragma once
// From a POST /v1/jobs body to a job the scheduler can run: the training config (a preset
// or the user's YAML, then `set`), checked with dojo's own config validation, its paths
// set by the service, and its quote on the simulated mesh.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/service.hpp"

namespace dojo::serve {

struct TrainJobSpec {
  std::string config_yaml;  // the effective config (every key), paths set by the service
  std::int64_t dataset_id = 0, eval_dataset_id = 0;
  std::int64_t ranks = 1, threads = 1, steps = 0;
  bool dry_run = false;
  nlohmann::json quote;
};

// Parses and validates `body` for `caller`; throws ApiError naming the field. `scratch` is
// an empty folder the YAML is written into for validation.
TrainJobSpec parse_train_job(Service& service, const Caller& caller, const nlohmann::json& body,
                             const std::string& scratch);

}  // namespace dojo::serve
