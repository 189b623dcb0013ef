// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for UringQueue: a refused ring leaves nothing behind (descriptor 0
// above all), and a ring that is set up writes what it is given.  The
// refusal is the kernel's own: io_uring_setup refuses a ring of 0 entries
// with EINVAL, as it refuses one under a seccomp policy with EPERM.

#include "dest/uring_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fanout {
namespace {

// Puts a /dev/null of our own on descriptor 0 for the test's length, and
// puts the original back after.
class OwnStdin {
 public:
  OwnStdin() {
    saved_ = fcntl(0, F_DUPFD_CLOEXEC, 3);
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(fd, 0);
    close(fd);
  }
  ~OwnStdin() {
    if (saved_ >= 0) {
      dup2(saved_, 0);
      close(saved_);
    } else {
      close(0);
    }
  }

 private:
  int saved_;
};

TEST(UringQueueTest, RefusedRingLeavesDescriptorZeroOpen) {
  OwnStdin own;
  ASSERT_NE(-1, fcntl(0, F_GETFD));
  std::unique_ptr<UringQueue> q;
  Status s = UringQueue::Create(0, &q);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(EINVAL, s.err());
  EXPECT_EQ(0u, s.message().rfind("io_uring_queue_init: ", 0)) << s.message();
  EXPECT_EQ(nullptr, q);
  EXPECT_NE(-1, fcntl(0, F_GETFD)) << "descriptor 0 was closed";
}

TEST(UringQueueTest, WritesWhatItIsGiven) {
  const char* tmp = getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/uring_queue_test.XXXXXX";
  const int fd = mkstemp(path.data());
  ASSERT_NE(-1, fd);
  unlink(path.c_str());
  std::unique_ptr<UringQueue> q;
  Status s = UringQueue::Create(4, &q);
  if (!s.ok()) {
    close(fd);
    GTEST_SKIP() << "no io_uring here: " << s.message();
  }
  const std::vector<uint8_t> a(4096, 0xaa), b(512, 0xbb);
  q->Write(fd, a.data(), a.size(), 0, 1);
  q->Write(fd, b.data(), b.size(), 8192, 2);
  ASSERT_TRUE(q->Submit().ok());
  std::vector<std::pair<uint64_t, int>> done;
  while (q->in_flight() > 0)
    ASSERT_TRUE(q->Reap(true, [&](uint64_t c, int r) { done.emplace_back(c, r); }).ok());
  ASSERT_EQ(2u, done.size());
  for (const auto& [cookie, result] : done)
    EXPECT_EQ(cookie == 1 ? 4096 : 512, result) << "cookie " << cookie;
  std::vector<uint8_t> back(8192 + 512);
  ASSERT_EQ(static_cast<ssize_t>(back.size()), pread(fd, back.data(), back.size(), 0));
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 4096), a);
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 4096, back.begin() + 8192),
            std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 8192, back.end()), b);
  q.reset();
  close(fd);
}

}  // namespace
}  // namespace fanout
