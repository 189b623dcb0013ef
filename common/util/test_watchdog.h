// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Bounded waits for the threaded unit tests: a test that hangs fails (the
// binary aborts naming it) instead of blocking `make check` for ever.
#ifndef FANOUT_UTIL_TEST_WATCHDOG_H
#define FANOUT_UTIL_TEST_WATCHDOG_H

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "util/mutex.h"

namespace fanout {
namespace testing_support {

using std::chrono::milliseconds;
using std::chrono::seconds;

// How long a test waits for something that should happen; a hang fails.
constexpr seconds kTimeout{5};
// How long a test watches something that should not happen (stay blocked).
constexpr milliseconds kStillBlocked{100};

// Aborts the binary if a test hangs, so a deadlock fails `make check`
// instead of blocking it forever.
class Watchdog {
 public:
  explicit Watchdog(seconds limit)
      : name_(CurrentTestName()), thread_([this, limit] {
          MutexLock lock(&mu_);
          if (!cv_.WaitFor(&mu_, limit, [this]() REQUIRES(mu_) { return done_; })) {
            std::fprintf(stderr, "%s hung for %llds; aborting\n", name_.c_str(),
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      MutexLock lock(&mu_);
      done_ = true;
    }
    cv_.Signal();
    thread_.join();
  }

 private:
  static std::string CurrentTestName() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  }

  const std::string name_;
  Mutex mu_;
  CondVar cv_;
  bool done_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Runs fn on its own thread; the test waits for it with a deadline.  A
// thread still blocked when the test ends (it has failed by then) cannot be
// joined nor left running over the test's objects: abort at once rather
// than wait for the watchdog.
class Background {
 public:
  explicit Background(std::function<void()> fn)
      : done_(promise_.get_future()), thread_([this, fn] {
          fn();
          promise_.set_value();
        }) {}
  ~Background() {
    if (!WaitFor(kTimeout)) {
      std::fprintf(stderr, "a thread of this test is still blocked; aborting\n");
      std::abort();
    }
    thread_.join();
  }
  bool WaitFor(milliseconds d) { return done_.wait_for(d) == std::future_status::ready; }
  bool Finished() { return WaitFor(milliseconds(0)); }

 private:
  std::promise<void> promise_;
  std::future<void> done_;
  std::thread thread_;
};

}  // namespace testing_support
}  // namespace fanout

#endif  // FANOUT_UTIL_TEST_WATCHDOG_H
