// The two-level host: all-reduces across hosts by their closed forms on known link curves,
// the cluster preset a calibration across hosts writes, and a one-level preset written
// before there were two levels, which must load and predict as it did.
#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "accel/calibrate.hpp"
#include "accel/host_calibration.hpp"
#include "accel/mesh_cost_model.hpp"
#include "accel/mesh_io.hpp"
#include "accel/topology.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

constexpr double kMiB = 1 << 20;
constexpr double kAdd = 3.0 / 1e10;  // seconds per byte of a sum: 3 bytes moved at 1e10 B/s

// Streams at 1e10 B/s; within a host a link of 1 us + b / 1e9, between hosts 50 us + b / 1e8
// (both in cache and from memory, so the threshold does not matter). Points at every size
// the formulas look up, so the curves are exact there.
HostCalibration two_level_calibration() {
  HostCalibration h;
  ThreadRates r;
  r.threads = 1;
  r.gemm_fp32 = {{64, 64, 64, 1, false, false, 1e10}};
  r.streams.push_back({KernelClass::kElementwise, Curve{{{1e3, 1e10}, {1e9, 1e10}}}});
  h.threads.push_back(r);
  for (const int level : {0, 1}) {
    LinkCurve mpi;
    mpi.level = level;
    mpi.transport = "mpi";
    const double latency = level == 0 ? 1e-6 : 5e-5, rate = level == 0 ? 1e9 : 1e8;
    for (const double b : {8.0, 0.25 * kMiB, 0.5 * kMiB, kMiB, 2 * kMiB, 4 * kMiB, 8 * kMiB,
                           16 * kMiB, 32 * kMiB, 1e9}) {
      mpi.hot_s.points.push_back({b, latency + b / rate});
      mpi.cold_s.points.push_back({b, latency + b / rate});
    }
    h.links.push_back(mpi);
  }
  h.cache_bytes = 8e6;
  h.hosts = 2;
  h.ranks_per_host = 2;
  return h;
}

double within(double b) {
  return 1e-6 + b / 1e9;
}
double across(double b) {
  return 5e-5 + b / 1e8;
}

TEST(TwoLevelAllreduce, RingWaitsForTheCrossHostEdgeAtEveryStep) {
  const auto h = two_level_calibration();
  // 2 hosts x 2 ranks, 4 MiB: chunk 1 MiB in one segment; 2(n-1) = 6 steps, each as slow
  // as the level-1 exchange of the segment, the reduce-scatter's sums unhidden at the end.
  const double b = 4 * kMiB, seg = kMiB, add = seg * kAdd;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRing, b, HostLayout{2, 2}),
              3 * (std::max(across(seg), add) + add + across(seg)), 1e-12);
  // 16 MiB (beyond cache): 4 MiB chunks in 4 segments of 1 MiB.
  const double big = 16 * kMiB;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRing, big, HostLayout{2, 2}),
              3 * (4 * std::max(across(seg), add) + add + 4 * across(seg)), 1e-12);
}

TEST(TwoLevelAllreduce, SegmentsInAStreamTakeTheStreamedCurveWholeBuffersTheExchange) {
  auto h = two_level_calibration();
  // A stream between hosts at 2e8 B/s where a lone message goes at 1e8.
  auto& link = h.links[1];
  for (const double b : {8.0, kMiB, 2 * kMiB, 1e9}) link.streamed_s.points.push_back({b, b / 2e8});
  const double b = 4 * kMiB, seg = kMiB, add = seg * kAdd;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRing, b, HostLayout{2, 2}),
              3 * (std::max(seg / 2e8, add) + add + seg / 2e8), 1e-12);
  const double ring = std::max(2 * seg / 2e8, add) + add + 2 * seg / 2e8;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, b, HostLayout{2, 2}),
              2 * b / 1e10 + 1.5 * b / 1e10 + ring + 2 * b / 1e10 + 3 * within(8), 1e-12);
  // Recursive doubling and MPI's unsegmented steps send whole messages: the exchange curve.
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRecursiveDoubling, kMiB, HostLayout{2, 2}),
              within(kMiB) + kMiB * kAdd + across(2 * kMiB) + kMiB * kAdd, 1e-12);
  // The streamed curve round-trips through the file format and is optional there.
  const auto j = to_json(h);
  EXPECT_TRUE(j.at("links")[1].contains("streamed_s"));
  EXPECT_FALSE(j.at("links")[0].contains("streamed_s"));
  const auto back = host_calibration_from_json(j, "<test>");
  EXPECT_EQ(back.links[1].streamed_s.points.size(), 4u);
  EXPECT_TRUE(back.links[0].streamed_s.points.empty());
}

TEST(TwoLevelAllreduce, HierarchicalSumsInSharedMemoryAndRingsEveryStripeAcrossAtOnce) {
  const auto h = two_level_calibration();
  // 2 x 2, 4 MiB (one 4 MiB piece): copy in (2 B), sum of this rank's half over both slots
  // (3/2 B), the stripe ring over 2 hosts on the 2 MiB chunk (1 MiB per rank, one segment,
  // both stripes on the link at once: the level-1 time of 2 MiB), copy out (2 B), three
  // barriers (an 8-byte level-0 exchange each).
  const double b = 4 * kMiB, seg = kMiB, add = seg * kAdd;
  const double ring = std::max(across(2 * seg), add) + add + across(2 * seg);
  const double expected = 2 * b / 1e10 + 1.5 * b / 1e10 + ring + 2 * b / 1e10 + 3 * within(8);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, b, HostLayout{2, 2}), expected,
              1e-12);
  // 16 MiB: four such pieces, pipelined: the first piece's shared-memory work, then three
  // times the longer of a piece's ring and the next piece's shared-memory work (the one
  // before is handed back meanwhile), then the last piece's ring.
  const double shm = expected - ring;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, 16 * kMiB, HostLayout{2, 2}),
              shm + 3 * std::max(ring, shm) + ring, 1e-12);
  // 6 MiB: a full piece and a 2 MiB one (its ring on 1 MiB chunks: one 512 KiB segment).
  const double half = 2 * kMiB, small_ring = std::max(across(seg), add / 2) + add / 2 + across(seg);
  const double small_shm = 2 * half / 1e10 + 1.5 * half / 1e10 + 2 * half / 1e10 + 3 * within(8);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, 6 * kMiB, HostLayout{2, 2}),
              shm + std::max(ring, small_shm) + small_ring, 1e-12);
  // Across slow links hierarchical puts 1x the buffer on a host link, the flat ring 1.5x.
  const double ratio =
      host_allreduce_s(h, HostAllreduce::kRing, 64 * kMiB, HostLayout{2, 2}) /
      host_allreduce_s(h, HostAllreduce::kHierarchical, 64 * kMiB, HostLayout{2, 2});
  EXPECT_GT(ratio, 1.3);
  EXPECT_LT(ratio, 1.5);
}

TEST(TwoLevelAllreduce, OneRankPerHostRingsEachPieceAcrossHosts) {
  const auto h = two_level_calibration();
  // 2 hosts x 1 rank, 16 MiB: four 4 MiB pieces, each a 2-rank ring of 2 MiB chunks in two
  // 1 MiB segments over the level-1 link; no shared memory, no level-0 link needed.
  const double seg = kMiB, add = seg * kAdd;
  const double piece = 2 * std::max(across(seg), add) + add + 2 * across(seg);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, 16 * kMiB, HostLayout{2, 1}),
              4 * piece, 1e-12);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kAuto, 16 * kMiB, HostLayout{2, 1}), 4 * piece,
              1e-12);
  auto no_local = h;
  no_local.links.erase(no_local.links.begin());  // the level-0 curve
  EXPECT_NEAR(host_allreduce_s(no_local, HostAllreduce::kHierarchical, 16 * kMiB, HostLayout{2, 1}),
              4 * piece, 1e-12);
}

TEST(TwoLevelAllreduce, RecursiveDoublingCrossesWithEveryLocalRankAtOnce) {
  const auto h = two_level_calibration();
  // 2 x 2, 1 MiB: round 1 pairs ranks of one host (level 0), round 2 pairs ranks across
  // hosts, two of them per host at once (the level-1 time of 2 MiB); a sum after each.
  const double b = kMiB;
  const double doubling = within(b) + b * kAdd + across(2 * b) + b * kAdd;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kRecursiveDoubling, b, HostLayout{2, 2}), doubling,
              1e-12);
  // mpi: the cheaper of that and an unsegmented ring (6 level-1 exchanges of b/4).
  const double ring = 6 * across(b / 4) + 3 * (b / 4) * kAdd;
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kMpi, b, HostLayout{2, 2}),
              std::min(doubling, ring), 1e-12);
}

TEST(TwoLevelAllreduce, AutoIsHierarchicalAcrossHostsAndTheLimitsAreErrors) {
  const auto h = two_level_calibration();
  for (const double b : {64e3, 16 * kMiB})
    EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kAuto, b, HostLayout{2, 2}),
                     host_allreduce_s(h, HostAllreduce::kHierarchical, b, HostLayout{2, 2}));
  EXPECT_THROW(host_allreduce_s(h, HostAllreduce::kShm, kMiB, HostLayout{2, 2}), InvalidArgument);
  EXPECT_THROW(host_allreduce_s(h, HostAllreduce::kGloo, kMiB, HostLayout{2, 2}), InvalidArgument);
  auto one_level = h;
  one_level.links.pop_back();  // no level-1 curve: across hosts cannot be predicted
  EXPECT_THROW(host_allreduce_s(one_level, HostAllreduce::kRing, kMiB, HostLayout{2, 2}),
               InvalidArgument);
  // On one host shm and hierarchical are the same shared-memory all-reduce.
  const double shm = 2 * kMiB / 1e10 + 1.5 * kMiB / 1e10 + 2 * kMiB / 1e10 + 3 * within(8);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kShm, kMiB, 2), shm, 1e-12);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kHierarchical, kMiB, HostLayout{1, 2}), shm,
              1e-12);
}

TEST(TwoLevelAllreduce, ShmCopiesTheBufferSideFromMemoryWhenItExceedsTheCache) {
  auto h = two_level_calibration();
  // Streams from memory (the curve's largest size) at a quarter of the in-cache rate.
  h.threads[0].streams[0].bytes_per_s = Curve{{{1e3, 1e10}, {1e8, 1e10}, {1e9, 2.5e9}}};
  const double piece = 8 * kMiB;  // comm's slot: 16 MiB is two pieces
  const double per_piece = piece / 1e10 + piece / 2.5e9    // copy in: slot, then buffer
                           + 1.5 * piece / 1e10            // the chunk's sum over 2 slots
                           + piece / 1e10 + piece / 2.5e9  // copy out
                           + 3 * within(8);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kShm, 16 * kMiB, 2), 2 * per_piece, 1e-12);
  // 1 MiB is below the cache (8 MB here): both sides in cache.
  const double small = 4 * kMiB / 1e10 + 1.5 * kMiB / 1e10 + 3 * within(8);
  EXPECT_NEAR(host_allreduce_s(h, HostAllreduce::kShm, kMiB, 2), small, 1e-12);
}

MeshSpec cluster_spec() {
  HostMeasurements m;
  m.cores = 2;
  m.ram_bytes = 8e9;
  m.memory_bytes_per_s = 1e10;
  m.p2p_measured = true;
  m.calibration = two_level_calibration();
  return host_spec(m);
}

TEST(TwoLevelSpec, ACalibrationAcrossHostsIsAClusterMeshWhoseReplicasKnowTheirHosts) {
  const auto spec = cluster_spec();
  ASSERT_EQ(spec.levels.size(), 2u);
  EXPECT_EQ(spec.levels[1].grid.x, 2);
  EXPECT_EQ(totals(spec).nodes, 4);  // 2 hosts x 2 cores
  EXPECT_NEAR(spec.levels[1].hop_latency_s, across(8), 1e-15);
  const auto back = mesh_spec_from_json(to_json(spec), "<test>");
  EXPECT_EQ(to_json(back), to_json(spec));
  EXPECT_EQ(back.host->hosts, 2);
  EXPECT_EQ(back.host->ranks_per_host, 2);
  // The trainer's ranks fall on the hosts in rank order: 2 ranks one per host, 4 two each.
  for (const auto& [ranks, hosts, per_host] :
       {std::tuple{2, 2, 1}, std::tuple{4, 2, 2}, std::tuple{1, 1, 1}}) {
    const auto mesh = make_rank_cost_model(spec, 0, ranks);
    EXPECT_EQ(mesh->host_layout().hosts, hosts) << ranks << " ranks";
    EXPECT_EQ(mesh->host_layout().ranks_per_host, per_host) << ranks << " ranks";
    if (ranks > 1) {
      EXPECT_DOUBLE_EQ(mesh->allreduce_s(16 * kMiB),
                       host_allreduce_s(*spec.host, HostAllreduce::kAuto, 16 * kMiB,
                                        HostLayout{hosts, per_host}));
    }
  }
  auto bad = to_json(spec);
  bad["host_calibration"]["links"][1]["level"] = 2;
  EXPECT_THROW(mesh_spec_from_json(bad, "<test>"), FormatError);
}

TEST(OneLevelPreset, AnOlderHostFileLoadsAsOneHostAndItsTwoFormsAgree) {
  const char* source = std::getenv("DOJO_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "DOJO_SOURCE_DIR is set by CTest";
  // Written by `dojo bench calibrate` on 2026-12-01, before presets had a second level (no
  // hosts, ranks_per_host or shm_slot_bytes keys) or fused attention rates.
  const auto spec = load_mesh_spec(std::string(source) + "/tests/accel/data/host-one-level.yaml");
  ASSERT_TRUE(spec.host.has_value());
  ASSERT_EQ(spec.levels.size(), 1u);
  EXPECT_EQ(spec.host->hosts, 1);
  EXPECT_EQ(spec.host->ranks_per_host, 0);
  EXPECT_EQ(spec.host->shm_slot_bytes, 8 << 20);
  EXPECT_EQ(spec.host->link(1, "mpi"), nullptr);
  const auto& h = *spec.host;
  // The one-host formulas, unchanged: recursive doubling of 2 ranks is one exchange and one
  // sum; the layout form of one host is the same function.
  KernelRecord add;
  add.kind = KernelKind::kElementwise;
  add.kernel_class = KernelClass::kElementwise;
  add.bytes = 3 * 65536.0;
  EXPECT_DOUBLE_EQ(host_allreduce_s(h, HostAllreduce::kRecursiveDoubling, 65536, 2),
                   h.exchange_s("mpi", 65536, false) + h.kernel_s(add, 1));
  for (const auto algo : {HostAllreduce::kRing, HostAllreduce::kRecursiveDoubling,
                          HostAllreduce::kMpi, HostAllreduce::kGloo, HostAllreduce::kAuto})
    for (const double b : {65536.0, kMiB, 16 * kMiB, 64 * kMiB})
      EXPECT_EQ(host_allreduce_s(h, algo, b, HostLayout{1, 2}), host_allreduce_s(h, algo, b, 2))
          << to_string(algo) << " " << b;
  // The trainer's two ranks share the one host.
  const auto mesh = make_rank_cost_model(spec, 1, 2);
  EXPECT_EQ(mesh->host_layout().hosts, 1);
  EXPECT_EQ(mesh->host_layout().ranks_per_host, 2);
  EXPECT_EQ(mesh->allreduce_s(16 * kMiB), host_allreduce_s(h, HostAllreduce::kAuto, 16 * kMiB, 2));
}

}  // namespace
}  // namespace dojo::accel
