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
// Satisfies BasicLockable (std::lock_guard works).  Thread-safe.
#ifndef FANOUT_UTIL_TICKET_LOCK_H
#define FANOUT_UTIL_TICKET_LOCK_H

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace fanout {

class TicketLock {
 public:
  TicketLock() = default;
  TicketLock(const TicketLock&) = delete;
  TicketLock& operator=(const TicketLock&) = delete;

  void lock() {
    std::unique_lock<std::mutex> guard(mu_);
    const uint64_t mine = next_++;
    std::condition_variable& turn = turns_[mine % kTurns];
    turn.wait(guard, [&] { return serving_ == mine; });
  }

  void unlock() {
    uint64_t next;
    {
      std::lock_guard<std::mutex> guard(mu_);
      next = ++serving_;
    }
    // Wake only the holder of the next ticket (and whoever shares its
    // condition variable, kTurns tickets away): waking every waiter on each
    // release cost a context switch per waiter per request.
    turns_[next % kTurns].notify_all();
  }

 private:
  // More than nbdkit ever has threads waiting at once; a collision only
  // means a spurious wake-up.
  static constexpr size_t kTurns = 64;

  std::mutex mu_;
  std::condition_variable turns_[kTurns];
  uint64_t next_ = 0;     // GUARDED_BY(mu_): the next ticket to hand out
  uint64_t serving_ = 0;  // GUARDED_BY(mu_): the ticket that holds the lock
};

}  // namespace fanout

#endif  // FANOUT_UTIL_TICKET_LOCK_H
