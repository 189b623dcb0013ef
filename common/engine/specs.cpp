// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "engine/specs.h"

#include <unistd.h>

#include <algorithm>

namespace fanout {

FileIoOptions FileIoOf(const Config& config) {
  FileIoOptions io;
  io.uring = config.io == Config::Io::kUring;
  io.drop_cache = config.cache == Config::Cache::kNone;
  io.direct = config.direct;
  return io;
}

FailurePolicy::OnError OnErrorOf(const Config& config) {
  return config.on_error == Config::OnError::kFail ? FailurePolicy::OnError::kFail
                                                   : FailurePolicy::OnError::kContinue;
}

ImageIntegrity::Spec IntegritySpecOf(const Config& config, uint64_t size, bool ordered) {
  ImageIntegrity::Spec spec;
  spec.size = size;
  spec.verify = config.verify;
  spec.repair = config.repair;
  spec.sha256 = config.sha256;
  spec.ordered = ordered;
  return spec;
}

WindowConfig PlanWindow(const Config& config, uint64_t size, bool ordered, bool spill) {
  WindowConfig wc;
  wc.size = size;
  wc.window = config.window;
  wc.chunk = config.bucket;
  wc.ordered = ordered;
  wc.ahead = config.ahead;
  wc.max_open_chunks = std::max<uint64_t>(1, config.window / config.bucket);
  if (spill) {
    // Ordered, the window spills; unordered, nothing needs holding, so
    // fewer chunks stay open.
    wc.spill = true;
    wc.spill_memory = config.spill_memory;
    wc.max_open_chunks = std::min<uint64_t>(
        wc.max_open_chunks, std::max<uint64_t>(1, config.spill_memory / config.bucket));
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) wc.memory_hint = static_cast<uint64_t>(pages) * page_size;
  return wc;
}

size_t PoolBuffers(const Config& config, const WindowConfig& window) {
  // With spill, MaxChunks() is the resident chunks, not window / bucket.
  return Window::MaxChunks(window) + config.buckets;
}

std::string DescribePlan(const Config& config, const WindowConfig& wc, size_t destinations) {
  return "size " + std::to_string(wc.size) + ", " + std::to_string(destinations) +
         " destinations, " + (wc.ordered ? "ordered (window)" : "unordered") + ", pool of " +
         std::to_string(PoolBuffers(config, wc)) + " x " + std::to_string(config.bucket) +
         " bytes" +
         (wc.spill && wc.ordered ? ", spilling to " + config.spill_dir + " beyond " +
                                       std::to_string(Window::ResidentChunks(wc)) + " chunks and " +
                                       std::to_string(Window::AheadMemory(wc)) + " parked bytes"
                                 : "");
}

}  // namespace fanout
