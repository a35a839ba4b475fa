// metrics.jsonl as its readers see it (report.hpp): a resume row abandons the earlier rows
// above its step; lines that are not rows dojo wrote are skipped, never thrown on.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train/report.hpp"

namespace dojo::train {
namespace {
namespace fs = std::filesystem;

fs::path write_lines(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / fmt::format("{}-{}.jsonl", name, ::getpid());
  std::ofstream(path) << text;
  return path;
}

TEST(ReadMetrics, AResumeRowAbandonsTheEarlierRowsAboveItsStep) {
  const fs::path path = write_lines(
      "resume",
      "{\"step\": 1, \"loss\": 1.0}\n{\"step\": 2, \"loss\": 0.9}\n{\"step\": 3, \"loss\": 0.8}\n"
      "{\"kind\": \"eval\", \"step\": 3, \"eval_loss\": 0.85}\n" +
          resume_row(1).dump() +
          "\n{\"step\": 2, \"loss\": 0.7}\n{\"step\": 3, \"loss\": 0.6}\n");
  const auto rows = read_metrics(path.string());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["loss"], 1.0);
  EXPECT_EQ(rows[1]["loss"], 0.7);  // the resumed run's step 2, not the abandoned one
  EXPECT_EQ(rows[2]["loss"], 0.6);
  fs::remove(path);
}

TEST(ReadMetrics, LinesThatAreNotRowsAreSkipped) {
  const fs::path path = write_lines(
      "odd",
      "not json\n[1, 2]\n{\"step\": \"two\", \"loss\": 1.0}\n{\"kind\": 7, \"step\": 1}\n"
      "{\"kind\": \"resume\", \"step\": \"x\"}\n{\"step\": 1, \"loss\": 0.5}\n");
  std::vector<nlohmann::json> rows;
  ASSERT_NO_THROW(rows = read_metrics(path.string()));
  ASSERT_EQ(rows.size(), 3u);  // the string-step row, the kind-7 row and step 1
  EXPECT_EQ(rows[2]["loss"], 0.5);
  EXPECT_TRUE(read_metrics((fs::temp_directory_path() / "no-such-metrics.jsonl").string()).empty());
  fs::remove(path);
}

}  // namespace
}  // namespace dojo::train
