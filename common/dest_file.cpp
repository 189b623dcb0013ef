#include "dest_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fanout {

FileDestination::FileDestination(std::string name, int fd, const struct stat& st, bool existed)
    : Destination(std::move(name)),
      fd_(fd),
      block_(S_ISBLK(st.st_mode)),
      existed_(existed),
      dev_(st.st_dev),
      ino_(st.st_ino) {
  if (block_) {
    uint64_t bytes = 0;
    if (ioctl(fd_, BLKGETSIZE64, &bytes) == 0) device_size_ = bytes;
  } else {
    device_size_ = st.st_size;
  }
}

FileDestination::~FileDestination() {
  if (fd_ >= 0) close(fd_);
}

std::optional<uint64_t> FileDestination::fixed_size() const {
  // An existing, non-empty regular file says how large the image is meant
  // to be; a new or empty one does not.
  if (block_ || (existed_ && device_size_ > 0)) return device_size_;
  return std::nullopt;
}

std::optional<std::pair<dev_t, ino_t>> FileDestination::identity() const {
  // A block device is identified by the device it is, not its inode in /dev.
  return std::make_pair(dev_, ino_);
}

void FileDestination::Abandon() {
  if (!existed_) unlink(name().c_str());
}

Status FileDestination::Prepare(uint64_t export_size) {
  if (block_) {
    if (device_size_ < export_size)
      return Status::InvalidArgument("dest=" + name() + ": the device holds " +
                                     std::to_string(device_size_) +
                                     " bytes, smaller than the export size " +
                                     std::to_string(export_size));
    return Status::OK();
  }
  // The export starts as all zeros, and so must the file: drop whatever an
  // existing file held, then give it the export's size (sparse).
  if (ftruncate(fd_, 0) == -1 || ftruncate(fd_, export_size) == -1)
    return Status::FromErrno("dest=" + name() + ": ftruncate");
  return Status::OK();
}

Status FileDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  return WriteFully(fd_, buf, length, offset, name());
}

Status FileDestination::Zero(uint64_t length, uint64_t offset) {
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
  const uint64_t a = (offset + 511) & ~uint64_t{511};
  const uint64_t b = end & ~uint64_t{511};
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
  if (fdatasync(fd_) == -1) return Status::FromErrno(name() + ": fdatasync");
  return Status::OK();
}

Status FileDestination::Read(uint8_t* buf, uint64_t length, uint64_t offset) {
  while (length > 0) {
    const ssize_t r = pread(fd_, buf, length, offset);
    if (r == -1) {
      if (errno == EINTR) continue;
      return Status::FromErrno(name() + ": pread at " + std::to_string(offset));
    }
    if (r == 0) {
      // Past the end of a file: the export's bytes there are zeros.
      memset(buf, 0, length);
      return Status::OK();
    }
    buf += r;
    length -= r;
    offset += r;
  }
  return Status::OK();
}

Status FileDestination::Close() {
  Status s = Sync();
  if (close(fd_) == -1 && s.ok()) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  return s;
}

}  // namespace fanout
