// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for FailurePolicy: quorum=, on-error=fail, doomed streams, the
// interruption's refusal, and that each refusal is logged once.  Real
// writers over fake destinations that are never started: a destination
// fails as a failed flush fails it (Writer::FailSync).

#include "pipeline/failure_policy.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "dest/destination.h"
#include "pipeline/bus.h"
#include "pipeline/writer.h"
#include "util/mutex.h"

namespace fanout {
namespace {

// Writes nothing anywhere; seekable like a file, or a stream like a FIFO.
class FakeDestination final : public Destination {
 public:
  FakeDestination(std::string name, bool seekable)
      : Destination(std::move(name)), seekable_(seekable) {}
  DestinationKind kind() const override {
    return seekable_ ? DestinationKind::kFile : DestinationKind::kFifo;
  }
  bool seekable() const override { return seekable_; }
  Status Prepare(uint64_t) override { return Status::OK(); }
  Status Start() override { return Status::OK(); }
  Status Write(const uint8_t*, uint64_t, uint64_t) override { return Status::OK(); }
  Status Zero(uint64_t, uint64_t) override { return Status::OK(); }
  Status Sync() override { return Status::OK(); }
  Status Read(uint8_t*, uint64_t, uint64_t) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }

 private:
  const bool seekable_;
};

// Keeps every error line.
class RecordingLogger final : public Logger {
 public:
  void Error(const std::string& msg) override {
    MutexLock lock(&mu_);
    errors_.push_back(msg);
  }
  void Notice(const std::string&) override {}
  bool DebugEnabled(LogTopic) const override { return false; }
  void Debug(LogTopic, const std::string&) override {}
  std::vector<std::string> errors() const {
    MutexLock lock(&mu_);
    return errors_;
  }

 private:
  mutable Mutex mu_;
  std::vector<std::string> errors_ GUARDED_BY(mu_);
};

class FailurePolicyTest : public ::testing::Test {
 protected:
  // Destinations named by their seekability: "f1" seekable, "s1" a stream.
  void Add(const std::string& name, bool seekable) {
    writers_.push_back(std::make_shared<Writer>(std::make_unique<FakeDestination>(name, seekable),
                                                &bus_, &writer_log_));
  }
  void Fail(size_t i) {
    const std::string& name = writers_[i]->destination()->name();
    writers_[i]->FailSync(Status::IOError(EIO, name + ": fdatasync: Input/output error"));
  }

  NullLogger writer_log_;
  RecordingLogger log_;
  Bus bus_{16};
  std::vector<std::shared_ptr<Writer>> writers_;
};

TEST_F(FailurePolicyTest, QuorumTwoOfThreeHoldsWithOneFailedAndRefusesAtTheSecond) {
  for (const char* n : {"f1", "f2", "f3"}) Add(n, true);
  FailurePolicy policy(FailurePolicy::OnError::kContinue, 2, &writers_, &log_);
  EXPECT_TRUE(policy.Admit().ok());
  Fail(0);
  EXPECT_TRUE(policy.Admit().ok());  // 2 of 3: still the quorum
  EXPECT_FALSE(policy.refused_requests());
  Fail(1);
  Status s = policy.Admit();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(EIO, s.err());
  EXPECT_EQ("refusing requests: 1 of 3 destinations are healthy, fewer than quorum=2", s.message());
  EXPECT_FALSE(policy.Admit().ok());
  EXPECT_TRUE(policy.refused_requests());
  EXPECT_EQ(std::vector<std::string>{s.message()}, log_.errors());  // once, not per request
}

TEST_F(FailurePolicyTest, OnErrorFailRefusesAfterTheFirstFailureAndSaysSoOnce) {
  for (const char* n : {"f1", "f2", "f3"}) Add(n, true);
  FailurePolicy policy(FailurePolicy::OnError::kFail, 1, &writers_, &log_);
  EXPECT_TRUE(policy.Admit().ok());
  Fail(1);
  const std::string want =
      "refusing requests (on-error=fail): destination f2 failed: f2: fdatasync: Input/output error";
  for (int i = 0; i < 5; i++) {
    Status s = policy.Admit();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(want, s.message());
  }
  // A second failure is not logged again; the refusal names the first
  // failed destination in the order they were given.
  Fail(0);
  EXPECT_EQ(
      "refusing requests (on-error=fail): destination f1 failed: f1: fdatasync: "
      "Input/output error",
      policy.Admit().message());
  EXPECT_EQ(std::vector<std::string>{want}, log_.errors());
  EXPECT_TRUE(policy.refused_requests());
}

TEST_F(FailurePolicyTest, ADoomedStreamFailsWhileSeekableDestinationsGoOn) {
  Add("f1", true);
  Add("s1", false);
  Add("f2", true);
  FailurePolicy go_on(FailurePolicy::OnError::kContinue, 2, &writers_, &log_);
  FailurePolicy fail(FailurePolicy::OnError::kFail, 1, &writers_, &log_);
  EXPECT_TRUE(go_on.Admit().ok());
  go_on.DoomStreams();
  EXPECT_TRUE(writers_[0]->healthy());
  EXPECT_FALSE(writers_[1]->healthy());
  EXPECT_TRUE(writers_[2]->healthy());
  // Doomed, not failed yet: its thread has not got there.
  EXPECT_EQ(DestinationState::kWriting, writers_[1]->state());
  EXPECT_TRUE(go_on.Admit().ok());  // two seekable: the quorum
  Status s = fail.Admit();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(
      "refusing requests (on-error=fail): destination s1 failed: a write behind the stream "
      "position",
      s.message());
}

TEST_F(FailurePolicyTest, AnInterruptionRefusesEveryRequestAndKeepsTheFirstReason) {
  Add("f1", true);
  FailurePolicy policy(FailurePolicy::OnError::kContinue, 1, &writers_, &log_);
  EXPECT_FALSE(policy.interrupted());
  EXPECT_EQ("", policy.interrupted_reason());
  EXPECT_TRUE(policy.Interrupt("nbdkit received SIGTERM"));
  EXPECT_FALSE(policy.Interrupt("the --run command failed"));
  EXPECT_TRUE(policy.interrupted());
  EXPECT_EQ("nbdkit received SIGTERM", policy.interrupted_reason());
  const std::string want = "refusing requests: the run was interrupted: nbdkit received SIGTERM";
  EXPECT_EQ(want, policy.Admit().message());
  EXPECT_EQ(want, policy.Admit().message());
  EXPECT_EQ(std::vector<std::string>{want}, log_.errors());
  // Not the policy's refusal: the destinations were healthy.
  EXPECT_FALSE(policy.refused_requests());
}

TEST_F(FailurePolicyTest, AWindowThatLostBytesCountsAsRefused) {
  Add("f1", true);
  FailurePolicy policy(FailurePolicy::OnError::kContinue, 1, &writers_, &log_);
  EXPECT_FALSE(policy.refused_requests());
  policy.NoteWindowRefused();
  EXPECT_TRUE(policy.refused_requests());
  EXPECT_TRUE(policy.Admit().ok());  // the window refuses, not the policy
  EXPECT_TRUE(log_.errors().empty());
}

}  // namespace
}  // namespace fanout
