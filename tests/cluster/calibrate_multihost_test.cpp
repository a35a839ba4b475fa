// `dojo bench calibrate` across hosts.sh hosts (2 hosts x 2 ranks): the preset it writes is
// two-level (a cluster mesh, link curves within and between hosts, the layout), and
// `dojo sim --preset` on it predicts the all-reduce for the ranks' hosts and a step whose
// buckets cross hosts. Correctness only (quick calibration, no timing thresholds).
#include <set>

#include <nlohmann/json.hpp>

#include "accel/mesh_io.hpp"
#include "cluster/hosts_util.hpp"

namespace dojo::cluster_test {
namespace {

class CalibrateMultihostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = netns_skip_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    root_ = shared_scratch("calibrate-hosts");
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  fs::path root_;
};

TEST_F(CalibrateMultihostTest, RanksOnTwoHostsWriteATwoLevelPresetThatSimPredictsFrom) {
  HostCluster cluster(root_ / "c", 2, "1gbit");
  ASSERT_TRUE(cluster.up_ok()) << cluster.up_output();
  const fs::path preset = root_ / "host.yaml";
  // The figures are not checked: a loaded CI machine may calibrate them as it likes.
  const auto cal = run(cluster.mpirun(2, 2) + dojo() +
                           " bench calibrate --quick --no-gloo --max-spread 100 --repeats 3 "
                           "--out " +
                           preset.string(),
                       root_ / "calibrate.log");
  ASSERT_EQ(cal.exit_code, 0) << cal.output;
  EXPECT_NE(cal.output.find("between hosts (level 1)"), std::string::npos) << cal.output;

  const auto spec = accel::load_mesh_spec(preset.string());
  ASSERT_TRUE(spec.host.has_value());
  ASSERT_EQ(spec.levels.size(), 2u);
  EXPECT_EQ(spec.levels[1].grid.x * spec.levels[1].grid.y, 2);
  EXPECT_EQ(spec.host->hosts, 2);
  EXPECT_EQ(spec.host->ranks_per_host, 2);
  const auto* within = spec.host->link(0, "mpi");
  const auto* across = spec.host->link(1, "mpi");
  ASSERT_NE(within, nullptr);
  ASSERT_NE(across, nullptr);
  EXPECT_TRUE(within->streamed_s.points.empty());
  EXPECT_FALSE(across->streamed_s.points.empty());

  const auto allreduce = run(dojo() + " sim --preset " + preset.string() +
                                 " --allreduce 1M,16M --ranks 4 --algo all --json",
                             root_ / "allreduce.log");
  ASSERT_EQ(allreduce.exit_code, 0) << allreduce.output;
  const auto table = nlohmann::json::parse(allreduce.output);
  EXPECT_EQ(table.at("hosts"), 2);
  EXPECT_EQ(table.at("ranks_per_host"), 2);
  std::set<std::string> algos;
  for (const auto& row : table.at("rows")) {
    algos.insert(row.at("algo").get<std::string>());
    EXPECT_GT(row.at("time_s").get<double>(), 0) << row.dump();
  }
  for (const char* algo : {"ring", "recursive_doubling", "mpi", "hierarchical", "auto"})
    EXPECT_EQ(algos.count(algo), 1u) << algo << " missing in " << allreduce.output;
  EXPECT_EQ(algos.count("shm"), 0u) << "shm cannot run across hosts";

  // Two ranks on the two-host preset: one per host, the buckets' all-reduce crossing.
  const auto step = run(dojo() + " sim --preset " + preset.string() +
                            " --model tiny --ranks 2 --global-batch 8 --json",
                        root_ / "step.log");
  ASSERT_EQ(step.exit_code, 0) << step.output;
  const auto projection = nlohmann::json::parse(step.output);
  EXPECT_EQ(projection.at("ranks"), 2);
  EXPECT_GT(projection.at("comm_total_s").get<double>(), 0);
  EXPECT_EQ(projection.at("cross_block_comm_s").get<double>(), 0);
  EXPECT_NEAR(projection.at("step_s").get<double>(),
              projection.at("compute_s").get<double>() + projection.at("comm_s").get<double>(),
              1e-9);
}

}  // namespace
}  // namespace dojo::cluster_test
