#include "dest_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace fanout {

StreamDestination::StreamDestination(std::string name, std::string path)
    : Destination(std::move(name)), path_(std::move(path)) {}

StreamDestination::~StreamDestination() {
  if (fd_ >= 0) close(fd_);
}

Status StreamDestination::Start() {
  if (path_.empty()) return Status::OK();
  // A blocking open would wait for a reader forever, and a writer stuck in
  // it could never be told the stream had ended.  So poll: a non-blocking
  // open of a FIFO with no reader fails with ENXIO at once; try again every
  // 50 ms (no busy loop) until a reader comes or the engine gives up.
  for (;;) {
    fd_ = open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ >= 0) break;
    if (errno == EINTR) continue;
    if (errno != ENXIO) return Status::FromErrno(name() + ": open for writing");
    if (give_up_)
      return Status::IOError(EPIPE, name() + ": no reader opened the FIFO before the end of the "
                                             "stream");
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  // Writes block from here on: back-pressure from a slow reader.
  const int flags = fcntl(fd_, F_GETFL);
  if (flags == -1 || fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) == -1)
    return Status::FromErrno(name() + ": fcntl");
  EnlargePipe();
  return Status::OK();
}

void StreamDestination::EnlargePipe() {
  // 1 MiB is the default /proc/sys/fs/pipe-max-size; fails harmlessly on a
  // character device or where the limit is lower.
  (void)fcntl(fd_, F_SETPIPE_SZ, 1 << 20);
}

Status StreamDestination::CheckOrder(uint64_t offset) const {
  if (offset != position_)
    return Status::IOError(EIO, name() + ": internal error: stream extent at " +
                                    std::to_string(offset) + " but the stream is at " +
                                    std::to_string(position_));
  return Status::OK();
}

Status StreamDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  if (s.ok()) s = WriteFully(fd_, buf, length, -1, name());
  return Advance(s, length);
}

Status StreamDestination::Zero(uint64_t length, uint64_t offset) {
  Status s = CheckOrder(offset);
  if (s.ok()) s = WriteZeros(fd_, length, -1, name());
  return Advance(s, length);
}

Status StreamDestination::Advance(const Status& s, uint64_t length) {
  if (!s.ok())
    return Status::IOError(s.err(), s.message() + " at stream position " + std::to_string(position_));
  position_ += length;
  return s;
}

Status StreamDestination::Read(uint8_t*, uint64_t, uint64_t offset) {
  return Status::IOError(EIO, name() + ": a stream cannot be read back (offset " +
                                  std::to_string(offset) + ")");
}

Status StreamDestination::Close() {
  Status s;
  if (fd_ >= 0 && close(fd_) == -1) s = Status::FromErrno(name() + ": close");
  fd_ = -1;
  return s;
}

}  // namespace fanout
