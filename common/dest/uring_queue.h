// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// UringQueue: one io_uring (liburing) for one destination's writes, so its
// writer thread keeps several writes in flight instead of waiting for each
// pwrite in turn.
//
// The queue only moves bytes: the caller keeps the memory and the file
// descriptor valid until the write's completion is reaped, and handles short
// writes and errors (see FileDestination::Submit).
//
// Not thread-safe: one thread (the writer) queues, submits and reaps.  The
// destructor waits for writes still in flight, so their memory may be freed
// after it returns.
//
// Where the kernel refuses a ring (io_uring disabled by sysctl, a seccomp
// policy such as Docker's default one, an old kernel, the locked-memory
// limit), Create() fails and leaves nothing behind: in particular no ring
// is ever exited that was not set up, since exiting a zeroed ring closes
// descriptor 0.
#ifndef FANOUT_DEST_URING_QUEUE_H
#define FANOUT_DEST_URING_QUEUE_H

#include <liburing.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "util/status.h"

namespace fanout {

class UringQueue {
 public:
  // A queue of `entries` slots, or the reason there is none (ENOSYS, EPERM,
  // ENOMEM for the locked-memory limit, ...).
  static Status Create(unsigned entries, std::unique_ptr<UringQueue>* out);
  ~UringQueue();
  UringQueue(const UringQueue&) = delete;
  UringQueue& operator=(const UringQueue&) = delete;

  // Queues a pwrite of buf[0, length) at offset; `cookie` comes back with
  // its completion.  REQUIRES: in_flight() < entries, length < 2^32.
  void Write(int fd, const uint8_t* buf, uint32_t length, uint64_t offset, uint64_t cookie);
  // Hands what was queued to the kernel.
  Status Submit();
  // Calls done(cookie, result) for every completion there is, where result
  // is the byte count or -errno.  With wait, first waits (sleeping) until
  // there is at least one.
  Status Reap(bool wait, const std::function<void(uint64_t cookie, int result)>& done);

  unsigned in_flight() const { return in_flight_; }

 private:
  UringQueue() = default;
  struct io_uring ring_ = {};
  bool initialised_ = false;  // io_uring_queue_init succeeded on ring_
  unsigned in_flight_ = 0;    // queued or submitted, not yet reaped
};

}  // namespace fanout

#endif  // FANOUT_DEST_URING_QUEUE_H
