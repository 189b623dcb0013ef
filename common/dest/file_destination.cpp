// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/file_destination.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fanout {

namespace {

// Reads a file or block device for verify=, on its own descriptor.
class FileReadBack final : public ReadBack {
 public:
  FileReadBack(std::string name, std::string path, int fd, bool direct)
      : name_(std::move(name)), path_(std::move(path)), fd_(fd), direct_(direct) {}
  ~FileReadBack() override {
    // O_DIRECT reads leave nothing in the cache, but the writer's pages may
    // still be there (clean): drop them too, so verifying leaves the page
    // cache as if the image had never passed through it.
    (void)posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
    close(fd_);
    if (write_fd_ != -1) close(write_fd_);
  }

  Status Rewrite(const uint8_t* buf, uint64_t length, uint64_t offset) override {
    if (write_fd_ == -1) {
      write_fd_ = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
      if (write_fd_ == -1) return Status::FromErrno(name_ + ": open to repair");
    }
    return WriteFully(write_fd_, buf, length, offset, name_ + ": repair");
  }

  Status SyncRewrites() override {
    if (write_fd_ == -1) return Status::OK();
    if (fdatasync(write_fd_) == -1) return Status::FromErrno(name_ + ": fdatasync after repair");
    (void)posix_fadvise(write_fd_, 0, 0, POSIX_FADV_DONTNEED);
    return Status::OK();
  }

  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override {
    uint64_t got = 0;
    Status s = ReadFully(fd_, buf, length, offset, &got, direct_ ? kAlignment : 1);
    if (!s.ok())
      return Status::FromErrno(name_ + ": read back at " + std::to_string(offset + got), s.err());
    // The export's bytes beyond the end of the file are zeros.
    memset(buf + got, 0, length - got);
    // Without O_DIRECT what we just read is cached: drop it behind us.
    if (!direct_) (void)posix_fadvise(fd_, offset, length, POSIX_FADV_DONTNEED);
    return Status::OK();
  }

  bool direct() const override { return direct_; }

 private:
  const std::string name_;
  const std::string path_;
  const int fd_;
  const bool direct_;
  int write_fd_ = -1;  // opened by the first Rewrite()
};

}  // namespace

FileDestination::FileDestination(std::string name, std::string path, int fd, const struct stat& st,
                                 bool existed, const FileIoOptions& io, Logger* log)
    : Destination(std::move(name)),
      path_(std::move(path)),
      fd_(fd),
      block_(S_ISBLK(st.st_mode)),
      existed_(existed),
      identity_(IdentityOf(st)),
      io_(io),
      log_(log) {
  read_fd_ = fcntl(fd_, F_DUPFD_CLOEXEC, 3);
  if (io.drop_cache) writeback_ = std::make_unique<Writeback>(fd_, this->name());
  // The disk the writes end up on: the device itself, or the one holding
  // the file (none for tmpfs, FUSE and other devices without a disk).
  const dev_t disk = block_ ? st.st_rdev : st.st_dev;
  if (major(disk) != 0)
    disk_stat_path_ = "/sys/dev/block/" + std::to_string(major(disk)) + ":" +
                      std::to_string(minor(disk)) + "/stat";
  if (block_) {
    uint64_t bytes = 0;
    if (ioctl(fd_, BLKGETSIZE64, &bytes) == 0) device_size_ = bytes;
  } else {
    device_size_ = st.st_size;
  }
}

uint64_t FileDestination::kernel_progress() const {
  if (disk_stat_path_.empty()) return 0;
  // Documented in the kernel's Documentation/block/stat.rst: the 7th
  // field is sectors written, the 15th sectors discarded (punched holes);
  // both are counted as the disk completes them.
  const int fd = open(disk_stat_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return 0;
  char text[512];
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  uint64_t sum = 0;
  char* p = text;
  for (int field = 1; field <= 15; field++) {
    char* end;
    const unsigned long long v = strtoull(p, &end, 10);
    if (end == p) break;
    if (field == 7 || field == 15) sum += v;
    p = end;
  }
  return sum;
}

FileDestination::~FileDestination() {
  DrainRing();
  if (direct_fd_ >= 0) close(direct_fd_);
  if (fd_ >= 0) close(fd_);
  if (read_fd_ >= 0) close(read_fd_);
}

Status FileDestination::OpenDirect() {
  // A second open of the same file: O_EXCL is not repeated (the first
  // descriptor holds the block device), O_CREAT is not needed.
  do direct_fd_ = open(name().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  while (direct_fd_ == -1 && errno == EINTR);
  if (direct_fd_ == -1 && errno == EINVAL)
    return Status::InvalidArgument("dest=" + name() +
                                   ": direct=true: the file system does not support O_DIRECT; "
                                   "use direct=false");
  if (direct_fd_ == -1) return Status::FromErrno("dest=" + name() + ": direct=true: open O_DIRECT");
  return Status::OK();
}

Status FileDestination::Start() {
  // The ring belongs to the writer thread, so it is made here, after
  // nbdkit has forked.  The engine has already checked that io_uring works
  // (and said so if it does not); should it fail now anyway (the
  // locked-memory limit, a policy applied after the check), pwrite does
  // the same job.
  if (io_.uring && !ring_tried_) {
    ring_tried_ = true;
    Status s = UringQueue::Create(kQueueDepth, &ring_);
    if (!s.ok() && log_)
      log_->Debug(LogTopic::kGeneral,
                  name() + ": io=uring: " + s.message() + "; writing with pwrite (io=sync)");
  }
  return Status::OK();
}

void FileDestination::DrainRing() {
  ring_.reset();  // waits for what is in flight
  ops_.clear();
}

std::optional<uint64_t> FileDestination::fixed_size() const {
  // An existing, non-empty regular file says how large the image is meant
  // to be; a new or empty one does not.
  if (block_ || (existed_ && device_size_ > 0)) return device_size_;
  return std::nullopt;
}

void FileDestination::Abandon() {
  if (!existed_) unlink(name().c_str());
}

Status FileDestination::Prepare(uint64_t export_size) {
  if (block_) {
    if (device_size_ < export_size)
      return Status::InvalidArgument(
          "dest=" + name() + ": the device holds " + std::to_string(device_size_) +
          " bytes, smaller than the export size " + std::to_string(export_size));
    return Status::OK();
  }
  // The export starts as all zeros, and so must the file: drop whatever an
  // existing file held, then give it the export's size (sparse).
  if (ftruncate(fd_, 0) == -1 || ftruncate(fd_, export_size) == -1)
    return Status::FromErrno("dest=" + name() + ": ftruncate");
  return Status::OK();
}

FileDestination::Split FileDestination::SplitForDirect(const uint8_t* buf, uint64_t length,
                                                       uint64_t offset) const {
  if (direct_fd_ < 0) return {0, length, 0};
  const uint64_t a = RoundUp(offset, kDirectAlignment);
  const uint64_t b = RoundDown(offset + length, kDirectAlignment);
  // Nothing aligned in it, or memory that O_DIRECT cannot take (a late
  // extent copied to the start of a buffer): all through the page cache.
  if (a >= b || !IsAligned(reinterpret_cast<uintptr_t>(buf + (a - offset)), kDirectAlignment))
    return {length, 0, 0};
  return {a - offset, b - a, offset + length - b};
}

Status FileDestination::WriteEnds(const uint8_t* buf, uint64_t length, uint64_t offset,
                                  const Split& split) {
  Status s = WriteFully(fd_, buf, split.head, offset, name());
  if (s.ok() && split.tail > 0)
    s = WriteFully(fd_, buf + length - split.tail, split.tail, offset + length - split.tail,
                   name());
  return s;
}

Status FileDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  const Split split = SplitForDirect(buf, length, offset);
  Status s = WriteEnds(buf, length, offset, split);
  if (s.ok())
    s = WriteFully(middle_fd(), buf + split.head, split.middle, offset + split.head, name());
  if (s.ok()) NoteWritten(offset, length);
  if (s.ok() && writeback_) s = writeback_->Wrote(offset, length);
  return s;
}

Status FileDestination::Submit(const Extent& extent, uint64_t tag) {
  if (!ring_) return Destination::Submit(extent, tag);
  Status s = SubmitToRing(extent, tag);
  // The writer stops here: let go of every extent (and its pool buffer)
  // now, rather than when the destination is destroyed.
  if (!s.ok()) DrainRing();
  return s;
}

Status FileDestination::SubmitToRing(const Extent& extent, uint64_t tag) {
  if (extent.is_zero()) {
    // fallocate and ioctls take no time worth overlapping.
    Status s = Zero(extent.length, extent.offset);
    if (s.ok()) done_.push_back(tag);
    return s;
  }
  const uint8_t* buf = extent.bytes();
  const Split split = SplitForDirect(buf, extent.length, extent.offset);
  Status s = WriteEnds(buf, extent.length, extent.offset, split);
  if (!s.ok()) return s;
  if (split.middle == 0) {
    NoteWritten(extent.offset, extent.length);
    if (writeback_) s = writeback_->Wrote(extent.offset, extent.length);
    if (s.ok()) done_.push_back(tag);
    return s;
  }
  Op op{extent, middle_fd(), buf + split.head, extent.offset + split.head, split.middle};
  Queue(tag, op);
  s = ring_->Submit();
  if (!s.ok()) return Status::IOError(s.err(), name() + ": " + s.message());
  return Status::OK();
}

void FileDestination::Queue(uint64_t tag, const Op& op) {
  ops_[tag] = op;
  // A write is at most one bucket (1G): within io_uring's 32-bit length.
  ring_->Write(op.fd, op.data, static_cast<uint32_t>(op.remaining), op.offset, tag);
}

Status FileDestination::Reap(std::vector<uint64_t>* done, uint64_t* failed) {
  if (!ring_) return Destination::Reap(done, failed);
  done->insert(done->end(), done_.begin(), done_.end());
  done_.clear();
  Status err;
  bool requeued = false;
  auto complete = [&](uint64_t tag, int result) {
    auto it = ops_.find(tag);
    if (it == ops_.end()) return;
    Op& op = it->second;
    if (result == -EINTR || result == -EAGAIN) {
      Queue(tag, op);
      requeued = true;
      return;
    }
    if (result <= 0) {
      if (err.ok()) {
        err = Status::FromErrno(name() + ": write at offset " + std::to_string(op.offset),
                                result < 0 ? -result : EIO);
        *failed = tag;
      }
      ops_.erase(it);
      return;
    }
    op.data += result;
    op.offset += result;
    op.remaining -= result;
    if (op.remaining > 0) {  // a short write: the rest, as pwrite would
      Queue(tag, op);
      requeued = true;
      return;
    }
    NoteWritten(op.extent.offset, op.extent.length);
    // The write is done, but an earlier one may have been lost on its way
    // to the media: that fails the destination here.
    Status wb = writeback_ ? writeback_->Wrote(op.extent.offset, op.extent.length) : Status();
    if (!wb.ok()) {
      if (err.ok()) {
        err = wb;
        *failed = tag;
      }
    } else {
      done->push_back(tag);
    }
    ops_.erase(it);
  };
  // Wait only when nothing has completed yet; a short write put back in
  // the ring is not a completion, so go round again for it.
  Status s;
  while (s.ok() && err.ok() && done->empty() && ring_->in_flight() > 0) {
    requeued = false;
    s = ring_->Reap(true, complete);
    if (s.ok() && requeued) s = ring_->Submit();
  }
  if (s.ok() && err.ok() && ring_->in_flight() > 0) {
    // Whatever else has completed meanwhile, without waiting.
    requeued = false;
    s = ring_->Reap(false, complete);
    if (s.ok() && requeued) s = ring_->Submit();
  }
  if (!s.ok()) err = Status::IOError(s.err(), name() + ": " + s.message());
  if (!err.ok()) DrainRing();  // as in Submit
  return err;
}

void FileDestination::NoteWritten(uint64_t offset, uint64_t length) {
  MutexLock lock(&unsynced_mu_);
  unsynced_start_ = std::min(unsynced_start_, offset);
  unsynced_end_ = std::max(unsynced_end_, offset + length);
}

Status FileDestination::Zero(uint64_t length, uint64_t offset) {
  // Zeroing may go through the page cache too (the fallbacks write zeros).
  NoteWritten(offset, length);
  if (block_) return ZeroBlock(length, offset);
  // Punching a hole frees the blocks and reads back as zeros; ZERO_RANGE
  // keeps them allocated; writing zeros always works.
  if (can_punch_hole_) {
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0)
      return Status::OK();
    if (errno != EOPNOTSUPP && errno != ENOSYS)
      return Status::FromErrno(name() + ": fallocate punch hole at " + std::to_string(offset));
    can_punch_hole_ = false;
  }
  if (can_zero_range_) {
    if (fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length) == 0)
      return Status::OK();
    if (errno != EOPNOTSUPP && errno != ENOSYS)
      return Status::FromErrno(name() + ": fallocate zero range at " + std::to_string(offset));
    can_zero_range_ = false;
  }
  return WriteZeros(fd_, length, offset, name());
}

Status FileDestination::ZeroBlock(uint64_t length, uint64_t offset) {
  // BLKZEROOUT takes 512-byte aligned ranges: zero the aligned middle with
  // it and write the ragged edges.  BLKDISCARD is not used: a discarded
  // block is not guaranteed to read back as zeros.
  const uint64_t end = offset + length;
  const uint64_t a = RoundUp(offset, kSectorSize);
  const uint64_t b = RoundDown(end, kSectorSize);
  if (can_zeroout_ && a < b) {
    uint64_t range[2] = {a, b - a};
    if (ioctl(fd_, BLKZEROOUT, range) == 0) {
      Status s = WriteZeros(fd_, a - offset, offset, name());
      if (s.ok()) s = WriteZeros(fd_, end - b, b, name());
      return s;
    }
    if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
      return Status::FromErrno(name() + ": BLKZEROOUT at " + std::to_string(a));
    can_zeroout_ = false;
  }
  return WriteZeros(fd_, length, offset, name());
}

Status FileDestination::Sync() {
  // The kernel reports a write-back error to one sync call only (per open
  // file): a flush's sync and the writer's Close() racing must not let the
  // second one see success.  So syncs take turns, and the first error is
  // the answer to every later one.
  MutexLock lock(&sync_mu_);
  if (!sync_error_.ok()) return sync_error_;
  // Closed: Close() synced everything, and kept the error if there was one.
  if (fd_ < 0) return Status::OK();
  uint64_t start, end;
  {
    // What this sync covers: everything written before it starts.
    MutexLock span(&unsynced_mu_);
    start = unsynced_start_;
    end = unsynced_end_;
    unsynced_start_ = UINT64_MAX;
    unsynced_end_ = 0;
  }
  Status s = writeback_ ? writeback_->Finish() : Status::OK();
  if (s.ok() && fdatasync(fd_) == -1) {
    if (start < end)
      s = Status::FromErrno(name() + ": fdatasync after writes at offsets " +
                            std::to_string(start) + " to " + std::to_string(end))
              .WithOffset(start);
    else
      s = Status::FromErrno(name() + ": fdatasync");
  }
  sync_error_ = s;
  return s;
}

Status FileDestination::Read(uint8_t* buf, uint64_t length, uint64_t offset) {
  uint64_t got = 0;
  if (read_fd_ < 0)
    return Status::IOError(EMFILE, name() + ": read at " + std::to_string(offset) +
                                       ": no descriptor to read with (it could not be duplicated)");
  Status s = ReadFully(read_fd_, buf, length, offset, &got);
  if (!s.ok())
    return Status::FromErrno(name() + ": pread at " + std::to_string(offset + got), s.err());
  // Past the end of a file: the export's bytes there are zeros.
  memset(buf + got, 0, length - got);
  return Status::OK();
}

Status FileDestination::OpenReadBack(std::unique_ptr<ReadBack>* out) {
  // A descriptor of its own, opened after Close(): O_DIRECT reads the
  // media; file systems without it (tmpfs) refuse it with EINVAL, and there
  // the cache is dropped around the reads instead.
  bool direct = true;
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd == -1 && errno == EINVAL) {
    direct = false;
    fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd == -1) return Status::FromErrno(name() + ": open to read back");
  struct stat st;
  if (fstat(fd, &st) == -1 || IdentityOf(st) != identity_) {
    close(fd);
    return Status::IOError(ESTALE, name() + ": replaced by another file since it was written");
  }
  // Whatever anyone wrote since our Close() reaches the media first (the
  // kernel does that for O_DIRECT reads too, but not for the cache drop),
  // then the cached pages go, so no read below is served from memory.
  if (fdatasync(fd) == -1) {
    Status s = Status::FromErrno(name() + ": fdatasync before reading back");
    close(fd);
    return s;
  }
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  *out = std::make_unique<FileReadBack>(name(), path_, fd, direct);
  return Status::OK();
}

Status FileDestination::Close() {
  DrainRing();
  Status s = Sync();
  // Under the sync lock: a flush syncing meanwhile must not be handed a
  // descriptor that is being closed (or reused by then).
  MutexLock lock(&sync_mu_);
  if (direct_fd_ >= 0 && close(direct_fd_) == -1 && s.ok())
    s = Status::FromErrno(name() + ": close");
  direct_fd_ = -1;
  if (close(fd_) == -1 && s.ok()) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  if (!s.ok() && sync_error_.ok()) sync_error_ = s;
  return s;
}

}  // namespace fanout
