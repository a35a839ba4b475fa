// Presets reproduce the published figures; specs round-trip through YAML and JSON; bad
// files are typed errors naming the key.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "accel/mesh_io.hpp"
#include "accel/presets.hpp"
#include "core/error.hpp"

namespace dojo::accel {
namespace {

double totals_field(const MeshTotals& t, const std::string& key) {
  const auto j = to_json(t);
  EXPECT_TRUE(j.contains(key)) << key;
  return j.at(key).get<double>();
}

TEST(Presets, DojoPresetsReproducePublishedTotalsWithinTolerance) {
  for (const std::string name : {"d1", "tile", "tray", "cabinet", "exapod"}) {
    const auto figures = published_figures(name);
    ASSERT_FALSE(figures.empty()) << name;
    const auto t = totals(builtin_preset(name));
    for (const auto& f : figures) {
      const double ours = totals_field(t, f.key);
      EXPECT_NEAR(ours / f.value, 1.0, f.tolerance)
          << name << " " << f.key << " ours " << ours << " published " << f.value;
    }
  }
}

TEST(Presets, ExapodIsThreeThousandD1AndCountsUsableNodesOnly) {
  const auto t = totals(builtin_preset("exapod"));
  EXPECT_EQ(t.chips, 3000);
  EXPECT_EQ(t.nodes, 3000 * 354);
  EXPECT_EQ(t.positions, 3000 * 360);
  EXPECT_EQ(totals(builtin_preset("tile")).chips, 25);
  EXPECT_EQ(totals(builtin_preset("d1")).chips, 1);
}

TEST(Presets, UnknownNameListsTheKnownOnes) {
  try {
    builtin_preset("exapodd");
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("exapodd"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("tile"), std::string::npos);
  }
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dojo_mesh_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

using MeshIo = TempDir;

TEST_F(MeshIo, YamlAndJsonRoundTripGiveTheSameTotals) {
  const auto spec = builtin_preset("exapod");
  for (const std::string file : {"exapod.yaml", "exapod.json"}) {
    save_mesh_spec(spec, path(file));
    const auto back = load_mesh_spec(path(file));
    EXPECT_EQ(to_json(back), to_json(spec)) << file;
    EXPECT_EQ(to_json(totals(back)), to_json(totals(spec))) << file;
  }
  EXPECT_EQ(resolve_preset(path("exapod.yaml")).name, "exapod");
}

TEST_F(MeshIo, UnknownKeyIsFormatErrorNamingFileAndKey) {
  std::ofstream(path("bad.yaml")) << "name: bad\nnode: {peak_flops_fp32: 1, peak_flops_bf16: 1,"
                                     " sram_bytes: 1, sram_bytes_per_s: 1, bogus: 3}\n"
                                     "levels: [{name: chip, grid: [2, 2], link_bytes_per_s: 1,"
                                     " hop_latency_s: 0}]\n";
  try {
    load_mesh_spec(path("bad.yaml"));
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("node.bogus"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.yaml"), std::string::npos) << e.what();
  }
}

TEST_F(MeshIo, OutOfDomainValueIsFormatErrorAndMissingFileIsIoError) {
  std::ofstream(path("neg.json")) << R"({"name": "neg", "node": {"peak_flops_fp32": -1,
    "peak_flops_bf16": 1, "sram_bytes": 1, "sram_bytes_per_s": 1},
    "levels": [{"name": "chip", "grid": [2, 2], "link_bytes_per_s": 1, "hop_latency_s": 0}]})";
  EXPECT_THROW(load_mesh_spec(path("neg.json")), FormatError);
  EXPECT_THROW(load_mesh_spec(path("missing.yaml")), IoError);
}

}  // namespace
}  // namespace dojo::accel
