// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/buffer_pool.h"

#include <sys/mman.h>

#include <cassert>
#include <cstdlib>
#include <new>

#include "util/mutex.h"

namespace fanout {

namespace {
constexpr size_t kHugePage = 2 << 20;
}  // namespace

Buffer::Buffer(size_t size) : size_(size) {
  void* p = nullptr;
  const bool huge = size % kHugePage == 0;
  if (posix_memalign(&p, huge ? kHugePage : BufferPool::kAlignment, size) != 0)
    throw std::bad_alloc();
  if (huge) madvise(p, size, MADV_HUGEPAGE);
  data_ = static_cast<uint8_t*>(p);
}

Buffer::~Buffer() {
  free(data_);
}

struct BufferPool::State {
  Mutex mu;
  CondVar returned;
  std::vector<std::unique_ptr<Buffer>> free GUARDED_BY(mu);
  size_t in_use GUARDED_BY(mu) = 0;
  size_t peak GUARDED_BY(mu) = 0;
};

BufferPool::BufferPool(size_t buffer_size, size_t max_buffers)
    : buffer_size_(buffer_size), max_buffers_(max_buffers), state_(std::make_shared<State>()) {
  assert(buffer_size > 0 && max_buffers > 0);
}

std::shared_ptr<Buffer> BufferPool::Acquire() {
  std::unique_ptr<Buffer> buf;
  {
    MutexLock lock(&state_->mu);
    const auto free = [&]() REQUIRES(state_->mu) { return state_->in_use < max_buffers_; };
    if (!while_waiting_) {
      state_->returned.Wait(&state_->mu, free);
    } else {
      while (!state_->returned.WaitFor(&state_->mu, kWaitingInterval, free)) {
        lock.Unlock();
        while_waiting_();
        lock.Lock();
      }
    }
    state_->in_use++;
    if (state_->in_use > state_->peak) state_->peak = state_->in_use;
    if (!state_->free.empty()) {
      buf = std::move(state_->free.back());
      state_->free.pop_back();
    }
  }
  // Allocate outside the lock: a 16 MiB allocation faults in pages lazily,
  // but posix_memalign itself can still take a while.
  if (!buf) buf.reset(new Buffer(buffer_size_));
  // The deleter returns the buffer to the free list; it holds the pool state
  // alive, not the pool.
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<Buffer>(buf.release(), [state](Buffer* b) {
    std::unique_ptr<Buffer> owned(b);
    {
      MutexLock lock(&state->mu);
      state->free.push_back(std::move(owned));
      state->in_use--;
    }
    state->returned.Signal();
  });
}

size_t BufferPool::in_use() const {
  MutexLock lock(&state_->mu);
  return state_->in_use;
}

size_t BufferPool::peak_in_use() const {
  MutexLock lock(&state_->mu);
  return state_->peak;
}

}  // namespace fanout
