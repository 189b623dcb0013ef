// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// The status file's JSON, the summary table and the progress line, from
// hand-made snapshots.
#include "report/status_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/progress.h"
#include "report/summary.h"

namespace fanout {
namespace {

Snapshot TwoDestinations() {
  Snapshot s;
  s.size = 256 << 20;
  s.committed = 128 << 20;
  s.state = RunState::kFinished;
  s.elapsed = 2.5;
  DestinationSnapshot ok;
  ok.name = "ok.img";
  ok.kind = DestinationKind::kFile;
  ok.state = DestinationState::kDone;
  ok.bytes = 256 << 20;
  ok.seconds = 2.0;
  ok.rate = ok.bytes / 2.0;
  DestinationSnapshot cmd;
  cmd.name = "cmd=head -c 10M; exit 3";
  cmd.kind = DestinationKind::kCommand;
  cmd.state = DestinationState::kFailed;
  cmd.bytes = 10 << 20;
  cmd.seconds = 0.5;
  cmd.failure = Failure{EPIPE, 10 << 20, "cmd=head -c 10M; exit 3: write: Broken pipe"};
  cmd.exit_status = 3;
  s.destinations = {ok, cmd};
  return s;
}

TEST(StatusFileTest, JsonHasTheFixedKeys) {
  const nlohmann::json j = nlohmann::json::parse(StatusJson(TwoDestinations()));
  EXPECT_EQ(1, j["schema"]);
  EXPECT_EQ(PACKAGE_VERSION, j["version"]);
  EXPECT_EQ(256 << 20, j["size"]);
  EXPECT_EQ(128 << 20, j["committed"]);
  EXPECT_EQ("finished", j["state"]);
  EXPECT_DOUBLE_EQ(2.5, j["elapsed"].get<double>());
  EXPECT_EQ(false, j["refused_requests"]);
  ASSERT_EQ(2u, j["destinations"].size());
  const auto& ok = j["destinations"][0];
  EXPECT_EQ("ok.img", ok["name"]);
  EXPECT_EQ("file", ok["kind"]);
  EXPECT_EQ("done", ok["state"]);
  EXPECT_EQ(256 << 20, ok["bytes"]);
  EXPECT_TRUE(ok["error"].is_null());
  EXPECT_TRUE(ok["exit_status"].is_null());
  EXPECT_TRUE(ok.contains("rate"));
  const auto& cmd = j["destinations"][1];
  EXPECT_EQ("command", cmd["kind"]);
  EXPECT_EQ("failed", cmd["state"]);
  EXPECT_EQ("EPIPE", cmd["errno"]);
  EXPECT_EQ(10 << 20, cmd["offset"]);
  EXPECT_EQ(3, cmd["exit_status"]);
  EXPECT_NE(std::string::npos, cmd["error"].get<std::string>().find("Broken pipe"));
}

TEST(StatusFileTest, WriteReplacesTheFileAndLeavesNoTemporary) {
  char dir[] = "/tmp/fanout-status-test.XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir));
  const std::string path = std::string(dir) + "/s.json";
  {
    std::ofstream old(path);
    old << "old contents";
  }
  ASSERT_TRUE(WriteStatusFile(path, TwoDestinations()).ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ("finished", nlohmann::json::parse(text.str())["state"]);
  EXPECT_NE(0, access(StatusTempPath(path).c_str(), F_OK));
  EXPECT_EQ(std::string(dir) + "/.s.json.tmp", StatusTempPath(path));
  unlink(path.c_str());
  rmdir(dir);
}

TEST(StatusFileTest, UnwritableDirectoryIsAnErrorNamingTheParameter) {
  Status s = WriteStatusFile("/nonexistent-dir/s.json", TwoDestinations());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("status=")) << s.message();
}

TEST(SummaryTest, OneLinePerDestinationAndTotals) {
  const std::vector<std::string> lines = SummaryLines(TwoDestinations());
  ASSERT_EQ(4u, lines.size());  // header, two destinations, totals
  EXPECT_NE(std::string::npos, lines[1].find("ok.img"));
  EXPECT_NE(std::string::npos, lines[1].find("done"));
  EXPECT_NE(std::string::npos, lines[2].find("failed"));
  EXPECT_NE(std::string::npos, lines[2].find("Broken pipe"));
  EXPECT_NE(std::string::npos, lines[3].find("1 of 2 destinations done")) << lines[3];
  EXPECT_NE(std::string::npos, lines[3].find("1 failed")) << lines[3];
}

TEST(SummaryTest, ColumnsLineUpAsPrintedAndLongNamesAreCut) {
  Snapshot s = TwoDestinations();
  s.destinations[1].name = "cmd=" + std::string(60, 'x');
  // The tee filter prints cmd=X as tee-cmd=X.
  auto spelled = [](const std::string& name) {
    return name.rfind("cmd=", 0) == 0 ? "tee-" + name : name;
  };
  const std::vector<std::string> lines = SummaryLines(s, spelled);
  const size_t kind = lines[0].find("kind");
  ASSERT_NE(std::string::npos, kind);
  EXPECT_EQ(kind, lines[1].find("file")) << lines[1];
  EXPECT_EQ(kind, lines[2].find("command")) << lines[2];
  EXPECT_EQ(0u, lines[2].find("tee-cmd=xxx")) << lines[2];
  EXPECT_EQ(kind - 5, lines[2].find("... ")) << lines[2];
  // The name column is as wide as the widest name as printed.
  const size_t state = lines[0].find("state");
  EXPECT_EQ(state, lines[2].find("failed")) << lines[2];
}

TEST(ProgressTest, LineShowsBarBytesRateAndState) {
  Snapshot s = TwoDestinations();
  DestinationSnapshot d = s.destinations[0];
  d.state = DestinationState::kWriting;
  d.bytes = 64 << 20;
  d.rate = 32e6;
  const std::string line = ProgressDisplay::Line(d, s.size, 120);
  EXPECT_NE(std::string::npos, line.find("ok.img")) << line;
  EXPECT_NE(std::string::npos, line.find(" 25%")) << line;
  EXPECT_NE(std::string::npos, line.find("64.0 MiB of 256.0 MiB")) << line;
  EXPECT_NE(std::string::npos, line.find("32.0 MB/s")) << line;
  EXPECT_NE(std::string::npos, line.find("ETA")) << line;
  const std::string failed = ProgressDisplay::Line(s.destinations[1], s.size, 120);
  EXPECT_NE(std::string::npos, failed.find("failed: cmd=head")) << failed;
}

// verify=: a verified and a mismatched destination, and the image's digest.
Snapshot Verified() {
  Snapshot s = TwoDestinations();
  s.destinations[0].state = DestinationState::kVerified;
  s.destinations[0].verified_bytes = 256 << 20;
  DestinationSnapshot& bad = s.destinations[1];
  bad.name = "bad.img";
  bad.kind = DestinationKind::kFile;
  bad.state = DestinationState::kMismatch;
  bad.exit_status.reset();
  bad.verified_bytes = 130 << 20;
  bad.failure =
      Failure{EIO, 130 << 20,
              "bad.img: verify: differs from the image in the 4 KiB page at offset 136314880"};
  s.sha256 = "776f607285a3d1b93d6b8ad5d63754f8b1ee81dc7c080f5eab4949428859a521";
  return s;
}

TEST(StatusFileTest, VerifyStatesAndTheDigest) {
  const nlohmann::json j = nlohmann::json::parse(StatusJson(Verified()));
  EXPECT_EQ("776f607285a3d1b93d6b8ad5d63754f8b1ee81dc7c080f5eab4949428859a521", j["sha256"]);
  EXPECT_TRUE(j["sha256_unavailable"].is_null());
  EXPECT_EQ("verified", j["destinations"][0]["state"]);
  EXPECT_EQ(256 << 20, j["destinations"][0]["verified_bytes"]);
  EXPECT_EQ("mismatch", j["destinations"][1]["state"]);
  EXPECT_EQ(130 << 20, j["destinations"][1]["offset"]);
  EXPECT_EQ(1u, Verified().failed());

  Snapshot none = TwoDestinations();
  none.sha256_unavailable = "a write behind the stream position changed bytes already hashed";
  const nlohmann::json k = nlohmann::json::parse(StatusJson(none));
  EXPECT_TRUE(k["sha256"].is_null());
  EXPECT_TRUE(k["destinations"][0]["verified_bytes"].is_null());
  EXPECT_NE(std::string::npos, k["sha256_unavailable"].get<std::string>().find("behind"));
}

// An interrupted run: its state and reason, incomplete destinations counted
// as failures, and the heartbeat (pid, updated, last_write).
TEST(StatusFileTest, InterruptedRunAndHeartbeat) {
  Snapshot s = TwoDestinations();
  s.state = RunState::kInterrupted;
  s.interrupted_reason = "nbdkit received SIGTERM while 1 client was connected";
  s.destinations[0].state = DestinationState::kIncomplete;
  s.destinations[0].failure = Failure{
      EINTR, 4096, "ok.img: incomplete, nbdkit received SIGTERM while 1 client was connected"};
  s.pid = 4242;
  s.updated = 1764622201.5;
  s.sha256_unavailable =
      "the run was interrupted: nbdkit received SIGTERM while 1 client was connected";
  const nlohmann::json j = nlohmann::json::parse(StatusJson(s));
  EXPECT_EQ("interrupted", j["state"]);
  EXPECT_EQ(s.interrupted_reason, j["interrupted"]);
  EXPECT_EQ(4242, j["pid"]);
  EXPECT_DOUBLE_EQ(1764622201.5, j["updated"].get<double>());
  EXPECT_TRUE(j["last_write"].is_null());
  EXPECT_EQ("incomplete", j["destinations"][0]["state"]);
  EXPECT_EQ("EINTR", j["destinations"][0]["errno"]);
  EXPECT_TRUE(j["sha256"].is_null());
  EXPECT_EQ(2u, s.failed());  // incomplete and failed
  s.last_write = 1764622200.25;
  EXPECT_DOUBLE_EQ(1764622200.25, nlohmann::json::parse(StatusJson(s))["last_write"].get<double>());

  bool said = false;
  for (const std::string& line : SummaryLines(s))
    if (line == "interrupted: " + s.interrupted_reason) said = true;
  EXPECT_TRUE(said);

  const nlohmann::json running = nlohmann::json::parse(StatusJson(TwoDestinations()));
  EXPECT_TRUE(running["interrupted"].is_null());
}

TEST(SummaryTest, VerifiedCountsAsDoneMismatchAsFailedAndTheDigestIsPrinted) {
  const std::vector<std::string> lines = SummaryLines(Verified());
  ASSERT_EQ(5u, lines.size());
  EXPECT_NE(std::string::npos, lines[1].find("verified")) << lines[1];
  EXPECT_NE(std::string::npos, lines[2].find("mismatch")) << lines[2];
  EXPECT_NE(std::string::npos, lines[3].find("1 of 2 destinations done, 1 failed")) << lines[3];
  EXPECT_EQ("sha256 776f607285a3d1b93d6b8ad5d63754f8b1ee81dc7c080f5eab4949428859a521", lines[4]);
}

TEST(ProgressTest, VerifyingCountsTheBytesReadBack) {
  DestinationSnapshot d = Verified().destinations[0];
  d.state = DestinationState::kVerifying;
  d.verified_bytes = 64 << 20;
  const std::string line = ProgressDisplay::Line(d, 256 << 20, 120);
  EXPECT_NE(std::string::npos, line.find(" 25%")) << line;
  EXPECT_NE(std::string::npos, line.find("verifying")) << line;
}

// CheckStatusFile: a temporary directory with one file in it, the
// "destination" the status file must not destroy.
class CheckStatusFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/fanout-status-check.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(d));
    dir_ = d;
    dest_ = dir_ + "/x.img";
    std::ofstream(dest_) << "image";
    taken_.push_back({"dest=" + dest_, *IdentityOfPath(dest_)});
  }
  void TearDown() override {
    unlink(dest_.c_str());
    rmdir(dir_.c_str());
  }
  std::string Refusal(const std::string& path) {
    Status s = CheckStatusFile(path, taken_);
    return s.ok() ? "" : s.message();
  }
  std::string dir_, dest_;
  std::vector<NamedIdentity> taken_;
};

TEST_F(CheckStatusFileTest, AcceptsANewFileAndLeavesNothingBehind) {
  EXPECT_EQ("", Refusal(dir_ + "/s.json"));
  EXPECT_NE(0, access((dir_ + "/.s.json.tmp").c_str(), F_OK));
  EXPECT_NE(0, access((dir_ + "/s.json").c_str(), F_OK));
}

TEST_F(CheckStatusFileTest, RefusesADestinationByAnyName) {
  EXPECT_EQ("status=" + dest_ + ": the same file as dest=" + dest_ +
                "; the status file would overwrite it",
            Refusal(dest_));
  const std::string hard = dir_ + "/hard.img";
  ASSERT_EQ(0, link(dest_.c_str(), hard.c_str()));
  EXPECT_NE(std::string::npos, Refusal(hard).find("the same file as dest=")) << Refusal(hard);
  unlink(hard.c_str());
}

TEST_F(CheckStatusFileTest, RefusesADestinationThatIsItsTemporaryFile) {
  const std::string tmp = dir_ + "/.s.json.tmp";
  ASSERT_EQ(0, rename(dest_.c_str(), tmp.c_str()));
  taken_[0] = {"dest=" + tmp, *IdentityOfPath(tmp)};
  EXPECT_NE(std::string::npos,
            Refusal(dir_ + "/s.json")
                .find("its temporary file " + tmp + " is the same file as dest=" + tmp))
      << Refusal(dir_ + "/s.json");
  // The destination is left as it was.
  std::ifstream in(tmp);
  std::string text;
  in >> text;
  EXPECT_EQ("image", text);
  ASSERT_EQ(0, rename(tmp.c_str(), dest_.c_str()));
}

TEST_F(CheckStatusFileTest, RefusesDirectoriesMissingDirectoriesAndDevices) {
  EXPECT_EQ("status=" + dir_ + ": is a directory; give the file to write", Refusal(dir_));
  EXPECT_EQ("status=" + dir_ + "/missing/s.json: the directory " + dir_ + "/missing does not exist",
            Refusal(dir_ + "/missing/s.json"));
  EXPECT_NE(std::string::npos, Refusal("/dev/null").find("status=/dev/null: is a character device"))
      << Refusal("/dev/null");
}

}  // namespace
}  // namespace fanout
