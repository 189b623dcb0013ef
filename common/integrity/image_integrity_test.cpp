// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for ImageIntegrity on its own: committed extents, then the end of
// the stream, give the image's SHA-256 (hashed while written, or read back
// from a destination); a destination that does not hold the image is
// reported; and when no SHA-256 can be known, the reason says why.  Real
// file destinations in a temporary directory, written by real writers
// from a bus, as the engine does, without the engine.

#include "integrity/image_integrity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dest/destination_set.h"
#include "pipeline/bus.h"
#include "pipeline/writer.h"
#include "util/test_watchdog.h"
#include "window/buffer_pool.h"

namespace fanout {
namespace {

using namespace testing_support;

class ImageIntegrityTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 256 << 10;

  void SetUp() override {
    char dir[] = "/tmp/image_integrity_test.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
  }
  void TearDown() override {
    for (auto& w : writers_)
      if (!joined_) w->Join();
    (void)system(("rm -rf '" + dir_ + "'").c_str());
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Opens a.img and b.img as the engine does, starts their writers and the
  // integrity under spec (its size is kSize).
  void Begin(ImageIntegrity::Spec spec) {
    std::vector<DestinationSpec> specs = {{DestinationSpec::Source::kPath, Path("a.img")},
                                          {DestinationSpec::Source::kPath, Path("b.img")}};
    DestinationSet set;
    ASSERT_TRUE(DestinationSet::Open(specs, FileIoOptions(), &log_, &set).ok());
    ASSERT_TRUE(set.Prepare(kSize).ok());
    for (auto& d : set.Take())
      writers_.push_back(std::make_shared<Writer>(std::move(d), &bus_, &log_));
    spec.size = kSize;
    integrity_ = std::make_unique<ImageIntegrity>(spec, &writers_, &bus_, &log_);
    for (auto& w : writers_) w->Start();
    integrity_->Start();
  }
  // Commits length bytes of fill at offset, as the engine's sink does.
  void CommitData(uint64_t offset, uint64_t length, uint8_t fill) {
    auto buf = pool_.Acquire();
    std::memset(buf->data(), fill, length);
    std::memset(image_.data() + offset, fill, length);
    Commit(Extent::Data(offset, length, std::move(buf), 0));
  }
  void CommitZero(uint64_t offset, uint64_t length) {
    std::memset(image_.data() + offset, 0, length);
    Commit(Extent::Zero(offset, length));
  }
  void Commit(Extent e) {
    integrity_->Committed(e, bus_.last_published() + 1);
    bus_.Publish(std::move(e));
  }
  // The end of the stream up to the writers' end, as Engine::Finish does.
  void EndStream() {
    integrity_->StreamEnding(image_.size());
    integrity_->AllCommitted();
    bus_.Close();
    for (auto& w : writers_) w->Join();
    joined_ = true;
  }
  std::string ImageSha256() {
    Sha256 sha;
    sha.Update(image_.data(), image_.size());
    return sha.FinalHex();
  }
  // A byte of the file, changed behind the run's back.
  void Corrupt(const std::string& name, uint64_t offset) {
    const int fd = open(Path(name).c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const uint8_t bad = 0xBD;
    ASSERT_EQ(1, pwrite(fd, &bad, 1, offset));
    ASSERT_EQ(0, fsync(fd));
    close(fd);
  }

  Watchdog watchdog_{seconds(30)};
  std::string dir_;
  NullLogger log_;
  BufferPool pool_{64 << 10, 64};
  Bus bus_{1024};
  std::vector<std::shared_ptr<Writer>> writers_;
  std::unique_ptr<ImageIntegrity> integrity_;
  std::vector<uint8_t> image_ = std::vector<uint8_t>(kSize, 0);
  bool joined_ = false;
};

TEST_F(ImageIntegrityTest, CommitsInAnyOrderGiveTheImagesSha256) {
  Begin({.sha256 = true});
  // Out of order, so the follower reads [64 KiB, 128 KiB) back.
  CommitData(64 << 10, 64 << 10, 2);
  CommitData(0, 64 << 10, 1);
  CommitZero(128 << 10, 64 << 10);
  CommitData(192 << 10, 64 << 10, 3);
  EndStream();
  integrity_->Finish();
  const IntegrityReport r = integrity_->Report();
  ASSERT_TRUE(r.sha256.has_value()) << r.sha256_unavailable;
  EXPECT_EQ(ImageSha256(), *r.sha256);
  EXPECT_EQ("", r.sha256_unavailable);
  EXPECT_TRUE(r.verdicts.empty());  // without verify=, nothing was read back at the end
  EXPECT_FALSE(r.verifying);
}

TEST_F(ImageIntegrityTest, VerifyReportsTheDestinationThatDoesNotHoldTheImage) {
  Begin({.verify = true, .sha256 = true});
  for (uint64_t off = 0; off < kSize; off += 64 << 10)
    CommitData(off, 64 << 10, uint8_t(off >> 16));
  EndStream();
  Corrupt("b.img", 70000);
  integrity_->Finish();
  const IntegrityReport r = integrity_->Report();
  EXPECT_TRUE(r.verifying);
  ASSERT_EQ(2u, r.verdicts.size());
  EXPECT_EQ(0u, r.verdicts[0].index);
  EXPECT_EQ(DestinationState::kVerified, r.verdicts[0].state);
  EXPECT_EQ(kSize, r.verdicts[0].verified_bytes);
  EXPECT_FALSE(r.verdicts[0].failure.has_value());
  EXPECT_EQ(1u, r.verdicts[1].index);
  EXPECT_EQ(DestinationState::kMismatch, r.verdicts[1].state);
  ASSERT_TRUE(r.verdicts[1].failure.has_value());
  EXPECT_EQ(70000u / 4096 * 4096, r.verdicts[1].failure->offset);
  // Hashed while written, in order: the image's, whatever b holds now.
  ASSERT_TRUE(r.sha256.has_value());
  EXPECT_EQ(ImageSha256(), *r.sha256);
}

TEST_F(ImageIntegrityTest, ADigestThatWentStaleIsReadBackFromADestinationThatHoldsTheImage) {
  Begin({.verify = true, .sha256 = true, .ordered = true});
  for (uint64_t off = 0; off < kSize; off += 64 << 10) CommitData(off, 64 << 10, 7);
  CommitData(4096, 4096, 8);  // behind the prefix: the follower gives up
  EndStream();
  Corrupt("a.img", 0);
  integrity_->Finish();
  const IntegrityReport r = integrity_->Report();
  ASSERT_EQ(2u, r.verdicts.size());
  EXPECT_EQ(DestinationState::kMismatch, r.verdicts[0].state);
  EXPECT_EQ(DestinationState::kVerified, r.verdicts[1].state);
  ASSERT_TRUE(r.sha256.has_value()) << r.sha256_unavailable;
  EXPECT_EQ(ImageSha256(), *r.sha256);
}

TEST_F(ImageIntegrityTest, WithoutVerifyAStaleDigestHasNoSha256AndSaysWhy) {
  Begin({.sha256 = true, .ordered = true});
  CommitData(0, 64 << 10, 1);
  CommitData(0, 4096, 2);
  CommitZero(64 << 10, kSize - (64 << 10));
  EndStream();
  integrity_->Finish();
  const IntegrityReport r = integrity_->Report();
  EXPECT_FALSE(r.sha256.has_value());
  EXPECT_EQ(
      "a write behind the stream position changed bytes already hashed (verify=true reads "
      "the digest back from a verified destination)",
      r.sha256_unavailable);
}

TEST_F(ImageIntegrityTest, NoSha256WhenEveryDestinationFailedOrNoneWasAskedFor) {
  Begin({.sha256 = true});
  CommitData(0, 64 << 10, 1);
  for (auto& w : writers_) w->FailSync(Status::IOError(EIO, "x: fdatasync: Input/output error"));
  EndStream();
  integrity_->Finish();
  IntegrityReport r = integrity_->Report();
  EXPECT_FALSE(r.sha256.has_value());
  EXPECT_EQ("no destination holds the image (every one failed)", r.sha256_unavailable);

  ImageIntegrity none({.size = kSize}, &writers_, &bus_, &log_);
  none.Finish();
  r = none.Report();
  EXPECT_FALSE(r.sha256.has_value());
  EXPECT_EQ("not computed (sha256=false)", r.sha256_unavailable);
}

TEST_F(ImageIntegrityTest, AWithdrawnDigestIsNotReported) {
  Begin({.sha256 = true});
  CommitData(0, 64 << 10, 1);
  CommitZero(64 << 10, kSize - (64 << 10));
  EndStream();
  integrity_->Finish();
  ASSERT_TRUE(integrity_->Report().sha256.has_value());
  integrity_->WithdrawDigest("the run was interrupted: nbdkit received SIGTERM");
  const IntegrityReport r = integrity_->Report();
  EXPECT_FALSE(r.sha256.has_value());
  EXPECT_EQ("the run was interrupted: nbdkit received SIGTERM", r.sha256_unavailable);
}

}  // namespace
}  // namespace fanout
