// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// BufferPool: a fixed number of page-aligned buffers of one size (the bucket).
//
// This is the memory bound of the whole engine.  The window's chunks and the
// extents travelling on the bus all live in pool buffers, so the engine never
// holds more than max_buffers × buffer_size bytes of client data, however
// large the image and however slow a destination.  When every buffer is in
// use, Acquire() blocks: that is the back-pressure that reaches the client.
//
// Buffers are handed out as std::shared_ptr<Buffer>; the last reference to go
// (the window, or the last destination writer to finish with an extent)
// returns the buffer to the pool.  The pool's state is itself shared, so a
// buffer may outlive the BufferPool object.
//
// Thread-safe.
#ifndef FANOUT_WINDOW_BUFFER_POOL_H
#define FANOUT_WINDOW_BUFFER_POOL_H

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "util/rounding.h"

namespace fanout {

// A page-aligned block of memory owned by a pool.  Aligned so that a later
// O_DIRECT writer can use it as it is.
class Buffer {
 public:
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  friend class BufferPool;
  explicit Buffer(size_t size);
  uint8_t* data_;
  size_t size_;
};

class BufferPool {
 public:
  static constexpr size_t kAlignment = kPageSize;

  // REQUIRES: buffer_size > 0, max_buffers > 0.
  BufferPool(size_t buffer_size, size_t max_buffers);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Returns a buffer, blocking while all max_buffers are in use.  Its
  // contents are unspecified.
  std::shared_ptr<Buffer> Acquire();
  // Calls fn every kWaitingInterval while Acquire() waits, without the
  // pool's lock: the bus lets go of a destination that holds the buffers
  // (lag=).  Call before the first Acquire().
  static constexpr std::chrono::milliseconds kWaitingInterval{25};
  void set_while_waiting(std::function<void()> fn) { while_waiting_ = std::move(fn); }

  size_t buffer_size() const { return buffer_size_; }
  size_t max_buffers() const { return max_buffers_; }
  // Buffers handed out now, and the most ever handed out at once.
  size_t in_use() const;
  size_t peak_in_use() const;

 private:
  struct State;
  const size_t buffer_size_;
  const size_t max_buffers_;
  std::shared_ptr<State> state_;
  std::function<void()> while_waiting_;
};

}  // namespace fanout

#endif  // FANOUT_WINDOW_BUFFER_POOL_H
