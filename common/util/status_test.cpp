// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for Status: a failure is never OK, and the two conventions between
// the engine's layers have predicates.

#include "util/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace fanout {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(0, s.err());
  EXPECT_FALSE(s.not_ready());
  EXPECT_FALSE(s.not_supported());
}

TEST(StatusTest, IOErrorKeepsItsErrnoAndMessage) {
  Status s = Status::IOError(ENOSPC, "a.img: write at offset 0: No space left on device");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ENOSPC, s.err());
  EXPECT_EQ("a.img: write at offset 0: No space left on device", s.message());
}

// errno 0 would make a failure that ok() calls success: it is EIO.
TEST(StatusTest, IOErrorWithErrnoZeroIsNeverOk) {
  Status s = Status::IOError(0, "lost errno");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(EIO, s.err());
  EXPECT_EQ("lost errno", s.message());
  Status f = Status::FromErrno("context", 0);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(EIO, f.err());
}

TEST(StatusTest, NotReadyIsEagainOnly) {
  EXPECT_TRUE(Status::IOError(EAGAIN, "fifo: no reader has opened the FIFO").not_ready());
  EXPECT_FALSE(Status::IOError(EAGAIN, "x").not_supported());
  EXPECT_FALSE(Status::IOError(EIO, "x").not_ready());
  EXPECT_FALSE(Status::InvalidArgument("x").not_ready());
}

TEST(StatusTest, NotSupportedIsEnotsupOrEopnotsupp) {
  EXPECT_TRUE(Status::IOError(ENOTSUP, "cmd: cannot be read back").not_supported());
  EXPECT_TRUE(Status::IOError(EOPNOTSUPP, "x").not_supported());
  EXPECT_FALSE(Status::IOError(ENOTSUP, "x").not_ready());
  EXPECT_FALSE(Status::IOError(ENOSYS, "x").not_supported());
}

}  // namespace
}  // namespace fanout
