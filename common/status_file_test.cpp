// The status file's JSON, the summary table and the progress line, from
// hand-made snapshots.
#include "status_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "progress.h"
#include "summary.h"

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
  EXPECT_NE(0, access((path + ".tmp").c_str(), F_OK));
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
  bad.failure = Failure{EIO, 130 << 20,
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
  s.destinations[0].failure =
      Failure{EINTR, 4096, "ok.img: incomplete, nbdkit received SIGTERM while 1 client was connected"};
  s.pid = 4242;
  s.updated = 1764622201.5;
  s.sha256_unavailable = "the run was interrupted: nbdkit received SIGTERM while 1 client was connected";
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

}  // namespace
}  // namespace fanout
