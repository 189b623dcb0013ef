// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "util/fd_io.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace fanout {

Status WriteFully(int fd, const uint8_t* buf, uint64_t length, off_t offset,
                  const std::string& name) {
  while (length > 0) {
    const ssize_t r = offset >= 0 ? pwrite(fd, buf, length, offset) : write(fd, buf, length);
    if (r <= 0) {
      if (r == -1 && errno == EINTR) continue;
      const int err = r == 0 ? ENOSPC : errno;
      return Status::FromErrno(
          name + (offset >= 0 ? ": write at offset " + std::to_string(offset) : ": write"), err);
    }
    buf += r;
    length -= r;
    if (offset >= 0) offset += r;
  }
  return Status::OK();
}

Status ReadFully(int fd, uint8_t* buf, uint64_t length, uint64_t offset, uint64_t* got,
                 uint64_t unit) {
  *got = 0;
  while (*got < length) {
    const ssize_t r = pread(fd, buf + *got, length - *got, offset + *got);
    if (r == -1) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read at offset " + std::to_string(offset + *got));
    }
    *got += r;
    if (r == 0 || r % unit != 0) break;
  }
  return Status::OK();
}

Status WritePolled(int fd, const uint8_t* buf, uint64_t length, int cancel_fd,
                   const std::string& name, const std::function<void()>& progress,
                   uint64_t* written) {
  if (written) *written = 0;
  while (length > 0) {
    const ssize_t r = write(fd, buf, length);
    if (r > 0) {
      buf += r;
      length -= r;
      if (written) *written += r;
      if (progress) progress();
      continue;
    }
    if (r == 0) return Status::FromErrno(name + ": write", ENOSPC);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::FromErrno(name + ": write");
    struct pollfd fds[2] = {};
    fds[0].fd = fd;
    fds[0].events = POLLOUT;
    fds[1].fd = cancel_fd;
    fds[1].events = POLLIN;
    if (poll(fds, 2, -1) == -1 && errno != EINTR) return Status::FromErrno(name + ": poll");
    if (fds[1].revents & POLLIN) return Status::IOError(ECANCELED, name + ": write cancelled");
    // POLLERR (the reader went away) is the next write's EPIPE.
  }
  return Status::OK();
}

}  // namespace fanout
