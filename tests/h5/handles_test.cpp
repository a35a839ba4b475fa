#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.hpp"
#include "h5/handles.hpp"

namespace dojo::h5 {
namespace {
namespace fs = std::filesystem;

std::string temp_path(const char* name) {
  return (fs::temp_directory_path() / fmt::format("dojo-h5-{}-{}", ::getpid(), name)).string();
}

TEST(H5Handles, AttributesVectorsAndBlobsRoundTrip) {
  const std::string path = temp_path("roundtrip.h5");
  std::lock_guard lock(mutex());
  silence_errors();
  {
    Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_TRUE(file.valid());
    write_int_attr(file.get(), "step", -3, path);
    write_uint_attr(file.get(), "hash", ~0ULL, path);
    write_string_attr(file.get(), "format", "dojo-test", path);
    write_vector(file.get(), "values", H5T_NATIVE_DOUBLE, std::vector<double>{1.5, -2.0}, path);
    write_blob(file.get(), "meta", R"({"sources": ["a.mp4"]})", path);
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(read_int_attr(file.get(), "step", path), -3);
  EXPECT_EQ(read_uint_attr(file.get(), "hash", path), ~0ULL);
  EXPECT_EQ(read_string_attr(file.get(), "format", path), "dojo-test");
  EXPECT_THROW(read_string_attr(file.get(), "format", path, 4), FormatError);  // too long
  EXPECT_EQ(read_vector<double>(file.get(), "values", H5T_NATIVE_DOUBLE, 2, path),
            (std::vector<double>{1.5, -2.0}));
  EXPECT_THROW(read_vector<double>(file.get(), "values", H5T_NATIVE_DOUBLE, 3, path), FormatError);
  EXPECT_EQ(read_blob(file.get(), "meta", path), R"({"sources": ["a.mp4"]})");
  try {
    read_int_attr(file.get(), "missing", path);
    FAIL() << "no error for a missing attribute";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  file.reset();
  fs::remove(path);
}

TEST(H5Handles, ADamagedBlobIsAFormatErrorNamingTheFile) {
  const std::string path = temp_path("blob.h5");
  const std::string text(300, 'q');
  std::lock_guard lock(mutex());
  silence_errors();
  {
    Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    write_blob(file.get(), "meta", text, path);
  }
  // Flip one byte of the blob's data (found by its content).
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = std::string(bytes.begin(), bytes.end()).find(text);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 100] = 'r';
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::ssize(bytes));
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_TRUE(file.valid());
  try {
    read_blob(file.get(), "meta", path);
    FAIL() << "no error for a damaged blob";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
  }
  file.reset();
  fs::remove(path);
}

}  // namespace
}  // namespace dojo::h5
