#include "fd_io.h"

#include <unistd.h>

#include <cerrno>

namespace fanout {

Status WriteFully(int fd, const uint8_t* buf, uint64_t length, off_t offset,
                  const std::string& name, uint64_t* written) {
  if (written) *written = 0;
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
    if (written) *written += r;
    if (offset >= 0) offset += r;
  }
  return Status::OK();
}

}  // namespace fanout
