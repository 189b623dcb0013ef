// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for Writeback (cache=none): it writes back and drops what it is
// told was written, and an error from sync_file_range is kept: returned by
// that call and every later one, naming the destination and the range,
// with the range's offset.  The error here is the kernel's own ESPIPE for
// a pipe (a device's EIO is tests/test-dest-block-eio.sh).

#include "dest/writeback.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace fanout {
namespace {

TEST(WritebackTest, FileWritesBackWithoutError) {
  const char* tmp = getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/writeback_test.XXXXXX";
  const int fd = mkstemp(path.data());
  ASSERT_NE(-1, fd);
  unlink(path.c_str());
  Writeback wb(fd, "f.img");
  const std::vector<uint8_t> block(1 << 20, 0x5a);
  // Three chunks and a half: writeback started, waited for and dropped.
  for (uint64_t off = 0; off < 3 * Writeback::kChunk + Writeback::kChunk / 2; off += block.size()) {
    ASSERT_EQ(static_cast<ssize_t>(block.size()), pwrite(fd, block.data(), block.size(), off));
    Status s = wb.Wrote(off, block.size());
    ASSERT_TRUE(s.ok()) << s.message();
  }
  Status s = wb.Finish();
  EXPECT_TRUE(s.ok()) << s.message();
  close(fd);
}

TEST(WritebackTest, AnErrorIsKeptAndNamesTheRange) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  Writeback wb(p[1], "dest.img");
  // Below a chunk nothing is synced yet.
  ASSERT_TRUE(wb.Wrote(1 << 20, Writeback::kChunk - 4096).ok());
  // The chunk is complete: its writeback starts, and the pipe refuses it.
  Status s = wb.Wrote(0, 4096);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ESPIPE, s.err());
  EXPECT_EQ("dest.img: write-back (cache=none) of " +
                std::to_string(Writeback::kChunk - 4096 + (1 << 20)) +
                " bytes at offset 0: Illegal seek",
            s.message());
  ASSERT_TRUE(s.offset().has_value());
  EXPECT_EQ(0u, *s.offset());
  // Kept: every later call says the same.
  Status again = wb.Wrote(5 * Writeback::kChunk, 4096);
  EXPECT_EQ(s.err(), again.err());
  EXPECT_EQ(s.message(), again.message());
  Status finish = wb.Finish();
  EXPECT_EQ(s.err(), finish.err());
  EXPECT_EQ(s.message(), finish.message());
  EXPECT_EQ(s.offset(), finish.offset());
  close(p[0]);
  close(p[1]);
}

TEST(WritebackTest, FinishReportsAnErrorOfItsOwn) {
  int p[2];
  ASSERT_EQ(0, pipe(p));
  Writeback wb(p[1], "d");
  ASSERT_TRUE(wb.Wrote(8192, 4096).ok());
  Status s = wb.Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ESPIPE, s.err());
  EXPECT_EQ("d: write-back (cache=none) of 4096 bytes at offset 8192: Illegal seek", s.message());
  EXPECT_EQ(8192u, s.offset().value_or(0));
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace fanout
