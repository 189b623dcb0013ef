#include "dest_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fanout {

namespace {

// Reads a file or block device for verify=, on its own descriptor.
class FileReadBack final : public ReadBack {
 public:
  FileReadBack(std::string name, int fd, bool direct)
      : name_(std::move(name)), fd_(fd), direct_(direct) {}
  ~FileReadBack() override {
    // O_DIRECT reads leave nothing in the cache, but the writer's pages may
    // still be there (clean): drop them too, so verifying leaves the page
    // cache as if the image had never passed through it.
    (void)posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
    close(fd_);
  }

  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override {
    const uint64_t start = offset, total = length;
    while (length > 0) {
      const ssize_t r = pread(fd_, buf, length, offset);
      if (r == -1) {
        if (errno == EINTR) continue;
        return Status::FromErrno(name_ + ": read back at " + std::to_string(offset));
      }
      // The end of the file, or (with O_DIRECT) a short read that stops at
      // an unaligned end: the export's bytes beyond are zeros.
      if (r == 0 || (direct_ && r % kAlignment != 0)) {
        memset(buf + r, 0, length - r);
        break;
      }
      buf += r;
      length -= r;
      offset += r;
    }
    // Without O_DIRECT what we just read is cached: drop it behind us.
    if (!direct_) (void)posix_fadvise(fd_, start, total, POSIX_FADV_DONTNEED);
    return Status::OK();
  }

  bool direct() const override { return direct_; }

 private:
  const std::string name_;
  const int fd_;
  const bool direct_;
};

}  // namespace

FileDestination::FileDestination(std::string name, std::string path, int fd,
                                 const struct stat& st, bool existed)
    : Destination(std::move(name)),
      path_(std::move(path)),
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
  if (fstat(fd, &st) == -1 || st.st_dev != dev_ || st.st_ino != ino_) {
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
  *out = std::make_unique<FileReadBack>(name(), fd, direct);
  return Status::OK();
}

Status FileDestination::Close() {
  Status s = Sync();
  if (close(fd_) == -1 && s.ok()) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  return s;
}

}  // namespace fanout
