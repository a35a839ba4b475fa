// Kernel costs, placement and the Timeline: roofline and SUMMA formulas, SRAM fit and
// spill reports, additive and deterministic step times, overlap, the Chrome trace.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "accel/mesh_cost_model.hpp"
#include "accel/presets.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

// test4x4: nodes 1e9 FLOP/s fp32, 2e9 bf16, 1e6 B SRAM at 1e10 B/s; links 1e9 B/s, 1 us;
// one off-mesh device of 1e9 B at 1e9 B/s.
MeshSpec test_spec() {
  return builtin_preset("test4x4");
}

KernelRecord elementwise(std::string_view name, double flops, double bytes) {
  KernelRecord r;
  r.name = name;
  r.layer = "layer.0";
  r.kind = KernelKind::kElementwise;
  r.flops = flops;
  r.bytes = bytes;
  return r;
}

KernelRecord gemm(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch = 1) {
  KernelRecord r;
  r.name = "gemm";
  r.kind = KernelKind::kGemm;
  r.m = m, r.n = n, r.k = k, r.batch = batch;
  r.flops = 2.0 * static_cast<double>(m * n * k * batch);
  r.bytes = 4.0 * static_cast<double>((m * k + k * n + m * n) * batch);
  return r;
}

TEST(KernelCost, ElementwiseSplitsEvenlyAndTakesTheRooflineMax) {
  const auto spec = test_spec();
  const Topology topo(spec);
  const KernelCostModel model(spec, topo, sram_fit(spec, {0, 0, 4, 4}, {}));
  const auto compute_bound = model.cost(elementwise("a", 16e9, 1.6e6));
  EXPECT_DOUBLE_EQ(compute_bound.time_s, 1.0);
  EXPECT_STREQ(compute_bound.bound, "compute");
  const auto memory_bound = model.cost(elementwise("b", 16, 1.6e7));  // fits: 16 x 1e6 B
  EXPECT_DOUBLE_EQ(memory_bound.time_s, 1.6e7 / (16 * 1e10));
  EXPECT_STREQ(memory_bound.bound, "sram");
}

TEST(KernelCost, GemmOnOneNodeIsFlopsOverPeak) {
  const auto spec = test_spec();
  const Topology topo(spec);
  const KernelCostModel model(spec, topo, sram_fit(spec, {0, 0, 1, 1}, {}));
  const auto c = model.cost(gemm(100, 100, 100));
  EXPECT_DOUBLE_EQ(c.time_s, 2e6 / 1e9);
  EXPECT_EQ(c.link_s, 0);
}

TEST(KernelCost, GemmOnTwoByTwoIsSummaWithOperandBroadcastsOnLinks) {
  const auto spec = test_spec();
  const Topology topo(spec);
  const KernelCostModel model(spec, topo, sram_fit(spec, {0, 0, 2, 2}, {}));
  const auto c = model.cost(gemm(100, 100, 100));
  EXPECT_DOUBLE_EQ(c.compute_s, 2.0 * 50 * 50 * 100 / 1e9);
  EXPECT_DOUBLE_EQ(c.link_s, 2 * (50.0 * 100 * 4) / 1e9);  // A row block + B column block
  EXPECT_DOUBLE_EQ(c.latency_s, 2e-6);                     // one hop along a row and a column
  EXPECT_DOUBLE_EQ(c.time_s, c.compute_s + c.latency_s);
  EXPECT_EQ(c.link_level, 0);
}

TEST(KernelCost, BatchedGemmRunsWholeGemmsPerNodeWhenThatIsCheaper) {
  const auto spec = test_spec();
  const Topology topo(spec);
  const KernelCostModel model(spec, topo, sram_fit(spec, {0, 0, 4, 4}, {}));
  const auto c = model.cost(gemm(8, 8, 8, 64));
  EXPECT_DOUBLE_EQ(c.compute_s, 4 * 2.0 * 8 * 8 * 8 / 1e9);  // 64 GEMMs over 16 nodes
  EXPECT_EQ(c.link_s, 0);
}

TEST(Placement, ReplicaGetsTheSmallestRegionWhoseSramHoldsIt) {
  const auto spec = test_spec();
  const auto fit = place_replica(spec, {0, 0, 4, 4}, {1e6, 1e6, 1e6, 0.5e6});
  EXPECT_EQ(fit.region, (Rect{0, 0, 2, 2}));
  EXPECT_TRUE(fit.fits);
  EXPECT_EQ(fit.spill_bytes, 0);
}

TEST(Placement, ReplicaTooLargeTakesTheWholeAreaAndReportsTheSpill) {
  const auto spec = test_spec();
  const auto fit = place_replica(spec, {0, 0, 4, 4}, {5e6, 5e6, 5e6, 5e6});
  EXPECT_EQ(fit.region, (Rect{0, 0, 4, 4}));
  EXPECT_FALSE(fit.fits);
  EXPECT_DOUBLE_EQ(fit.spill_bytes, 4e6);
  EXPECT_DOUBLE_EQ(fit.spill_fraction, 0.2);
  EXPECT_DOUBLE_EQ(fit.dram_bytes_per_s, 1e9);
}

TEST(MeshCostModel, KernelLargerThanRegionSramIsReportedAndStreamsOffMesh) {
  MeshCostModel model(test_spec(), Rect{0, 0, 1, 1}, 1);
  model.begin_step();
  model.on_kernel(elementwise("small", 1, 1e3));
  model.on_kernel(elementwise("big", 1, 5e6));
  model.on_kernel(elementwise("bigger", 1, 9e6));
  const auto r = model.end_step();
  EXPECT_EQ(model.sram_fit().first_unfit_kernel, "big");
  EXPECT_DOUBLE_EQ(model.sram_fit().first_unfit_kernel_bytes, 5e6);
  // 4e6 B beyond SRAM at this node's 1/16 share of 1e9 B/s off-mesh.
  const auto& events = model.last_step().events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_DOUBLE_EQ(events[1].duration_s, 4e6 / (1e9 / 16));
  EXPECT_EQ(events[1].bound, "dram");
  EXPECT_GT(r.step_s, 0);
}

TEST(MeshCostModel, StepTimeIsTheSumOfKernelTimesAndIsDeterministic) {
  const auto run = [] {
    MeshCostModel model(test_spec(), Rect{0, 0, 2, 2}, 4);
    model.begin_step();
    model.on_kernel(gemm(64, 96, 32));
    model.on_kernel(elementwise("gelu", 4e6, 8e6));
    model.on_kernel(gemm(33, 17, 5, 3));
    return std::make_pair(model.end_step(), model.last_step().events());
  };
  const auto [a, events] = run();
  double sum = 0;
  for (const auto& e : events)
    if (e.compute) sum += e.duration_s;
  EXPECT_DOUBLE_EQ(a.step_s, sum);
  EXPECT_DOUBLE_EQ(a.compute_s, sum);
  EXPECT_EQ(a.comm_s, 0);
  const auto [b, events_b] = run();
  EXPECT_EQ(a.step_s, b.step_s);
  EXPECT_EQ(a.flops, b.flops);
  EXPECT_EQ(a.utilization, b.utilization);
  // Utilization: achieved over the region's fp32 peak.
  EXPECT_DOUBLE_EQ(a.utilization, a.flops / (a.step_s * 4e9));
}

TEST(MeshCostModel, TwoStepsOfTheSameWorkCostTheSame) {
  MeshCostModel model(test_spec(), Rect{0, 0, 2, 2}, 1);
  double first = 0;
  for (int step = 0; step < 2; ++step) {
    model.begin_step();
    model.on_kernel(gemm(64, 64, 64));
    const auto r = model.end_step();
    if (step == 0) first = r.step_s;
    EXPECT_EQ(r.step_s, first);
  }
}

TEST(MeshCostModel, AsyncCollectiveOverlapsLaterKernelsAndBlockingOneDoesNot) {
  const auto kernel = elementwise("k", 16e9, 0);  // 4 s on 2x2 nodes at 1e9
  for (const bool async : {true, false}) {
    MeshCostModel model(test_spec(), Rect{0, 0, 2, 2}, 4);
    const double collective = model.allreduce_s(8e9);
    ASSERT_GT(collective, 0);
    model.begin_step();
    CollectiveRecord c;
    c.name = "grad_bucket.0";
    c.bytes = 8e9;
    c.ranks = 4;
    c.async = async;
    model.on_collective(c);
    model.on_kernel(kernel);
    const auto r = model.end_step();
    EXPECT_DOUBLE_EQ(r.compute_s, 4.0);
    EXPECT_DOUBLE_EQ(r.comm_total_s, collective);
    EXPECT_DOUBLE_EQ(r.step_s, async ? std::max(4.0, collective) : 4.0 + collective);
    EXPECT_DOUBLE_EQ(r.comm_s, r.step_s - 4.0);
  }
}

TEST(MeshCostModel, CollectiveOverOtherRankCountIsInvalidArgument) {
  MeshCostModel model(test_spec(), Rect{0, 0, 2, 2}, 4);
  CollectiveRecord c;
  c.name = "x";
  c.bytes = 1;
  c.ranks = 3;
  EXPECT_THROW(model.on_collective(c), InvalidArgument);
}

TEST(MeshCostModel, ChromeTraceParsesWithNodeGroupAndLinkLevelTracks) {
  MeshCostModel model(builtin_preset("test_tiles"), Rect{2, 2, 4, 4}, 2);
  model.begin_step();
  model.on_kernel(gemm(128, 128, 128));
  CollectiveRecord c;
  c.name = "grad_bucket.0";
  c.bytes = 1e6;
  c.ranks = 2;
  c.async = true;
  model.on_collective(c);
  model.end_step();
  const auto path = (std::filesystem::temp_directory_path() / "dojo_mesh_trace_test.json").string();
  model.write_chrome_trace(path);
  std::ifstream in(path);
  const auto trace = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  std::set<std::string> names;
  std::map<int, int> events_per_tid;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name")
      names.insert(e.at("args").at("name").get<std::string>());
    if (e.at("ph") == "X") ++events_per_tid[e.at("tid").get<int>()];
  }
  // The 4x4 region at (2,2) straddles four 4x4 chips: four node groups.
  int groups = 0;
  for (const auto& n : names) groups += n.rfind("nodes: ", 0) == 0 ? 1 : 0;
  EXPECT_EQ(groups, 4);
  for (const std::string level : {"links L0", "links L1", "links L2"}) {
    bool found = false;
    for (const auto& n : names) found = found || n.rfind(level, 0) == 0;
    EXPECT_TRUE(found) << level;
  }
  EXPECT_EQ(events_per_tid[0], 1);  // the GEMM on the first node group
  EXPECT_EQ(events_per_tid[3], 1);
  EXPECT_GE(events_per_tid[1000] + events_per_tid[1001], 1);  // broadcasts / all-reduce on links
  EXPECT_EQ(trace.at("otherData").at("replicas"), 2);
}

}  // namespace
}  // namespace dojo::accel
