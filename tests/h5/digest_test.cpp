#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/error.hpp"
#include "h5/digest.hpp"

namespace dojo::h5 {
namespace {
namespace fs = std::filesystem;

class TempFile {
 public:
  explicit TempFile(const std::string& bytes) {
    std::string pattern = (fs::temp_directory_path() / "dojo-h5-test-XXXXXX").string();
    const int fd = mkstemp(pattern.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path_ = pattern;
    write(bytes);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  void write(const std::string& bytes) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FileDigest, SameBytesSameDigestAndAnyChangeIsNamed) {
  std::string bytes(3 << 20, 'x');  // more than one read buffer
  for (std::size_t i = 0; i < bytes.size(); i += 4097) bytes[i] = static_cast<char>(i);
  TempFile file(bytes);
  const FileDigest digest = digest_file(file.path());
  EXPECT_EQ(digest.bytes, static_cast<std::int64_t>(bytes.size()));
  EXPECT_EQ(digest_file(file.path()), digest);
  EXPECT_NO_THROW(check_file_digest(file.path(), digest, "test file"));

  bytes[2'000'000] ^= 1;  // one bit, past the first read buffer
  file.write(bytes);
  const auto damaged = message_of([&] { check_file_digest(file.path(), digest, "test file"); });
  EXPECT_NE(damaged.find(file.path()), std::string::npos) << damaged;
  EXPECT_NE(damaged.find("damaged"), std::string::npos) << damaged;
  EXPECT_THROW(check_file_digest(file.path(), digest, "test file"), FormatError);

  file.write(bytes.substr(0, 100));
  const auto cut = message_of([&] { check_file_digest(file.path(), digest, "test file"); });
  EXPECT_NE(cut.find(file.path()), std::string::npos) << cut;
  EXPECT_NE(cut.find("truncated"), std::string::npos) << cut;
}

TEST(FileDigest, MissingFileAndFifoAreIoErrorsThatNeverBlock) {
  const std::string missing = (fs::temp_directory_path() / "dojo-h5-no-such-file").string();
  EXPECT_THROW(digest_file(missing), IoError);
  EXPECT_THROW(check_file_digest(missing, {}, "test"), IoError);
  const std::string fifo =
      (fs::temp_directory_path() / fmt::format("dojo-h5-fifo-{}", ::getpid())).string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens the FIFO: a blocking open or read would hang the test.
  EXPECT_THROW(digest_file(fifo), IoError);
  EXPECT_THROW(check_file_digest(fifo, {}, "test"), IoError);
  std::remove(fifo.c_str());
}

TEST(FileDigest, HexRoundTripsAndRejectsAnythingElse) {
  EXPECT_EQ(to_hex(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(from_hex("0123456789abcdef"), 0x0123456789abcdefULL);
  EXPECT_EQ(from_hex(to_hex(~0ULL)), ~0ULL);
  EXPECT_FALSE(from_hex("0123456789ABCDEF").has_value());
  EXPECT_FALSE(from_hex("123").has_value());
  EXPECT_FALSE(from_hex("0123456789abcdeg").has_value());
}

}  // namespace
}  // namespace dojo::h5
