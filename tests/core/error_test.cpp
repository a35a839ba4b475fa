#include <gtest/gtest.h>

#include "core/error.hpp"

namespace dojo {
namespace {

void check_positive(int value) {
  DOJO_CHECK(value > 0, InvalidArgument, "frames: expected a positive count, got {}", value);
}

TEST(ErrorTest, CheckThrowsTypedErrorNamingTheValue) {
  EXPECT_NO_THROW(check_positive(3));
  try {
    check_positive(-4);
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "frames: expected a positive count, got -4");
  }
}

TEST(ErrorTest, AssertReportsSourceLocation) {
  try {
    DOJO_ASSERT(1 + 1 == 3, "arithmetic is {}", "broken");
    FAIL() << "no exception";
  } catch (const InternalError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("error_test.cpp"), std::string::npos) << what;
    EXPECT_NE(what.find("arithmetic is broken"), std::string::npos) << what;
  }
}

TEST(ErrorTest, CommErrorCarriesPeer) {
  const Timeout t("no answer", 3);
  const CommError& base = t;
  EXPECT_EQ(base.peer(), 3);
}

}  // namespace
}  // namespace dojo
