// Ingest against inputs an attacker (or an unlucky folder) provides: FIFOs, link loops,
// broken links, unreadable folders, timestamps that leap 10^6 s, absurd clip shapes, and
// leftovers of a killed run.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "comm/local_communicator.hpp"
#include "core/error.hpp"
#include "data/fixtures.hpp"
#include "data/ingest.hpp"
#include "data/inspect.hpp"
#include "data/loader.hpp"
#include "data/manifest.hpp"

namespace dojo::data {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

IngestOptions small(const std::vector<std::string>& inputs, const std::string& out) {
  IngestOptions o;
  o.inputs = inputs;
  o.out_dir = out;
  o.shape = testing::small_shape();
  o.threads = 1;
  return o;
}

IngestReport run(const IngestOptions& o) {
  auto world = comm::make_local_world(1);
  return testing::ingest_on(o, *world[0]);
}

std::map<std::string, ManifestInput> by_path(const std::string& out) {
  std::map<std::string, ManifestInput> m;
  for (const auto& in : read_manifest(out).inputs) m[in.path] = in;
  return m;
}

TEST(HostileInput, FifosLinkLoopsAndBrokenLinksAreSkippedWithReasonsAndSiblingsIngest) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path() / "in", 1, 1.0, 2);
  const fs::path in = dir.path() / "in";
  ASSERT_EQ(::mkfifo((in / "pipe.mp4").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(dir.str("named_pipe.mkv").c_str(), 0600), 0);
  fs::create_symlink("self.mp4", in / "self.mp4");  // a loop of one link
  fs::create_symlink("b.mp4", in / "a.mp4");        // a loop of two
  fs::create_symlink("a.mp4", in / "b.mp4");
  fs::create_symlink("missing.mp4", in / "dangling.mp4");
  fs::create_symlink(in, in / "back_up");  // a link to a folder (not followed: no cycle)
  // No writer ever opens the FIFOs: opening one for reading would block this test for ever.
  const auto report = run(small({in.string(), dir.str("named_pipe.mkv")}, dir.str("out")));
  EXPECT_EQ(report.inputs_ok, 1);
  EXPECT_GT(report.clips_written, 0);
  const auto m = by_path(dir.str("out"));
  const std::map<std::string, std::string> expected = {
      {(in / "pipe.mp4").string(), "FIFO"},
      {dir.str("named_pipe.mkv"), "FIFO"},
      {(in / "self.mp4").string(), "symbolic link loop"},
      {(in / "a.mp4").string(), "symbolic link loop"},
      {(in / "b.mp4").string(), "symbolic link loop"},
      {(in / "dangling.mp4").string(), "broken symbolic link"},
      {(in / "back_up").string(), "link to a folder"}};
  for (const auto& [path, fragment] : expected) {
    ASSERT_EQ(m.count(path), 1u) << path << " missing from the manifest";
    EXPECT_NE(m.at(path).reason.find(fragment), std::string::npos)
        << path << ": " << m.at(path).reason;
  }
  EXPECT_EQ(m.at(videos[0]).status, "ok");
  EXPECT_EQ(m.at((in / "synth_0000.labels.json").string()).status, "ignored");
  EXPECT_EQ(report.inputs_skipped, 6);  // the folder link is "ignored", not skipped
}

TEST(HostileInput, AnOutputFolderInsideTheInputIsNotScanned) {
  TempDir dir;
  testing::make_synth(dir.path() / "in", 1, 1.0, 2);
  const auto o = small({dir.str("in")}, dir.str("in/shards"));
  ASSERT_EQ(run(o).inputs_ok, 1);
  const auto again = run(o);  // the shards and manifest written inside "in" are not inputs
  EXPECT_EQ(again.inputs_already_done, 1);
  EXPECT_EQ(again.inputs_skipped + again.inputs_ignored, 0);
  const auto m = by_path(o.out_dir);
  ASSERT_EQ(m.count(dir.str("in/shards")), 1u);
  EXPECT_EQ(m.at(dir.str("in/shards")).reason, "the ingest output folder");
}

TEST(HostileInput, AnUnreadableSubfolderIsRecordedAndTheRestIngests) {
  // Permissions do not stop root, so the scan runs in a child that drops to `nobody`.
  TempDir dir;
  testing::make_synth(dir.path() / "in", 1, 1.0, 2);
  fs::create_directories(dir.path() / "in" / "locked" / "inner");
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir.path() / "in" / "locked", fs::perms::none);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    std::string out;
    try {
      for (const auto& other : scan_inputs({dir.str("in")}).others)
        out += other.path + "\t" + other.status + "\t" + other.reason + "\n";
    } catch (...) {
      ::_exit(4);
    }
    const bool written =
        ::write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
    ::_exit(written ? 0 : 5);
  }
  ::close(fds[1]);
  std::string got;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) got.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  fs::permissions(dir.path() / "in" / "locked", fs::perms::owner_all);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  const std::string locked = (dir.path() / "in" / "locked").string();
  EXPECT_NE(got.find(locked + "\tskipped\ta folder that cannot be read"), std::string::npos) << got;
}

TEST(HostileInput, TimestampsLeapingAMillionSecondsDoNotFloodTheShards) {
  // A 3 KB-class MKV: 6 frames 0.1 s apart, then 6 more 10^6 s later. Sampled at 15 fps
  // the gap used to be filled with copies of one frame (9 GB of shards before a kill).
  TempDir dir;
  std::vector<double> times;
  for (int i = 0; i < 6; ++i) times.push_back(0.1 * i);
  for (int i = 0; i < 6; ++i) times.push_back(1e6 + 0.1 * i);
  const std::string mkv = dir.str("leap.mkv");
  testing::write_timed_video(mkv, times);
  auto o = small({mkv}, dir.str("out"));
  o.fps = 15.0;
  const auto report = run(o);
  EXPECT_EQ(report.inputs_ok, 1);
  // 12 frames over 1.2 s of real time give about 18 sampled frames: 4 clips of 4.
  EXPECT_GE(report.clips_written, 3);
  EXPECT_LE(report.clips_written, 5);
  const auto m = by_path(dir.str("out"));
  EXPECT_NE(m.at(mkv).reason.find("timestamp jump"), std::string::npos) << m.at(mkv).reason;
  std::uintmax_t shard_bytes = 0;
  for (const auto& s : read_manifest(dir.str("out")).shards)
    shard_bytes += fs::file_size(fs::path(dir.str("out")) / s.path);
  EXPECT_LT(shard_bytes, 1u << 20);
}

TEST(HostileInput, AClipShapeTooLargeForMemoryIsAnErrorNamingTheFlagsBeforeAllocating) {
  TempDir dir;
  auto o = small({dir.str("nothing")}, dir.str("out"));
  o.shape = ClipShape{4096, 8192, 8192, 3, 1};
  try {
    run(o);
    FAIL() << "no error for a 4096x8192x8192x3 clip";
  } catch (const InvalidArgument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--frames 4096"), std::string::npos) << message;
    EXPECT_NE(message.find("--size 8192x8192"), std::string::npos) << message;
    EXPECT_NE(message.find("GiB"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(dir.str("out")));
}

TEST(HostileInput, ASkippedInputIsTriedAgainOnTheNextRunAndStrictSeesItStillBroken) {
  TempDir dir;
  const auto videos = testing::make_synth(dir.path() / "in", 2, 1.0, 4);
  const std::string broken = videos[1];
  const auto good = dir.str("good.mp4");
  fs::copy_file(broken, good);
  fs::resize_file(broken, 300);  // a truncated download
  auto o = small({dir.str("in")}, dir.str("out"));
  const auto first = run(o);
  ASSERT_EQ(first.inputs_ok, 1);
  ASSERT_EQ(first.inputs_skipped, 1);
  // Still broken: tried again, skipped again, and --strict says so.
  o.strict = true;
  EXPECT_THROW(run(o), FormatError);
  o.strict = false;
  // Repaired: the next run ingests it, and the manifest holds one entry for it.
  fs::copy_file(good, broken, fs::copy_options::overwrite_existing);
  const auto third = run(o);
  EXPECT_EQ(third.inputs_already_done, 1);
  EXPECT_EQ(third.inputs_ok, 1);
  EXPECT_EQ(third.inputs_skipped, 0);
  const auto manifest = read_manifest(o.out_dir);
  EXPECT_EQ(std::count_if(manifest.inputs.begin(), manifest.inputs.end(),
                          [&](const auto& in) { return in.path == broken; }),
            1);
  EXPECT_EQ(by_path(o.out_dir).at(broken).status, "ok");
  EXPECT_EQ(manifest.total_clips(), 2 * first.clips_written);
  EXPECT_TRUE(inspect(o.out_dir, true).ok());
}

TEST(HostileInput, LeftoversOfAKilledRunAreReportedNotCountedNotRead) {
  TempDir dir;
  testing::make_synth(dir.path() / "in", 2, 1.0, 4);
  const auto o = small({dir.str("in")}, dir.str("out"));
  const auto first = run(o);
  ASSERT_EQ(first.inputs_ok, 2);
  const auto manifest = read_manifest(o.out_dir);
  // What a run killed while writing leaves behind.
  testing::write_bytes(dir.str("out/shard-r0000-00007.h5.partial"), 5000);
  fs::copy_file(fs::path(o.out_dir) / manifest.shards[0].path, dir.str("out/shard-r0001-00003.h5"));
  testing::make_synth(dir.path() / "in", 1, 1.0, 4);  // nothing new: same file names
  const auto second = run(o);
  ASSERT_EQ(second.strays.size(), 2u);
  EXPECT_NE(second.strays[0].find("shard-r0000-00007.h5.partial"), std::string::npos);
  EXPECT_NE(second.strays[1].find("shard-r0001-00003.h5"), std::string::npos);
  EXPECT_EQ(second.shards_written, 0);
  EXPECT_EQ(second.clips_written, 0);
  EXPECT_EQ(second.inputs_already_done, 2);
  EXPECT_EQ(read_manifest(o.out_dir).total_clips(), manifest.total_clips());
  EXPECT_TRUE(inspect(o.out_dir, true).ok());
}

}  // namespace
}  // namespace dojo::data
