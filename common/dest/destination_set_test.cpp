// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for DestinationSet: one storage named twice is refused, and a
// refused set leaves no trace; the export size comes from size= or the
// destinations.  (The same NBD URI twice needs a server:
// tests/test-same-destination.sh.)

#include "dest/destination_set.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace fanout {
namespace {

class DestinationSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/destination_set_test.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
  }
  void TearDown() override { (void)system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<DestinationSpec> Paths(const std::vector<std::string>& names) const {
    std::vector<DestinationSpec> specs;
    for (const auto& n : names) specs.push_back({DestinationSpec::Source::kPath, Path(n)});
    return specs;
  }
  static bool Exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
  }

  std::string dir_;
  NullLogger log_;
};

TEST_F(DestinationSetTest, TheSameFileTwiceIsRefusedAndWhatWasCreatedRemoved) {
  { std::ofstream(Path("x.img")) << "x"; }
  ASSERT_EQ(0, link(Path("x.img").c_str(), Path("x.hard").c_str()));
  DestinationSet set;
  Status s =
      DestinationSet::Open(Paths({"new.img", "x.img", "x.hard"}), FileIoOptions(), &log_, &set);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("dest=" + Path("x.hard") + ": the same file as dest=" + Path("x.img") +
                "; name each destination once",
            s.message());
  EXPECT_FALSE(Exists(Path("new.img")));  // created, then abandoned
  EXPECT_TRUE(Exists(Path("x.img")));     // there before: left alone
  EXPECT_TRUE(set.empty());
}

TEST_F(DestinationSetTest, TheExportSizeIsSizeElseTheSmallestFixedSize) {
  { std::ofstream(Path("big.img")) << std::string(8192, 'x'); }
  { std::ofstream(Path("small.img")) << std::string(4096, 'x'); }
  DestinationSet set;
  ASSERT_TRUE(
      DestinationSet::Open(Paths({"big.img", "small.img", "new.img"}), FileIoOptions(), &log_, &set)
          .ok());
  EXPECT_TRUE(set.all_seekable());
  EXPECT_EQ(3u, set.identities().size());
  uint64_t size = 0;
  ASSERT_TRUE(set.ExportSize(std::nullopt, &size).ok());
  EXPECT_EQ(4096u, size);
  ASSERT_TRUE(set.ExportSize(65536, &size).ok());
  EXPECT_EQ(65536u, size);
  set.Abandon();
  EXPECT_FALSE(Exists(Path("new.img")));
  EXPECT_TRUE(Exists(Path("big.img")));

  DestinationSet fresh;
  ASSERT_TRUE(DestinationSet::Open(Paths({"a.img"}), FileIoOptions(), &log_, &fresh).ok());
  Status s = fresh.ExportSize(std::nullopt, &size);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("size=: required")) << s.message();
  fresh.Abandon();
}

}  // namespace
}  // namespace fanout
