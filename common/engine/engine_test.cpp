// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for the Engine's two-step start, as the tee filter uses it:
// OpenUnsized() checks the destinations before the size is known, Prepare(size) sizes
// them once a client has connected.  Real file destinations in a temporary
// directory.

#include "engine/engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "integrity/sha256.h"
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

namespace fanout {
namespace {

// detect-zeroes=: writes whose pages are zeros (whole, half, unaligned
// runs, over data written before) against a byte model: the files end as
// the model, the image's digest of its written part is reported, and a
// zero page written as data leaves a hole.
TEST_F(EngineTest, DetectZeroesAgainstAModel) {
  Watchdog dog(seconds(60));
  constexpr uint64_t kSize = 8 << 20;
  Config c = FileConfig({"a.img", "b.img"});
  ASSERT_TRUE(c.detect_zeroes);
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(c, &log_, &e).ok());
  ASSERT_TRUE(e->Prepare(kSize).ok());
  e->Start();
  std::string model(kSize, '\0');
  std::mt19937 rng(11);
  auto write = [&](uint64_t offset, const std::string& bytes) {
    ASSERT_TRUE(e->Write(bytes.data(), bytes.size(), offset).ok());
    model.replace(offset, bytes.size(), bytes);
  };
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng() | 1);
    return s;
  };
  // Data, then zeros written as data over it: they must overwrite.
  write(0, random_bytes(1 << 20));
  write(64 << 10, std::string(256 << 10, '\0'));
  // A page that is half zeros, and an unaligned run of zeros.
  write(2 << 20, std::string(2048, '\0') + random_bytes(2048));
  write((2 << 20) + 1000, std::string(8000, '\0'));
  for (int i = 0; i < 300; i++) {
    const uint64_t off = rng() % (kSize - 65536);
    const size_t n = 1 + rng() % 65536;
    std::string bytes = rng() % 2 ? random_bytes(n) : std::string(n, '\0');
    if (rng() % 3 == 0) bytes[rng() % n] = 'x';  // zeros but for one byte
    write(off, bytes);
  }
  // A whole region written as zeros, which must end as a hole.
  write(6 << 20, std::string(1 << 20, '\0'));
  ASSERT_TRUE(e->Flush().ok());
  std::string got(kSize, '\0');
  ASSERT_TRUE(e->Read(got.data(), kSize, 0).ok());
  EXPECT_TRUE(got == model);
  ASSERT_TRUE(e->Finish().ok());
  EXPECT_TRUE(Contents(Path("a.img")) == model);
  EXPECT_TRUE(Contents(Path("b.img")) == model);
  const Snapshot snap = e->TakeSnapshot();
  EXPECT_GE(snap.image_bytes, uint64_t{7} << 20);
  EXPECT_LE(snap.image_bytes, kSize);
  for (const DestinationSnapshot& d : snap.destinations) {
    EXPECT_GT(d.zero_bytes, uint64_t{1} << 20) << d.name;
    EXPECT_EQ(d.bytes, d.data_bytes + d.zero_bytes + d.skipped_bytes) << d.name;
    EXPECT_EQ(d.skipped_bytes, 0u);
  }
  // Files on tmpfs and most file systems punch holes: the zero megabyte
  // holds no blocks (SEEK_DATA finds none in it).
  const int fd = open(Path("a.img").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  const off_t data = lseek(fd, 6 << 20, SEEK_DATA);
  close(fd);
  EXPECT_TRUE(data == -1 || data >= (7 << 20)) << data;
}

// image_bytes and image_sha256: the image is the client's writes, not the
// export; its digest covers exactly [0, image_bytes).
TEST_F(EngineTest, ImageDigestCoversTheWrittenPart) {
  Watchdog dog(seconds(60));
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::OpenUnsized(FileConfig({"a.img"}), &log_, &e).ok());
  ASSERT_TRUE(e->Prepare(4 << 20).ok());
  e->Start();
  const std::string data(1000005, 'q');
  ASSERT_TRUE(e->Write(data.data(), data.size(), 0).ok());
  ASSERT_TRUE(e->Finish().ok());
  const Snapshot snap = e->TakeSnapshot();
  EXPECT_EQ(snap.image_bytes, data.size());
  ASSERT_TRUE(snap.image_sha256.has_value());
  Sha256 want;
  want.Update(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  EXPECT_EQ(*snap.image_sha256, want.FinalHex());
  ASSERT_TRUE(snap.sha256.has_value());
  EXPECT_NE(*snap.sha256, *snap.image_sha256);
}

}  // namespace
}  // namespace fanout
