// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable
// with the annotations Clang's thread-safety analysis needs
// (thread_annotations.h).  libstdc++'s own types carry none, so a member
// GUARDED_BY a std::mutex could never be checked.
//
//   Mutex mu_;
//   CondVar changed_;
//   int count_ GUARDED_BY(mu_) = 0;
//
//   MutexLock lock(&mu_);
//   changed_.Wait(&mu_, [&]() REQUIRES(mu_) { return count_ > 0; });
//
// A predicate reads guarded state, so it is a lambda annotated
// REQUIRES(the mutex): the analysis then checks its body as if the lock
// were held, which it is whenever the condition variable calls it.
//
// Thread-safe, as the std types are.
#ifndef FANOUT_UTIL_MUTEX_H
#define FANOUT_UTIL_MUTEX_H

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "util/thread_annotations.h"

namespace fanout {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

  // Tells the analysis the caller holds the lock, where it cannot follow
  // (std::mutex cannot say who holds it, so nothing is checked at run
  // time).
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction.  Unlock() and Lock()
// let it go for a while in between (say, around a slow call), and the
// destructor releases it only if it is held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// A condition variable waited on with a Mutex held.  Each wait takes the
// Mutex it releases while it sleeps, so the analysis checks the caller
// holds it; waits with a predicate return once it is true (or, timed, once
// the time is up: they return the predicate's last value).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }

  template <class Predicate>
  void Wait(Mutex* mu, Predicate ready) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, std::move(ready));
    lock.release();
  }

  template <class Rep, class Period, class Predicate>
  bool WaitFor(Mutex* mu, const std::chrono::duration<Rep, Period>& timeout, Predicate ready)
      REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool result = cv_.wait_for(lock, timeout, std::move(ready));
    lock.release();
    return result;
  }

  template <class Clock, class Duration, class Predicate>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline,
                 Predicate ready) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool result = cv_.wait_until(lock, deadline, std::move(ready));
    lock.release();
    return result;
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace fanout

#endif  // FANOUT_UTIL_MUTEX_H
