// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for NbdDestination against a real server: an `nbdkit memory`
// started by each test on a Unix socket (skipped where nbdkit is missing).
// The shell tests (tests/test-nbd-dest-*.sh) run it inside nbdkit with real
// clients; these drive the destination directly, the way the writer and the
// engine's other threads do, so the sanitizers see every path.  Also: telling
// NBD URIs from paths in dest=.

#include "dest/nbd_destination.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "util/test_watchdog.h"
#include "window/buffer_pool.h"

namespace fanout {
namespace {

using namespace testing_support;

TEST(IsNbdUri, Schemes) {
  EXPECT_TRUE(IsNbdUri("nbd://example.com"));
  EXPECT_TRUE(IsNbdUri("nbd://127.0.0.1:10809/export"));
  EXPECT_TRUE(IsNbdUri("nbds://example.com/?tls-certificates=/etc/pki"));
  EXPECT_TRUE(IsNbdUri("nbd+unix:///?socket=/tmp/sock"));
  EXPECT_TRUE(IsNbdUri("nbds+unix:///export?socket=/tmp/sock"));
  EXPECT_TRUE(IsNbdUri("nbd+vsock:///"));
}

TEST(IsNbdUri, Paths) {
  EXPECT_FALSE(IsNbdUri("disk.img"));
  EXPECT_FALSE(IsNbdUri("/dev/nbd0"));
  EXPECT_FALSE(IsNbdUri("nbd.img"));
  EXPECT_FALSE(IsNbdUri("./nbd://x"));       // a path that looks like one
  EXPECT_FALSE(IsNbdUri("nbd:/tmp/x"));      // no ://
  EXPECT_FALSE(IsNbdUri("NBD://host"));      // schemes are lower case
  EXPECT_FALSE(IsNbdUri("nbd dir://host"));  // not a scheme
  EXPECT_FALSE(IsNbdUri("http://host"));
}

constexpr uint64_t kSize = 8 << 20;

// `nbdkit -f -U SOCK memory 8M` for the length of a test.
class NbdDestinationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("nbdkit memory --version >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "nbdkit memory is not installed";
    char dir[] = "/tmp/fanout-nbd-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    sock_ = dir_ + "/sock";
    uri_ = "nbd+unix:///?socket=" + sock_;
    const std::string pidfile = dir_ + "/pid";
    pid_ = fork();
    ASSERT_NE(pid_, -1);
    if (pid_ == 0) {
      // Not the sanitizer runtime the test may have preloaded.
      unsetenv("LD_PRELOAD");
      execlp("nbdkit", "nbdkit", "-f", "-P", pidfile.c_str(), "-U", sock_.c_str(), "memory", "8M",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300; i++) {
      struct stat st;
      if (stat(pidfile.c_str(), &st) == 0 && st.st_size > 0) return;
      usleep(100000);
    }
    FAIL() << "nbdkit did not start";
  }
  void TearDown() override {
    KillServer(SIGTERM);
    if (!dir_.empty()) {
      const std::string rm = "rm -rf " + dir_;
      ASSERT_EQ(system(rm.c_str()), 0);
    }
  }
  void KillServer(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::unique_ptr<Destination> Open() {
    std::unique_ptr<Destination> d;
    Status s = NbdDestination::Probe(uri_, &log_, &d);
    EXPECT_TRUE(s.ok()) << s.message();
    return d;
  }

  // Data extents in pool buffers, filled with a pattern that says where
  // each byte belongs.
  Extent Data(uint64_t offset, uint64_t length, uint8_t seed) {
    auto buf = pool_.Acquire();
    for (uint64_t i = 0; i < length; i++)
      buf->data()[i] = static_cast<uint8_t>((offset + i) * 7 + seed);
    return Extent::Data(offset, length, std::move(buf), 0);
  }

  NullLogger log_;
  BufferPool pool_{1 << 20, 64};
  std::string dir_, sock_, uri_;
  pid_t pid_ = -1;
};

TEST_F(NbdDestinationTest, WritesZeroesReadsAndReadsAfterClose) {
  Watchdog watchdog(seconds(30));
  auto d = Open();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind(), DestinationKind::kNbd);
  EXPECT_EQ(d->fixed_size(), std::optional<uint64_t>(kSize));
  EXPECT_GT(d->queue_depth(), 1u);
  ASSERT_TRUE(d->Prepare(kSize).ok());
  // Before Start(): a read has a connection of its own.
  std::vector<uint8_t> got(kSize);
  ASSERT_TRUE(d->Read(got.data(), 4096, 0).ok());
  EXPECT_EQ(got[0], 0);
  ASSERT_TRUE(d->Start().ok());

  // The whole export in 1 MiB extents, then zero the second half, up to
  // queue_depth() in flight.  A reader and a flusher run meanwhile, as the
  // engine's threads do.
  std::atomic<bool> stop{false};
  std::atomic<int> side_errors{0};
  std::thread side([&] {
    std::vector<uint8_t> b(1 << 20);
    while (!stop) {
      if (!d->Read(b.data(), b.size(), 0).ok()) side_errors++;
      if (!d->Sync().ok()) side_errors++;
    }
  });
  std::vector<Extent> extents;
  for (uint64_t off = 0; off < kSize; off += 1 << 20) extents.push_back(Data(off, 1 << 20, 3));
  extents.push_back(Extent::Zero(kSize / 2, kSize / 2));
  unsigned in_flight = 0;
  std::vector<uint64_t> done;
  uint64_t tag = 0;
  for (size_t i = 0; i < extents.size(); i++) {
    // The zero overlaps the data: wait for everything first, as the
    // writer does.
    const bool overlapping = extents[i].is_zero();
    while (in_flight >= d->queue_depth() || (overlapping && in_flight > 0)) {
      uint64_t failed = 0;
      done.clear();
      Status s = d->Reap(&done, &failed);
      ASSERT_TRUE(s.ok()) << s.message();
      in_flight -= done.size();
    }
    ASSERT_TRUE(d->Submit(extents[i], ++tag).ok());
    in_flight++;
  }
  while (in_flight > 0) {
    uint64_t failed = 0;
    done.clear();
    ASSERT_TRUE(d->Reap(&done, &failed).ok());
    in_flight -= done.size();
  }
  extents.clear();
  stop = true;
  side.join();
  EXPECT_EQ(side_errors.load(), 0);

  ASSERT_TRUE(d->Sync().ok());
  ASSERT_TRUE(d->Read(got.data(), kSize, 0).ok());
  for (uint64_t i = 0; i < kSize; i++) {
    const uint8_t want = i < kSize / 2 ? static_cast<uint8_t>(i * 7 + 3) : 0;
    ASSERT_EQ(got[i], want) << "at " << i;
  }
  // Write/Zero (the synchronous path) too.
  std::vector<uint8_t> small(4096, 0x5A);
  ASSERT_TRUE(d->Write(small.data(), small.size(), kSize / 2).ok());
  ASSERT_TRUE(d->Zero(4096, 0).ok());
  ASSERT_TRUE(d->Close().ok());

  // After Close(): read back through a new connection (verification).
  std::fill(got.begin(), got.end(), 0xEE);
  ASSERT_TRUE(d->Read(got.data(), kSize, 0).ok());
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[4096], static_cast<uint8_t>(4096 * 7 + 3));
  EXPECT_EQ(got[kSize / 2], 0x5A);
  EXPECT_EQ(got[kSize / 2 + 4096], 0);
}

TEST_F(NbdDestinationTest, KilledServerFailsInFlightCommands) {
  Watchdog watchdog(seconds(30));
  auto d = Open();
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->Prepare(kSize).ok());
  ASSERT_TRUE(d->Start().ok());
  uint64_t failed = 0;
  std::vector<uint64_t> done;
  ASSERT_TRUE(d->Submit(Data(0, 1 << 20, 1), 1).ok());
  ASSERT_TRUE(d->Reap(&done, &failed).ok());
  KillServer(SIGKILL);
  // Whatever was in flight or is submitted now completes with an error:
  // nothing waits for a reply.
  Status s;
  for (uint64_t tag = 2; s.ok() && tag < 100; tag++) {
    s = d->Submit(Data(0, 1 << 20, 2), tag);
    if (s.ok()) {
      done.clear();
      s = d->Reap(&done, &failed);
    }
  }
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(uri_ + ": write at offset 0: "), std::string::npos) << s.message();
  std::vector<uint8_t> b(4096);
  EXPECT_FALSE(d->Read(b.data(), b.size(), 0).ok());
  EXPECT_FALSE(d->Sync().ok());
  // And the destination goes without waiting for anything.
  d.reset();
}

TEST_F(NbdDestinationTest, Refusals) {
  std::unique_ptr<Destination> d;
  Status s = NbdDestination::Probe("nbd+unix:///?socket=" + dir_ + "/none", &log_, &d);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("dest=nbd+unix:///?socket=" + dir_ + "/none: cannot connect: ", 0),
            0u)
      << s.message();
  d = Open();
  ASSERT_TRUE(d);
  s = d->Prepare(kSize + 1);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "dest=" + uri_ + ": the server's export holds 8388608 bytes, smaller " +
                             "than the export size 8388609");
  // An unaligned extent on a server without a minimum block size is fine;
  // writing past the end of the export is the server's error, named.
  ASSERT_TRUE(d->Prepare(kSize).ok());
  ASSERT_TRUE(d->Start().ok());
  uint8_t byte = 1;
  EXPECT_TRUE(d->Write(&byte, 1, 12345).ok());
  s = d->Write(&byte, 1, kSize);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind(uri_ + ": write at offset " + std::to_string(kSize) + ": ", 0), 0u)
      << s.message();
  EXPECT_TRUE(d->Close().ok());
}

// A server that accepts the connection (the kernel does, into the listen
// backlog) but never answers the handshake when the writer connects:
// Cancel() (the stall watch) wakes the connect at once, ECANCELED, instead
// of leaving the writer thread blocked for ever.
TEST_F(NbdDestinationTest, CancelWakesAHandshakeThatNeverCompletes) {
  Watchdog watchdog(seconds(20));
  auto d = Open();
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->Prepare(kSize).ok());
  KillServer(SIGTERM);
  unlink(sock_.c_str());
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_NE(listener, -1);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_.size(), sizeof addr.sun_path);
  memcpy(addr.sun_path, sock_.c_str(), sock_.size());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
  ASSERT_EQ(listen(listener, 5), 0);
  std::atomic<bool> started{false};
  Status s;
  std::thread writer([&] {
    started = true;
    s = d->Start();
  });
  while (!started) usleep(1000);
  usleep(200000);  // well inside the handshake
  const auto t0 = std::chrono::steady_clock::now();
  d->Cancel();
  writer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  EXPECT_EQ(s.err(), ECANCELED) << s.message();
  EXPECT_EQ(s.message(), uri_ + ": connecting cancelled");
  d.reset();
  close(listener);
}

}  // namespace
}  // namespace fanout
