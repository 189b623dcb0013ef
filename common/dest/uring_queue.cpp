// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/uring_queue.h"

#include <cerrno>
#include <chrono>
#include <thread>

namespace fanout {

Status UringQueue::Create(unsigned entries, std::unique_ptr<UringQueue>* out) {
  std::unique_ptr<UringQueue> q(new UringQueue());
  const int r = io_uring_queue_init(entries, &q->ring_, 0);
  if (r < 0) return Status::FromErrno("io_uring_queue_init", -r);
  q->initialised_ = true;
  *out = std::move(q);
  return Status::OK();
}

UringQueue::~UringQueue() {
  // A ring that was never set up has nothing to exit: its descriptor field
  // is 0, and exiting it would close whatever descriptor 0 is now.
  if (!initialised_) return;
  // The kernel may still be reading from the callers' buffers.
  if (in_flight_ > 0) {
    (void)io_uring_submit(&ring_);
    while (in_flight_ > 0) {
      struct io_uring_cqe* cqe;
      const int r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR) continue;
      if (r < 0) break;  // the ring is unusable; exiting it cancels the rest
      io_uring_cqe_seen(&ring_, cqe);
      in_flight_--;
    }
  }
  io_uring_queue_exit(&ring_);
}

void UringQueue::Write(int fd, const uint8_t* buf, uint32_t length, uint64_t offset,
                       uint64_t cookie) {
  // The queue has as many slots as the destination's queue depth, and the
  // writer never exceeds it, so a slot is always free.
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_write(sqe, fd, buf, length, offset);
  io_uring_sqe_set_data64(sqe, cookie);
  in_flight_++;
}

Status UringQueue::Submit() {
  for (;;) {
    const int r = io_uring_submit(&ring_);
    if (r >= 0) return Status::OK();
    if (r == -EINTR) continue;
    if (r != -EAGAIN) return Status::FromErrno("io_uring_submit", -r);
    // The kernel is short of memory for requests: wait a little rather
    // than spin.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Status UringQueue::Reap(bool wait, const std::function<void(uint64_t cookie, int result)>& done) {
  struct io_uring_cqe* cqe;
  if (wait) {
    int r;
    do r = io_uring_wait_cqe(&ring_, &cqe);
    while (r == -EINTR);
    if (r < 0) return Status::FromErrno("io_uring_wait_cqe", -r);
  }
  unsigned head, seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    done(io_uring_cqe_get_data64(cqe), cqe->res);
    seen++;
  }
  io_uring_cq_advance(&ring_, seen);
  in_flight_ -= seen;
  return Status::OK();
}

}  // namespace fanout
