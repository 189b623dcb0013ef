// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for Writer's pipeline: several extents in flight on an asynchronous
// destination, completions in any order, the bus told in order, overlapping
// extents never in flight together, and an operation's failure reported at
// its own offset.

#include "pipeline/writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "dest/destination.h"
#include "pipeline/bus.h"
#include "util/test_watchdog.h"
#include "window/buffer_pool.h"
#include "window/extent.h"

namespace fanout {
namespace {

using namespace testing_support;

// A seekable destination in memory whose operations complete only when
// reaped, newest first: the most hostile order an io_uring or an NBD
// server could choose.  Checks the writer's promises as it goes.
class ReorderingDestination final : public Destination {
 public:
  ReorderingDestination(uint64_t size, unsigned depth)
      : Destination("reordering"), image_(size, 0xEE), depth_(depth) {}

  DestinationKind kind() const override { return DestinationKind::kFile; }
  bool seekable() const override { return true; }
  unsigned queue_depth() const override { return depth_; }

  Status Prepare(uint64_t) override { return Status::OK(); }
  Status Start() override { return Status::OK(); }
  Status Write(const uint8_t*, uint64_t, uint64_t) override { return Unexpected(); }
  Status Zero(uint64_t, uint64_t) override { return Unexpected(); }
  Status Sync() override { return Status::OK(); }
  Status Read(uint8_t*, uint64_t, uint64_t) override { return Unexpected(); }
  Status Close() override { return Status::OK(); }

  Status Submit(const Extent& e, uint64_t tag) override {
    for (const Pending& p : pending_)
      if (p.extent.offset < e.end() && e.offset < p.extent.end()) overlapped_ = true;
    pending_.push_back(Pending{e, tag});
    max_in_flight_ = std::max(max_in_flight_, pending_.size());
    return Status::OK();
  }

  Status Reap(std::vector<uint64_t>* done, uint64_t* failed) override {
    if (pending_.empty()) return Status::OK();
    // Complete everything in flight, newest first.
    while (!pending_.empty()) {
      Pending p = pending_.back();
      pending_.pop_back();
      if (fail_at_ && p.extent.offset == *fail_at_) {
        *failed = p.tag;
        pending_.clear();
        return Status::IOError(EIO, "reordering: injected error");
      }
      if (p.extent.is_zero())
        std::fill_n(image_.begin() + p.extent.offset, p.extent.length, 0);
      else
        std::memcpy(image_.data() + p.extent.offset, p.extent.bytes(), p.extent.length);
      done->push_back(p.tag);
    }
    return Status::OK();
  }

  const std::vector<uint8_t>& image() const { return image_; }
  size_t max_in_flight() const { return max_in_flight_; }
  bool overlapped() const { return overlapped_; }
  void FailAt(uint64_t offset) { fail_at_ = offset; }

 private:
  struct Pending {
    Extent extent;
    uint64_t tag;
  };
  Status Unexpected() { return Status::IOError(EINVAL, "reordering: synchronous call"); }

  std::vector<uint8_t> image_;
  const unsigned depth_;
  std::vector<Pending> pending_;
  size_t max_in_flight_ = 0;
  bool overlapped_ = false;
  std::optional<uint64_t> fail_at_;
};

class WriterTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 1 << 20;
  static constexpr size_t kBuf = 64 << 10;

  // Publishes a data extent of `length` bytes of `fill` at offset.
  void PublishData(uint64_t offset, uint64_t length, uint8_t fill) {
    auto buf = pool_.Acquire();
    std::memset(buf->data(), fill, length);
    std::fill_n(expected_.begin() + offset, length, fill);
    bus_.Publish(Extent::Data(offset, length, std::move(buf), 0));
  }
  void PublishZero(uint64_t offset, uint64_t length) {
    std::fill_n(expected_.begin() + offset, length, 0);
    bus_.Publish(Extent::Zero(offset, length));
  }

  NullLogger log_;
  BufferPool pool_{kBuf, 256};  // room for every extent a test publishes
  Bus bus_{1024};
  std::vector<uint8_t> expected_ = std::vector<uint8_t>(kSize, 0xEE);

 private:
  Watchdog watchdog_{seconds(30)};
};

TEST_F(WriterTest, KeepsSeveralInFlightAndNeverOverlapping) {
  auto owned = std::make_unique<ReorderingDestination>(kSize, 8);
  ReorderingDestination* dest = owned.get();
  Writer writer(std::move(owned), &bus_, &log_);

  std::mt19937 rng(7);
  // Disjoint extents first (they may all be in flight), then rewrites and
  // zeros over them (each must wait for what it overlaps).
  for (uint64_t off = 0; off < kSize / 2; off += 16384) PublishData(off, 16384, uint8_t(off >> 14));
  for (int i = 0; i < 200; i++) {
    const uint64_t len = 512 * (1 + rng() % 64);
    const uint64_t off = 512 * (rng() % ((kSize - len) / 512));
    if (i % 5 == 0)
      PublishZero(off, len);
    else
      PublishData(off, len, uint8_t(i));
  }
  bus_.Close();
  writer.Start();
  writer.Join();

  EXPECT_EQ(writer.state(), DestinationState::kDone);
  EXPECT_FALSE(dest->overlapped());
  EXPECT_GT(dest->max_in_flight(), 1u);
  EXPECT_LE(dest->max_in_flight(), 8u);
  EXPECT_TRUE(dest->image() == expected_) << "the image differs from the extents applied in order";
}

TEST_F(WriterTest, AnOperationsErrorFailsAtItsOffset) {
  auto owned = std::make_unique<ReorderingDestination>(kSize, 4);
  ReorderingDestination* dest = owned.get();
  dest->FailAt(3 * 16384);
  Writer writer(std::move(owned), &bus_, &log_);
  for (uint64_t off = 0; off < 8 * 16384; off += 16384) PublishData(off, 16384, 1);
  bus_.Close();
  writer.Start();
  writer.Join();

  EXPECT_EQ(writer.state(), DestinationState::kFailed);
  const Failure f = writer.failure();
  EXPECT_EQ(f.err, EIO);
  EXPECT_EQ(f.offset, 3u * 16384);
  EXPECT_NE(f.message.find("injected error"), std::string::npos) << f.message;
  // Detached: the bus no longer waits for this writer.
  bus_.WaitApplied(bus_.last_published());
}

// A flush whose sync fails (another thread) fails the destination for good:
// the bus stops waiting for it, and its own end of stream does not turn it
// back into "done".
TEST_F(WriterTest, AFailedSyncFailsTheDestination) {
  auto owned = std::make_unique<ReorderingDestination>(kSize, 1);
  Writer writer(std::move(owned), &bus_, &log_);
  writer.Start();
  PublishData(0, 16384, 1);
  bus_.WaitApplied(bus_.last_published());
  writer.FailSync(Status::IOError(EIO, "reordering: fdatasync: Input/output error"));
  EXPECT_FALSE(writer.healthy());
  // Detached: publishing more never waits for it.
  for (uint64_t off = 16384; off < 32 * 16384; off += 16384) PublishData(off, 16384, 2);
  bus_.WaitApplied(bus_.last_published());
  bus_.Close();
  writer.Join();
  EXPECT_EQ(writer.state(), DestinationState::kFailed);
  EXPECT_EQ(writer.failure().err, EIO);
  EXPECT_NE(writer.failure().message.find("fdatasync"), std::string::npos);
  // A second failure does not replace the first.
  writer.FailSync(Status::IOError(ENOSPC, "later"));
  EXPECT_EQ(writer.failure().err, EIO);
}

// An interrupted writer stops taking extents, leaves the bus at once (a
// producer blocked on it is released) and ends incomplete, never done, even
// once the bus is closed as at an ordinary end.
TEST_F(WriterTest, AnInterruptedWriterEndsIncomplete) {
  auto owned = std::make_unique<ReorderingDestination>(kSize, 2);
  Writer writer(std::move(owned), &bus_, &log_);
  writer.Start();
  PublishData(0, 16384, 1);
  bus_.WaitApplied(bus_.last_published());
  writer.Interrupt("nbdkit received SIGTERM while 1 client was connected");
  EXPECT_TRUE(writer.interrupted());
  for (uint64_t off = 16384; off < 32 * 16384; off += 16384) PublishData(off, 16384, 2);
  bus_.WaitApplied(bus_.last_published());
  bus_.Close();
  writer.Join();
  EXPECT_EQ(writer.state(), DestinationState::kIncomplete);
  EXPECT_EQ(writer.failure().err, EINTR);
  EXPECT_NE(writer.failure().message.find("reordering: incomplete, nbdkit received SIGTERM"),
            std::string::npos)
      << writer.failure().message;
  // A second interruption changes nothing.
  writer.Interrupt("later");
  EXPECT_EQ(writer.failure().message.find("later"), std::string::npos);
}

}  // namespace
}  // namespace fanout
