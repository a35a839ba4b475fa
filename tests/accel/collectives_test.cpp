// Ring, 2D ring and hierarchical all-reduce on the mesh: closed forms hold exactly where
// no link is shared; shared links slow flows down by their share.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "accel/collectives.hpp"
#include "accel/mesh_cost_model.hpp"
#include "accel/presets.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

constexpr double kAlpha = 1e-6;  // test presets: hop latency
constexpr double kLink = 1e9;    // test presets: node link bytes/s

void expect_rel(double actual, double expected, double tol = 1e-12) {
  EXPECT_NEAR(actual, expected, tol * std::abs(expected)) << actual << " vs " << expected;
}

TEST(RingOrder, IsAPermutationWithNeighboursAtMostTwoApartAndOneApartOnEvenGrids) {
  for (std::int64_t ux = 1; ux <= 7; ++ux) {
    for (std::int64_t uy = 1; uy <= 7; ++uy) {
      const auto order = ring_order(ux, uy);
      ASSERT_EQ(static_cast<std::int64_t>(order.size()), ux * uy);
      EXPECT_EQ(std::set<std::int64_t>(order.begin(), order.end()).size(), order.size());
      const bool hamiltonian = ux > 1 && uy > 1 && (ux % 2 == 0 || uy % 2 == 0);
      for (std::size_t i = 0; i < order.size() && order.size() > 1; ++i) {
        const auto a = order[i], b = order[(i + 1) % order.size()];
        const auto d = std::abs(a % ux - b % ux) + std::abs(a / ux - b / ux);
        EXPECT_LE(d, hamiltonian ? 1 : 2) << ux << "x" << uy << " step " << i;
      }
    }
  }
}

TEST(Flows, UncontendedTransferIsHopsTimesLatencyPlusBytesOverBandwidth) {
  const Topology topo(builtin_preset("test4x4"));
  expect_rel(transfer_time_s(topo, {0, 0}, {3, 2}, 1e6), 5 * kAlpha + 1e6 / kLink);
}

TEST(Flows, FlowsSharingALinkSplitItsBandwidth) {
  const Topology topo(builtin_preset("test4x4"));
  // Both cross the link (1,0)->(2,0).
  const std::vector<Flow> flows = {{{0, 0}, {2, 0}}, {{1, 0}, {3, 0}}};
  const auto profile = profile_flows(topo, flows);
  expect_rel(profile.time_s(1e6), 2 * kAlpha + 2 * 1e6 / kLink);
}

TEST(Flows, RowsCrossingAChipEdgeShareTheEdgeBandwidth) {
  const Topology topo(builtin_preset("test_tiles"));  // 4x4 chips, chip edge 2e9 B/s, 1e-5 s
  std::vector<Flow> flows;
  for (std::int64_t y = 0; y < 4; ++y) flows.push_back({{3, y}, {4, y}});
  expect_rel(profile_flows(topo, flows).time_s(1e6), 1e-5 + 1e6 / (2e9 / 4));
}

TEST(Allreduce, SnakeRingOnEvenGridMatchesClosedFormExactly) {
  const Topology topo(builtin_preset("test4x4"));
  const auto plan = plan_allreduce(topo, Rect{0, 0, 4, 4}, CollectiveAlgo::kSnakeRing);
  for (const double bytes : {0.0, 1.0, 4096.0, 1e6, 16.0 * 1024 * 1024}) {
    expect_rel(plan.allreduce_s(bytes), ring_closed_form_s(16, 1, kAlpha, bytes, kLink));
  }
}

TEST(Allreduce, TwoDRingMatchesClosedFormOfRowsThenColumnsExactly) {
  const Topology topo(builtin_preset("test4x4"));
  for (const Rect r : {Rect{0, 0, 4, 4}, Rect{0, 0, 4, 3}, Rect{1, 1, 3, 2}, Rect{0, 0, 2, 4}}) {
    const auto plan = plan_allreduce(topo, r, CollectiveAlgo::kRing2d);
    const double bytes = 3e6;
    const double row_hops = r.w > 2 ? 2 : 1, col_hops = r.h > 2 ? 2 : 1;
    const double expected =
        ring_closed_form_s(r.w, row_hops, kAlpha, bytes, kLink) +
        ring_closed_form_s(r.h, col_hops, kAlpha, bytes / static_cast<double>(r.w), kLink);
    expect_rel(plan.allreduce_s(bytes), expected);
  }
}

TEST(Allreduce, FoldedRingOnOddGridIsNoFasterThanItsClosedForm) {
  const Topology topo(builtin_preset("test4x4"));
  const auto plan = plan_allreduce(topo, Rect{0, 0, 3, 3}, CollectiveAlgo::kSnakeRing);
  EXPECT_GE(plan.allreduce_s(1e6), ring_closed_form_s(9, 2, kAlpha, 1e6, kLink) * (1 - 1e-12));
}

TEST(Allreduce, ReplicasOfOneNodeTiledOnTheMeshEqualTheNodeLevelTwoDRing) {
  MeshCostModel model(builtin_preset("test4x4"), Rect{0, 0, 1, 1}, 16);
  const double expected = ring_closed_form_s(4, 2, kAlpha, 1e6, kLink) +
                          ring_closed_form_s(4, 2, kAlpha, 1e6 / 4, kLink);
  expect_rel(model.allreduce_s(1e6), expected);
}

TEST(Allreduce, HierarchicalWithinOneChipIsTheSnakeRing) {
  const Topology topo(builtin_preset("test_tiles"));
  const auto hier = plan_allreduce(topo, Rect{0, 0, 4, 4}, CollectiveAlgo::kHierarchical);
  ASSERT_EQ(hier.phases.size(), 1u);
  expect_rel(hier.allreduce_s(1e6), ring_closed_form_s(16, 1, kAlpha, 1e6, kLink));
}

TEST(Allreduce, HierarchicalOverTheSystemHasOnePhasePerLevelAndBeatsTheFlatRing) {
  const auto spec = builtin_preset("test_tiles");
  const Topology topo(spec);
  const Rect all{0, 0, topo.grid_x(), topo.grid_y()};
  const auto hier = plan_allreduce(topo, all, CollectiveAlgo::kHierarchical);
  ASSERT_EQ(hier.phases.size(), 3u);
  EXPECT_EQ(hier.phases[0].participants, 16);  // nodes on a chip
  EXPECT_EQ(hier.phases[1].participants, 4);   // chips on a tile
  EXPECT_EQ(hier.phases[2].participants, 6);   // tiles
  const auto flat = plan_allreduce(topo, all, CollectiveAlgo::kSnakeRing);
  EXPECT_LT(hier.allreduce_s(1e3), flat.allreduce_s(1e3));  // far fewer latency steps
  EXPECT_GT(hier.allreduce_s(1e6), 0);
}

TEST(Allreduce, HierarchicalOnAMisalignedRectangleIsInvalidArgument) {
  const Topology topo(builtin_preset("test_tiles"));
  EXPECT_THROW(plan_allreduce(topo, Rect{2, 0, 4, 4}, CollectiveAlgo::kHierarchical),
               InvalidArgument);
}

TEST(Allreduce, AlgorithmNamesParseAndUnknownIsInvalidArgument) {
  EXPECT_EQ(parse_collective_algo("ring2d"), CollectiveAlgo::kRing2d);
  EXPECT_EQ(parse_collective_algo("hierarchical"), CollectiveAlgo::kHierarchical);
  EXPECT_THROW(parse_collective_algo("tree"), InvalidArgument);
}

}  // namespace
}  // namespace dojo::accel
