// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "window/spill_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/fd_io.h"

namespace fanout {

Status SpillFile::Open(const std::string& dir, std::unique_ptr<SpillFile>* out) {
  const std::string what = "spill=" + dir + ": ";
  if (dir.empty()) return Status::InvalidArgument("spill=: the directory name is empty");
  struct stat st;
  if (stat(dir.c_str(), &st) == -1) return Status::FromErrno("spill=" + dir);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(what + "not a directory");
  const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (fd == -1) {
    const int err = errno;
    // Kernels and filesystems without O_TMPFILE say EOPNOTSUPP, or EISDIR
    // (the flag reads as a plain open of a directory for writing).
    if (err == EOPNOTSUPP || err == EISDIR)
      return Status::IOError(err, what +
                                      "the filesystem does not support O_TMPFILE; "
                                      "give a directory on tmpfs, ext4, xfs or btrfs");
    return Status::FromErrno(what + "cannot create a temporary file there", err);
  }
  out->reset(new SpillFile(dir, fd));
  return Status::OK();
}

SpillFile::~SpillFile() {
  close(fd_);
}

Status SpillFile::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Status s = WriteFully(fd_, buf, length, offset, "spill file");
  if (!s.ok())
    return Status::FromErrno("spill=" + dir_ + ": writing " + std::to_string(length) +
                                 " bytes at offset " + std::to_string(offset) +
                                 " to the spill file failed, so the window cannot hold them",
                             s.err());
  bytes_written_.fetch_add(length, std::memory_order_relaxed);
  return Status::OK();
}

Status SpillFile::Read(uint8_t* buf, uint64_t length, uint64_t offset) const {
  uint64_t got = 0;
  Status s = ReadFully(fd_, buf, length, offset, &got);
  // A short read means the file lost bytes the window put there.
  if (!s.ok() || got < length)
    return Status::FromErrno("spill=" + dir_ + ": reading " + std::to_string(length) +
                                 " bytes at offset " + std::to_string(offset) +
                                 " back from the spill file failed, so the window lost them",
                             s.ok() ? EIO : s.err());
  bytes_read_.fetch_add(length, std::memory_order_relaxed);
  return Status::OK();
}

void SpillFile::Discard(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  (void)fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

}  // namespace fanout
