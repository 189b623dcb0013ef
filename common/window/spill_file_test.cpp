// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for SpillFile: the unlinked sparse file behind spill=DIR.
//
// The contract: Open() refuses, in one line naming spill=, anything that is
// not a directory where an O_TMPFILE file can be made; the file reads back
// what was written at any offset, takes room only for what was written,
// and gives it back on Discard().  (A full DIR is tests/test-spill-enospc.sh.)

#include "window/spill_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fanout {
namespace {

class SpillFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    dir_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/spill_file_test.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir_.data()));
  }
  void TearDown() override {
    unlink((dir_ + "/plain").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(SpillFileTest, OpenLeavesNoNameBehind) {
  std::unique_ptr<SpillFile> f;
  Status s = SpillFile::Open(dir_, &f);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(dir_, f->dir());
  // The directory is still empty: rmdir succeeds with the file open.
  EXPECT_EQ(0, rmdir(dir_.c_str()));
  ASSERT_EQ(0, mkdir(dir_.c_str(), 0700));
}

TEST_F(SpillFileTest, OpenRefusesWhatIsNotAWritableDirectory) {
  std::unique_ptr<SpillFile> f;
  Status s = SpillFile::Open(dir_ + "/missing", &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().find("spill=" + dir_ + "/missing: ")) << s.message();
  EXPECT_EQ(std::string::npos, s.message().find('\n'));

  const std::string plain = dir_ + "/plain";
  const int fd = open(plain.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  s = SpillFile::Open(plain, &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ("spill=" + plain + ": not a directory", s.message());

  s = SpillFile::Open("", &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().find("spill=: ")) << s.message();
  EXPECT_EQ(nullptr, f);
}

TEST_F(SpillFileTest, ReadsBackWhatWasWrittenAtAnyOffset) {
  std::unique_ptr<SpillFile> f;
  ASSERT_TRUE(SpillFile::Open(dir_, &f).ok());
  std::vector<uint8_t> a(5000), b(3);
  for (size_t i = 0; i < a.size(); i++) a[i] = static_cast<uint8_t>(i * 7);
  b = {1, 2, 3};
  const uint64_t far = 1ull << 40;  // a terabyte in: sparse, costs nothing
  ASSERT_TRUE(f->Write(a.data(), a.size(), 12345).ok());
  ASSERT_TRUE(f->Write(b.data(), b.size(), far).ok());
  std::vector<uint8_t> got(a.size());
  ASSERT_TRUE(f->Read(got.data(), got.size(), 12345).ok());
  EXPECT_EQ(a, got);
  got.resize(3);
  ASSERT_TRUE(f->Read(got.data(), 3, far).ok());
  EXPECT_EQ(b, got);
  EXPECT_EQ(a.size() + 3, f->bytes_written());
  EXPECT_EQ(a.size() + 3, f->bytes_read());
  // Beyond the end of the file: the window never asks, and if it did, the
  // bytes would be lost, not zeros.
  Status s = f->Read(got.data(), 3, far + 100);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("spill=" + dir_)) << s.message();
}

TEST_F(SpillFileTest, DiscardGivesTheRoomBack) {
  std::unique_ptr<SpillFile> f;
  ASSERT_TRUE(SpillFile::Open(dir_, &f).ok());
  std::vector<uint8_t> data(4 << 20, 0x5A);
  ASSERT_TRUE(f->Write(data.data(), data.size(), 1 << 20).ok());
  // The descriptor is private; its blocks show in /proc/self/fd.
  int fd = -1;
  for (int i = 3; i < 1024 && fd < 0; i++) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", i);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0 && std::string(target, n).find(dir_) == 0) fd = i;
  }
  ASSERT_GE(fd, 0) << "spill file descriptor not found";
  struct stat st;
  ASSERT_EQ(0, fstat(fd, &st));
  const blkcnt_t before = st.st_blocks;
  EXPECT_GE(before * 512, 4 << 20);
  f->Discard(1 << 20, 4 << 20);
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_LT(st.st_blocks, before / 4) << "no room given back (a filesystem without hole punching?)";
}

}  // namespace
}  // namespace fanout
