// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Seekable destinations on a file descriptor: a regular file or a block
// device.
//
// Written one of two ways (io=): with io_uring, keeping up to kQueueDepth
// writes in flight through the writer's Submit/Reap calls (uring_queue.h),
// or with one pwrite at a time.  The ring is created by the writer thread in
// Start(); where the kernel refuses it the destination writes with pwrite,
// and says so once in the debug log.
//
// direct=true writes through a second descriptor opened with O_DIRECT: the
// 4096-aligned middle of each extent goes there straight from the pool
// buffer (page-aligned, see buffer_pool.h), its ragged ends (and anything
// whose memory is not aligned) through the ordinary descriptor.  Linux
// writes back and invalidates cached pages before a direct write over
// them, so the two never disagree.  Reads and syncs use the ordinary one.
//
// cache=none drops what is written from the page cache as it goes
// (writeback.h).
//
// Thread-safety: as destination.h says.  Sync() and Read() may run on any
// thread while the writer writes; they touch only the ordinary descriptor
// and the (thread-safe) Writeback.
#ifndef FANOUT_DEST_FILE_DESTINATION_H
#define FANOUT_DEST_FILE_DESTINATION_H

#include <sys/stat.h>

#include <map>
#include <memory>
#include <vector>

#include "dest/destination.h"
#include "dest/uring_queue.h"
#include "dest/writeback.h"
#include "util/mutex.h"

namespace fanout {

class FileDestination final : public Destination {
 public:
  // Writes in flight per destination with io=uring.  Each holds one pool
  // buffer (the same buffers for every destination), so more would not
  // help: the pool has buckets= buffers beyond the window.
  static constexpr unsigned kQueueDepth = 4;
  static constexpr unsigned kQueueDepthDropCache = 2;
  // O_DIRECT alignment of offsets, lengths and memory.  A page suits every
  // logical block size up to a page.
  static constexpr uint64_t kDirectAlignment = kPageSize;

  // Takes ownership of fd, opened read-write.  st is its fstat.  path:
  // name made absolute, for reopening after nbdkit has changed directory.
  // log, if given, outlives the destination (the io=uring fallback).
  FileDestination(std::string name, std::string path, int fd, const struct stat& st, bool existed,
                  const FileIoOptions& io = FileIoOptions(), Logger* log = nullptr);
  ~FileDestination() override;

  // direct=true: opens the O_DIRECT descriptor, or says in one line why the
  // file cannot have one.  Config time.
  Status OpenDirect();

  DestinationKind kind() const override {
    return block_ ? DestinationKind::kBlock : DestinationKind::kFile;
  }
  bool seekable() const override { return true; }
  std::optional<uint64_t> fixed_size() const override;
  std::optional<DestinationIdentity> identity() const override { return identity_; }
  // Sectors written and discarded by the disk the writes go to (its
  // /sys/dev/block/MAJ:MIN/stat), so a long final sync onto a slow disk
  // is progress to the stall watch.  Other writers to the same disk move
  // it too: a stuck destination on a busy disk is then not told stalled.
  uint64_t kernel_progress() const override;

  void Abandon() override;
  Status Prepare(uint64_t export_size) override;
  Status Start() override;
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Zero(uint64_t length, uint64_t offset) override;
  unsigned queue_depth() const override {
    // cache=none: every write in flight is dirty pages that Writeback has
    // not seen yet; two keep a destination below about 2 chunks dirty.
    return ring_ ? (writeback_ ? kQueueDepthDropCache : kQueueDepth) : 1;
  }
  Status Submit(const Extent& extent, uint64_t tag) override;
  Status Reap(std::vector<uint64_t>* done, uint64_t* failed) override;
  Status Sync() override;
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Close() override;
  Status OpenReadBack(std::unique_ptr<ReadBack>* out) override;

 private:
  // A data write split for O_DIRECT: head and tail bytes go through the
  // page cache, the middle through the direct descriptor (when there is
  // one; otherwise the whole write is the middle, on fd_).
  struct Split {
    uint64_t head, middle, tail;
  };
  Split SplitForDirect(const uint8_t* buf, uint64_t length, uint64_t offset) const;
  int middle_fd() const { return direct_fd_ >= 0 ? direct_fd_ : fd_; }
  // Writes the head and tail of a split write synchronously.
  Status WriteEnds(const uint8_t* buf, uint64_t length, uint64_t offset, const Split& split);
  // One write in the ring: the extent (whose buffer it keeps alive) and
  // how much of its middle is still to be written.
  struct Op {
    Extent extent;
    int fd;
    const uint8_t* data;
    uint64_t offset;
    uint64_t remaining;
  };
  void Queue(uint64_t tag, const Op& op);
  Status SubmitToRing(const Extent& extent, uint64_t tag);
  Status ZeroBlock(uint64_t length, uint64_t offset);
  // Waits for the ring's writes (a close or a failure).
  void DrainRing();
  // [offset, offset + length) is written (not yet synced).
  void NoteWritten(uint64_t offset, uint64_t length);

  const std::string path_;
  int fd_;
  int direct_fd_ = -1;
  // Read()'s own descriptor of the same open file, closed only with the
  // destination: reads go on after Close() (a laggard catching up from this
  // destination once it is done, lag=) and never see fd_ closed under them.
  int read_fd_ = -1;
  const bool block_;
  std::string disk_stat_path_;  // empty: no disk to watch (kernel_progress)
  const bool existed_;
  const std::optional<DestinationIdentity> identity_;
  const FileIoOptions io_;
  Logger* const log_;
  uint64_t device_size_ = 0;  // block devices, and existing files
  // Zeroing methods switch themselves off on the first EOPNOTSUPP; only the
  // writer thread touches them.
  bool can_punch_hole_ = true;
  bool can_zero_range_ = true;
  bool can_zeroout_ = true;

  // io=uring; the writer thread only.  ops_ is declared before ring_ so
  // the ring (which waits for the kernel) goes first.
  std::map<uint64_t, Op> ops_;  // tag -> write in the ring
  std::vector<uint64_t> done_;  // tags completed synchronously, not yet reaped
  std::unique_ptr<UringQueue> ring_;
  bool ring_tried_ = false;  // Start() asked for the ring (once)
  // cache=none.
  std::unique_ptr<Writeback> writeback_;
  // Sync(): the first failure, kept (see Sync()).  Sync() takes
  // unsynced_mu_ while it holds this.
  Mutex sync_mu_ ACQUIRED_BEFORE(unsynced_mu_);
  Status sync_error_ GUARDED_BY(sync_mu_);
  // The span written since the last sync began: what a failed fdatasync
  // may have lost, since the kernel does not say which pages it could not
  // write.  Its own lock, so the writer never waits for an fdatasync.
  Mutex unsynced_mu_;
  uint64_t unsynced_start_ GUARDED_BY(unsynced_mu_) = UINT64_MAX;
  uint64_t unsynced_end_ GUARDED_BY(unsynced_mu_) = 0;
};

}  // namespace fanout

#endif  // FANOUT_DEST_FILE_DESTINATION_H
