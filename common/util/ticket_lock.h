// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// TicketLock: a mutex that admits waiters in the order they arrived.
//
// The engine's lock is held while the window commits, which can block on
// back-pressure for a long time, and every other request queues behind it.
// std::mutex lets any waiter win when it is released, so under load one
// request can lose again and again while the client keeps its other slots
// busy with newer ones: the distance between the oldest and newest request
// in flight then grows without bound, and a stream window of any size can
// be overrun.  Taking turns keeps the writes the window sees as close to
// the client's order as nbdkit's threads delivered them.
//
// A capability for the thread-safety analysis (thread_annotations.h):
// members it protects are GUARDED_BY it, and TicketLockGuard holds it for a
// scope.  Also satisfies BasicLockable (std::lock_guard works, but the
// analysis cannot see through it).  Thread-safe.
#ifndef FANOUT_UTIL_TICKET_LOCK_H
#define FANOUT_UTIL_TICKET_LOCK_H

#include <cstddef>
#include <cstdint>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace fanout {

class CAPABILITY("mutex") TicketLock {
 public:
  TicketLock() = default;
  TicketLock(const TicketLock&) = delete;
  TicketLock& operator=(const TicketLock&) = delete;

  void Lock() ACQUIRE() {
    MutexLock guard(&mu_);
    const uint64_t mine = next_++;
    turns_[mine % kTurns].Wait(&mu_, [&]() REQUIRES(mu_) { return serving_ == mine; });
  }

  void Unlock() RELEASE() {
    uint64_t next;
    {
      MutexLock guard(&mu_);
      next = ++serving_;
    }
    // Wake only the holder of the next ticket (and whoever shares its
    // condition variable, kTurns tickets away): waking every waiter on each
    // release cost a context switch per waiter per request.
    turns_[next % kTurns].SignalAll();
  }

  // BasicLockable.
  void lock() ACQUIRE() { Lock(); }
  void unlock() RELEASE() { Unlock(); }

 private:
  // More than nbdkit ever has threads waiting at once; a collision only
  // means a spurious wake-up.
  static constexpr size_t kTurns = 64;

  Mutex mu_;
  CondVar turns_[kTurns];
  uint64_t next_ GUARDED_BY(mu_) = 0;     // the next ticket to hand out
  uint64_t serving_ GUARDED_BY(mu_) = 0;  // the ticket that holds the lock
};

// Holds a TicketLock from construction to destruction.
class SCOPED_CAPABILITY TicketLockGuard {
 public:
  explicit TicketLockGuard(TicketLock* lock) ACQUIRE(lock) : lock_(lock) { lock_->Lock(); }
  ~TicketLockGuard() RELEASE() { lock_->Unlock(); }
  TicketLockGuard(const TicketLockGuard&) = delete;
  TicketLockGuard& operator=(const TicketLockGuard&) = delete;

 private:
  TicketLock* const lock_;
};

}  // namespace fanout

#endif  // FANOUT_UTIL_TICKET_LOCK_H
