#include "window/buffer_pool.h"

#include <cassert>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

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

Buffer::~Buffer() { free(data_); }

struct BufferPool::State {
  std::mutex mu;
  std::condition_variable returned;
  std::vector<std::unique_ptr<Buffer>> free;  // GUARDED_BY(mu)
  size_t in_use = 0;                          // GUARDED_BY(mu)
  size_t peak = 0;                            // GUARDED_BY(mu)
};

BufferPool::BufferPool(size_t buffer_size, size_t max_buffers)
    : buffer_size_(buffer_size), max_buffers_(max_buffers), state_(std::make_shared<State>()) {
  assert(buffer_size > 0 && max_buffers > 0);
}

std::shared_ptr<Buffer> BufferPool::Acquire() {
  std::unique_ptr<Buffer> buf;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->returned.wait(lock, [&] { return state_->in_use < max_buffers_; });
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
      std::lock_guard<std::mutex> lock(state->mu);
      state->free.push_back(std::move(owned));
      state->in_use--;
    }
    state->returned.notify_one();
  });
}

size_t BufferPool::in_use() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->in_use;
}

size_t BufferPool::peak_in_use() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->peak;
}

}  // namespace fanout
