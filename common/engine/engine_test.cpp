// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for the Engine's two-step start, as the tee filter uses it:
// OpenUnsized() checks the destinations before the size is known, Prepare(size) sizes
// them once a client has connected.  Real file destinations in a temporary
// directory.

#include "engine/engine.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "util/logger.h"
#include "util/test_watchdog.h"

namespace fanout {
namespace {

using namespace testing_support;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/engine_test.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
  }
  void TearDown() override { (void)system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  Config FileConfig(const std::vector<std::string>& names) const {
    Config c;
    for (const auto& n : names) c.destinations.push_back({DestinationSpec::Source::kPath, Path(n)});
    return c;
  }
  static bool Exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
  }
  static std::string Contents(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  std::string dir_;
  NullLogger log_;
};

TEST_F(EngineTest, OpenRefusesABadDestinationBeforeTheSizeIsKnown) {
  ASSERT_EQ(0, mkdir(Path("d").c_str(), 0755));
  std::unique_ptr<Engine> e;
  Status s = Engine::OpenUnsized(FileConfig({"a.img", "d"}), &log_, &e);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("dest=" + Path("d") + ": is a directory"))
      << s.message();
  EXPECT_FALSE(Exists(Path("a.img")));  // created, then abandoned
}

TEST_F(EngineTest, OpenThenPrepareWritesTheExport) {
  Watchdog dog(seconds(30));
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(FileConfig({"a.img", "b.img"}), &log_, &e).ok());
  EXPECT_TRUE(e->all_seekable());
  EXPECT_FALSE(e->prepared());

  ASSERT_TRUE(e->Prepare(1 << 20).ok());
  EXPECT_TRUE(e->prepared());
  EXPECT_EQ(uint64_t{1} << 20, e->size());
  // The same size again (a second connection): fine.
  EXPECT_TRUE(e->Prepare(1 << 20).ok());
  // Another size: an error naming both.
  Status s = e->Prepare(2 << 20);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("the export is 2097152 bytes, but the destinations were prepared for 1048576 bytes",
            s.message());

  e->Start();
  e->Start();  // later calls do nothing
  const std::string data(70000, 'x');
  ASSERT_TRUE(e->Write(data.data(), data.size(), 4096).ok());
  ASSERT_TRUE(e->Zero(1000, 5000).ok());
  ASSERT_TRUE(e->Flush().ok());
  ASSERT_TRUE(e->Finish().ok());

  std::string want(1 << 20, '\0');
  want.replace(4096, data.size(), data);
  want.replace(5000, 1000, std::string(1000, '\0'));
  EXPECT_TRUE(Contents(Path("a.img")) == want);
  EXPECT_TRUE(Contents(Path("b.img")) == want);
}

TEST_F(EngineTest, ConnectionsRacingToPrepareAgree) {
  Watchdog dog(seconds(30));
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(FileConfig({"a.img"}), &log_, &e).ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; i++)
    threads.emplace_back([&] {
      if (e->Prepare(65536).ok()) ok++;
      e->Start();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(8, ok.load());
  ASSERT_TRUE(e->Finish().ok());
  EXPECT_EQ(std::string(65536, '\0'), Contents(Path("a.img")));
}

TEST_F(EngineTest, FinishWithoutPrepareLeavesNoTrace) {
  { std::ofstream(Path("old.img")) << "keep me"; }
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(FileConfig({"new.img", "old.img"}), &log_, &e).ok());
  EXPECT_TRUE(Exists(Path("new.img")));
  ASSERT_TRUE(e->Finish().ok());
  EXPECT_FALSE(Exists(Path("new.img")));            // created by Open: removed
  EXPECT_EQ("keep me", Contents(Path("old.img")));  // not sized, not touched
  e.reset();
}

TEST_F(EngineTest, FailedPrepareAbandonsAndRepeatsItsError) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(FileConfig({"a.img"}), &log_, &e).ok());
  // Far beyond any file system's largest file: ftruncate fails (EFBIG).
  Status s = e->Prepare(uint64_t{1} << 62);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("dest=" + Path("a.img") + ": ftruncate"))
      << s.message();
  EXPECT_FALSE(Exists(Path("a.img")));
  Status again = e->Prepare(4096);
  EXPECT_EQ(s.message(), again.message());
  EXPECT_FALSE(e->prepared());
  // The run failed: Finish says so (nbdkit's exit status).
  EXPECT_EQ(s.message(), e->Finish().message());
}

TEST_F(EngineTest, OpenAndSizeSettlesTheSizeAtOnce) {
  Config c = FileConfig({"a.img"});
  c.size = 8192;
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenAndSize(c, &log_, &e).ok());
  EXPECT_TRUE(e->prepared());
  EXPECT_EQ(8192u, e->size());

  std::unique_ptr<Engine> f;
  Status s = Engine::OpenAndSize(FileConfig({"b.img"}), &log_, &f);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.message().find("size=: required")) << s.message();
  EXPECT_FALSE(Exists(Path("b.img")));
}

}  // namespace
}  // namespace fanout
