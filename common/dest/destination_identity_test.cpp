// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for DestinationIdentity: one identity per storage, whatever its
// name, and which block devices are over a file.

#include "dest/destination_identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace fanout {
namespace {

class DestinationIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/destination_identity_test.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
  }
  void TearDown() override { (void)system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(DestinationIdentityTest, OnlyALoopDeviceHasABackingFile) {
  // (A loop device over a file is covered by tests/test-same-destination.sh:
  // it needs root.)  A file, a FIFO, a character device and a block device
  // that is no loop device are over no file.
  ASSERT_EQ(0, mkfifo(Path("f").c_str(), 0644));
  { std::ofstream(Path("x.img")) << "x"; }
  for (const std::string& p : {Path("x.img"), Path("f"), std::string("/dev/null")}) {
    auto id = IdentityOfPath(p);
    ASSERT_TRUE(id.has_value()) << p;
    EXPECT_FALSE(LoopBackingOf(*id).has_value()) << p;
  }
  // A device number with no sysfs entry at all.
  DestinationIdentity none{DestinationIdentity::What::kBlockDevice, makedev(4095, 1048575), 0};
  EXPECT_FALSE(LoopBackingOf(none).has_value());
}

TEST_F(DestinationIdentityTest, LinksAndSecondDeviceNodesAreTheSameStorage) {
  { std::ofstream(Path("x.img")) << "x"; }
  ASSERT_EQ(0, link(Path("x.img").c_str(), Path("x.hard").c_str()));
  ASSERT_EQ(0, symlink(Path("x.img").c_str(), Path("x.sym").c_str()));
  EXPECT_EQ(IdentityOfPath(Path("x.img")), IdentityOfPath(Path("x.hard")));
  EXPECT_EQ(IdentityOfPath(Path("x.img")), IdentityOfPath(Path("x.sym")));
  EXPECT_EQ(DestinationIdentity::What::kFile, IdentityOfPath(Path("x.img"))->what);
  // A device is the device it is (st_rdev), not its node's inode: a
  // character device stands in for a block device, which needs root.
  struct stat st;
  ASSERT_EQ(0, stat("/dev/null", &st));
  auto null = IdentityOf(st);
  ASSERT_TRUE(null.has_value());
  EXPECT_EQ(DestinationIdentity::What::kCharDevice, null->what);
  EXPECT_EQ(st.st_rdev, null->dev);
  EXPECT_EQ(0u, null->ino);
  EXPECT_STREQ("character device", IdentityName(null->what));
  // What is no destination has no identity.
  EXPECT_FALSE(IdentityOfPath(dir_).has_value());
  EXPECT_FALSE(IdentityOfPath(Path("missing")).has_value());
}

}  // namespace
}  // namespace fanout
