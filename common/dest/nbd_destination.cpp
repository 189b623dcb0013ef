// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "dest/nbd_destination.h"

#include <libnbd.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "util/absolute_path.h"
#include "util/zero_block.h"

namespace fanout {

namespace {

// Zeros are written from kZeroBlock when the server cannot zero, so
// zeroing costs no memory whatever its length; its size is a multiple of
// every minimum block size (at most 64 KiB).
// One NBD_CMD_WRITE_ZEROES at most: its length field is 32 bits.
constexpr uint64_t kMaxZeroRequest = 1ull << 30;
// libnbd refuses larger reads and writes whatever the server says.
constexpr uint64_t kLibnbdMaxPayload = 64ull << 20;
// What to assume when the server does not say (the NBD spec's 32 MiB).
constexpr uint64_t kDefaultMaxPayload = 32ull << 20;

std::string LastNbdError() {
  const char* e = nbd_get_error();
  return e != nullptr ? e : "unknown libnbd error";
}

int LastNbdErrno() {
  const int e = nbd_get_errno();
  return e != 0 ? e : EIO;
}

std::string PercentEncode(const std::string& path) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (isalnum(c) || strchr("-._~/", c) != nullptr) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// nbdkit changes to / when it forks into the background, after Probe()
// and before Start(): make the local paths a URI's query names (socket=,
// tls-psk-file=, tls-certificates=) absolute now, against the directory
// nbdkit was started in.
std::string WithAbsolutePaths(const std::string& uri) {
  const size_t q = uri.find('?');
  if (q == std::string::npos) return uri;
  const size_t frag = uri.find('#', q);
  const std::string query = uri.substr(q + 1, frag == std::string::npos ? frag : frag - q - 1);
  const std::optional<std::string> cwd = WorkingDirectory();
  if (!cwd) return uri;
  std::string out = uri.substr(0, q + 1);
  size_t start = 0;
  for (;;) {
    const size_t amp = query.find('&', start);
    std::string param = query.substr(start, amp == std::string::npos ? amp : amp - start);
    const size_t eq = param.find('=');
    if (eq != std::string::npos) {
      const std::string key = param.substr(0, eq), value = param.substr(eq + 1);
      const bool local = key == "socket" || key == "tls-psk-file" || key == "tls-certificates";
      const bool absolute = value.empty() || value[0] == '/' || value.compare(0, 3, "%2F") == 0 ||
                            value.compare(0, 3, "%2f") == 0;
      if (local && !absolute) param = key + "=" + PercentEncode(*cwd) + "/" + value;
    }
    out += param;
    if (amp == std::string::npos) break;
    out += '&';
    start = amp + 1;
  }
  if (frag != std::string::npos) out += uri.substr(frag);
  return out;
}

}  // namespace

bool IsNbdUri(const std::string& value) {
  // nbd://, nbds://, nbd+unix://, nbds+vsock:// ...: which ones libnbd
  // really supports it says itself when connecting.
  const size_t colon = value.find("://");
  if (colon == std::string::npos || value.compare(0, 3, "nbd") != 0) return false;
  for (size_t i = 0; i < colon; i++)
    if (!(islower(static_cast<unsigned char>(value[i])) || value[i] == '+')) return false;
  return true;
}

// What one Submit(), or one synchronous call, asked for.  Its commands
// (several when it is split) each hold a pointer to it; it finishes when
// all are issued and have completed.
struct NbdDestination::Op {
  enum Kind { kWrite, kZero, kRead, kFlush };
  Kind kind = kWrite;
  uint64_t offset = 0;
  uint64_t length = 0;
  const uint8_t* data = nullptr;  // kWrite
  Extent extent;                  // Submit(): keeps the buffer until completion
  uint64_t tag = 0;
  bool async = false;  // from Submit(): Reap() collects it
  // Guarded by the destination's mu_.  (Prose only: an Op does not know
  // its destination, so the analysis has no name for that lock here.)
  unsigned pending = 0;  // commands issued, not completed
  bool issuing = true;
  bool finished = false;
  int err = 0;  // the first error of its commands
  uint64_t err_offset = 0;
  std::string detail;  // libnbd's message, when it refused to issue
  // Not issued at all: the connection was closing or closed (not dead).
  // Once finished, read by the op's owner without the lock.
  bool not_live = false;
};

// One NBD command.  libnbd owns it from issue until it calls OnFree.
struct NbdDestination::Command {
  NbdDestination* dest;
  Op* op;
  uint64_t offset;
  bool settled GUARDED_BY(dest->mu_) = false;
};

NbdDestination::NbdDestination(std::string uri, Logger* log)
    : Destination(uri), log_(log), connect_uri_(WithAbsolutePaths(uri)) {}

NbdDestination::~NbdDestination() {
  StopPolling();
  {
    MutexLock lock(&mu_);
    sock_fd_ = -1;
  }
  if (h_ != nullptr) nbd_close(h_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (aside_ != nullptr) nbd_close(aside_);
}

void NbdDestination::Debug(const std::string& msg) const {
  if (log_ != nullptr && log_->DebugEnabled(LogTopic::kWriter))
    log_->Debug(LogTopic::kWriter, name() + ": " + msg);
}

nbd_handle* NbdDestination::Connect(Status* s) const {
  nbd_handle* h = nbd_create();
  if (h == nullptr) {
    *s = Status::IOError(LastNbdErrno(), name() + ": " + LastNbdError());
    return nullptr;
  }
  // The URI comes from the command line, not from a stranger: let it name
  // local files (tls-psk-file=, tls-certificates=).
  nbd_set_uri_allow_local_file(h, true);
  // Asynchronously, so that a server that accepts and never answers the
  // handshake neither hangs nbdkit's start nor a writer thread past
  // Cancel() (see nbd_destination.h).
  const auto fail = [&](const Status& st) {
    *s = st;
    nbd_close(h);
    return nullptr;
  };
  const auto cannot_connect = [&] {
    return fail(Status::IOError(LastNbdErrno(), name() + ": cannot connect: " + LastNbdError()));
  };
  if (nbd_aio_connect_uri(h, connect_uri_.c_str()) == -1) return cannot_connect();
  const auto deadline = std::chrono::steady_clock::now() + kHandshakeTimeout;
  while (nbd_aio_is_connecting(h) == 1) {
    // Asked again each time round: a TCP connect may try another address,
    // on another socket.
    const int fd = nbd_aio_get_fd(h);
    if (fd == -1) return cannot_connect();
    const unsigned dir = nbd_aio_get_direction(h);
    pollfd fds[2] = {};
    fds[0].fd = fd;
    if ((dir & LIBNBD_AIO_DIRECTION_READ) != 0) fds[0].events |= POLLIN;
    if ((dir & LIBNBD_AIO_DIRECTION_WRITE) != 0) fds[0].events |= POLLOUT;
    fds[1].fd = cancel_fd();
    fds[1].events = POLLIN;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return fail(Status::IOError(
          ETIMEDOUT,
          name() + ": the server did not complete the NBD handshake within " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(kHandshakeTimeout).count()) +
              " s"));
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int r = poll(fds, 2, static_cast<int>(std::min<int64_t>(left, INT_MAX)));
    if (r == -1) {
      if (errno == EINTR) continue;
      return fail(Status::FromErrno(name() + ": poll"));
    }
    if (fds[1].revents != 0 || cancelled())
      return fail(Status::IOError(ECANCELED, name() + ": connecting cancelled"));
    if (r == 0) continue;  // the deadline, checked above
    // As nbd_poll(3) does.
    int n = 0;
    if ((fds[0].revents & (POLLIN | POLLHUP)) != 0)
      n = nbd_aio_notify_read(h);
    else if ((fds[0].revents & POLLOUT) != 0)
      n = nbd_aio_notify_write(h);
    else if ((fds[0].revents & (POLLERR | POLLNVAL)) != 0)
      return fail(Status::IOError(ENOTCONN,
                                  name() + ": cannot connect: server closed socket unexpectedly"));
    if (n == -1) return cannot_connect();
  }
  if (nbd_aio_is_ready(h) != 1) {
    if (nbd_aio_is_closed(h) == 1)
      return fail(Status::IOError(
          ECONNRESET, name() + ": cannot connect: connection closed before handshake finished"));
    return cannot_connect();
  }
  return h;
}

void NbdDestination::Learn(nbd_handle* h) {
  server_size_ = static_cast<uint64_t>(std::max<int64_t>(0, nbd_get_size(h)));
  const int64_t minimum = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
  if (minimum > 0) min_block_ = minimum;
  const int64_t maximum = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
  max_payload_ = maximum > 0 ? std::min<uint64_t>(maximum, kLibnbdMaxPayload) : kDefaultMaxPayload;
  max_payload_ -= max_payload_ % min_block_;
  can_zero_ = nbd_can_zero(h) == 1;
  can_flush_ = nbd_can_flush(h) == 1;
  Debug("size " + std::to_string(server_size_) + ", block size minimum " +
        std::to_string(min_block_) + " preferred " +
        std::to_string(std::max<int64_t>(0, nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED))) +
        " maximum payload " + std::to_string(max_payload_) + ", zero " +
        (can_zero_ ? "yes" : "no") + ", flush " + (can_flush_ ? "yes" : "no"));
}

Status NbdDestination::Probe(const std::string& uri, Logger* log,
                             std::unique_ptr<Destination>* out) {
  std::unique_ptr<NbdDestination> d(new NbdDestination(uri, log));
  Status s;
  nbd_handle* h = d->Connect(&s);
  if (h == nullptr) return Status::InvalidArgument("dest=" + s.message());
  if (nbd_is_read_only(h) == 1) {
    nbd_close(h);
    return Status::InvalidArgument("dest=" + uri + ": the server's export is read-only");
  }
  d->Learn(h);
  // Disconnect now: nbdkit may fork before serving, and a connection must
  // not be shared by two processes.
  nbd_shutdown(h, 0);
  nbd_close(h);
  if (d->server_size_ == 0)
    return Status::InvalidArgument("dest=" + uri + ": the server's export is empty");
  *out = std::move(d);
  return Status::OK();
}

Status NbdDestination::Prepare(uint64_t export_size) {
  if (server_size_ < export_size)
    return Status::InvalidArgument(
        "dest=" + name() + ": the server's export holds " + std::to_string(server_size_) +
        " bytes, smaller than the export size " + std::to_string(export_size));
  export_size_ = export_size;
  return Status::OK();
}

Status NbdDestination::Start() {
  {
    // A read before now had a connection of its own; a server that takes
    // one client at a time (qemu-nbd's default) must be free for ours.
    MutexLock lock(&aside_mu_);
    if (aside_ != nullptr) nbd_close(aside_);
    aside_ = nullptr;
  }
  Status s;
  nbd_handle* h = Connect(&s);
  if (h == nullptr) return s;
  // The server may have been restarted with another size since Probe().
  const int64_t size = nbd_get_size(h);
  if (size < 0 || static_cast<uint64_t>(size) < export_size_) {
    nbd_close(h);
    return Status::IOError(EIO, name() + ": the server's export now holds " + std::to_string(size) +
                                    " bytes, smaller than the export size " +
                                    std::to_string(export_size_));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ == -1) {
    s = Status::FromErrno(name() + ": eventfd");
    nbd_close(h);
    return s;
  }
  // Asked before taking mu_: no libnbd call is made under it.
  const int sock = nbd_aio_get_fd(h);
  bool too_late;
  {
    MutexLock lock(&mu_);
    // Cancelled while connecting: the server answered too late.  Checked
    // under mu_, so a Cancel() from now on finds sock_fd_.
    too_late = cancelled();
    if (!too_late) {
      h_ = h;
      sock_fd_ = sock;
      state_ = Connection::kLive;
    }
  }
  if (too_late) {
    nbd_close(h);
    return Status::IOError(ECANCELED, name() + ": connect cancelled");
  }
  io_thread_ = std::thread([this] { PollLoop(); });
  Debug("connected");
  return Status::OK();
}

void NbdDestination::Cancel() {
  Destination::Cancel();
  // Shutting the socket down makes libnbd read end of file: it completes
  // every command in flight with an error, so nothing waits for a server
  // that stopped answering.  (Not through libnbd, whose lock the I/O
  // thread may hold while it waits for mu_.)
  MutexLock lock(&mu_);
  if (sock_fd_ >= 0) shutdown(sock_fd_, SHUT_RDWR);
}

void NbdDestination::Kick() const {
  const uint64_t one = 1;
  // EAGAIN: the counter is full, so the I/O thread will wake anyway.
  ssize_t r = write(wake_fd_, &one, sizeof one);
  (void)r;
}

void NbdDestination::PollLoop() {
  for (;;) {
    bool dead;
    {
      MutexLock lock(&mu_);
      if (stop_) return;
      dead = state_ == Connection::kDead;
    }
    // Once the connection is dead only the eventfd matters: stop.
    const unsigned dir = dead ? 0 : nbd_aio_get_direction(h_);
    struct pollfd fds[2] = {};
    fds[0].fd = dead ? -1 : nbd_aio_get_fd(h_);
    if (dir & LIBNBD_AIO_DIRECTION_READ) fds[0].events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE) fds[0].events |= POLLOUT;
    fds[1].fd = wake_fd_;
    fds[1].events = POLLIN;
    if (poll(fds, 2, -1) == -1) {
      if (errno == EINTR) continue;
      // Cannot happen with valid descriptors; do not spin if it does.
      MutexLock lock(&mu_);
      state_ = Connection::kDead;
      dead_reason_ = std::string("poll: ") + strerror(errno);
      cv_.SignalAll();
      continue;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      ssize_t r = read(wake_fd_, &n, sizeof n);
      (void)r;
    }
    if (dead) continue;
    int r = 0;
    if (fds[0].revents != 0) {
      // Ask libnbd again: another thread may have issued meanwhile.
      const unsigned now = nbd_aio_get_direction(h_);
      const short ev = fds[0].revents;
      if ((now & LIBNBD_AIO_DIRECTION_READ) && (ev & (POLLIN | POLLHUP | POLLERR)))
        r = nbd_aio_notify_read(h_);
      else if ((now & LIBNBD_AIO_DIRECTION_WRITE) && (ev & (POLLOUT | POLLHUP | POLLERR)))
        r = nbd_aio_notify_write(h_);
    }
    // Also when a thread issuing a command found the connection gone.
    const bool closed = nbd_aio_is_closed(h_) == 1;
    if (r == -1 || closed || nbd_aio_is_dead(h_) == 1 || (fds[0].revents & POLLNVAL)) {
      // libnbd has completed every command in flight with an error.
      const std::string why = r == -1  ? LastNbdError()
                              : closed ? "the server closed the connection"
                                       : "the connection failed";
      {
        MutexLock lock(&mu_);
        state_ = Connection::kDead;
        dead_reason_ = why;
        cv_.SignalAll();
      }
      Debug("connection lost: " + why);
    }
  }
}

void NbdDestination::StopPolling() {
  if (!io_thread_.joinable()) return;
  {
    MutexLock lock(&mu_);
    if (state_ == Connection::kLive) state_ = Connection::kClosing;
    // Nothing new is issued now; let what is in flight complete (or die
    // with the connection).
    cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return in_flight_ == 0 && issuing_ == 0; });
    stop_ = true;
  }
  Kick();
  io_thread_.join();
}

int NbdDestination::OnComplete(void* user_data, int* error) {
  Command* c = static_cast<Command*>(user_data);
  MutexLock lock(&c->dest->mu_);
  c->settled = true;
  c->dest->Settle(c, *error);
  return 1;  // retire the command
}

void NbdDestination::OnFree(void* user_data) {
  // After OnComplete; or instead of it, when libnbd refused to issue the
  // command (Issue() then records libnbd's reason).
  Command* c = static_cast<Command*>(user_data);
  {
    MutexLock lock(&c->dest->mu_);
    if (!c->settled) c->dest->Settle(c, EIO);
  }
  delete c;
}

void NbdDestination::Settle(Command* c, int err) {
  Op* op = c->op;
  if (err != 0 && op->err == 0) {
    op->err = err;
    op->err_offset = c->offset;
  }
  op->pending--;
  in_flight_--;
  if (op->pending == 0 && !op->issuing) {
    op->finished = true;
    if (op->async) finished_.push_back(op);
  }
  cv_.SignalAll();
}

bool NbdDestination::Issue(Op* op, int type, void* buf, uint64_t length, uint64_t offset) {
  Command* c = new Command{this, op, offset};
  {
    MutexLock lock(&mu_);
    if (state_ != Connection::kLive) {
      if (op->err == 0) {
        op->err = ENOTCONN;
        op->err_offset = offset;
      }
      op->not_live = state_ != Connection::kDead;
      delete c;
      return false;
    }
    // Counted before libnbd sees it: StopPolling() waits for it, so the
    // handle outlives this call.
    op->pending++;
    in_flight_++;
    issuing_++;
  }
  nbd_completion_callback cb = {OnComplete, c, OnFree};
  int64_t cookie = -1;
  switch (type) {
    case Op::kWrite:
      cookie = nbd_aio_pwrite(h_, buf, length, offset, cb, 0);
      break;
    // No LIBNBD_CMD_FLAG_NO_HOLE: the server may punch a hole.
    case Op::kZero:
      cookie = nbd_aio_zero(h_, length, offset, cb, 0);
      break;
    case Op::kRead:
      cookie = nbd_aio_pread(h_, buf, length, offset, cb, 0);
      break;
    case Op::kFlush:
      cookie = nbd_aio_flush(h_, cb, 0);
      break;
  }
  const int err = cookie == -1 ? LastNbdErrno() : 0;
  const std::string why = cookie == -1 ? LastNbdError() : "";
  {
    MutexLock lock(&mu_);
    issuing_--;
    cv_.SignalAll();
    // libnbd has called OnFree already: c is gone, op->err set to EIO at
    // this offset unless an earlier command failed first.
    if (cookie == -1 && op->err_offset == offset && op->detail.empty()) {
      op->err = err;
      op->detail = why;
    }
  }
  // The command is to be sent; or issuing failed, perhaps because the
  // connection is gone, which the I/O thread should notice.
  Kick();
  return cookie != -1;
}

bool NbdDestination::IssueAll(Op* op, uint8_t* read_buf) {
  const uint64_t end = op->offset + op->length;
  switch (op->kind) {
    case Op::kFlush:
      return Issue(op, Op::kFlush, nullptr, 0, 0);
    case Op::kRead:
      for (uint64_t at = op->offset; at < end; at += max_payload_)
        if (!Issue(op, Op::kRead, read_buf + (at - op->offset), std::min(max_payload_, end - at),
                   at))
          return false;
      return true;
    case Op::kWrite: {
      const uint8_t* data = op->extent.buffer ? op->extent.bytes() : op->data;
      for (uint64_t at = op->offset; at < end; at += max_payload_)
        if (!Issue(op, Op::kWrite, const_cast<uint8_t*>(data + (at - op->offset)),
                   std::min(max_payload_, end - at), at))
          return false;
      return true;
    }
    case Op::kZero: {
      if (can_zero_) {
        const uint64_t step = kMaxZeroRequest - kMaxZeroRequest % min_block_;
        for (uint64_t at = op->offset; at < end; at += step)
          if (!Issue(op, Op::kZero, nullptr, std::min(step, end - at), at)) return false;
        return true;
      }
      const uint64_t step = std::min<uint64_t>(kZeroBlockSize, max_payload_);
      for (uint64_t at = op->offset; at < end; at += step)
        if (!Issue(op, Op::kWrite, const_cast<uint8_t*>(kZeroBlock), std::min(step, end - at), at))
          return false;
      return true;
    }
  }
  return false;
}

void NbdDestination::Issued(Op* op) {
  MutexLock lock(&mu_);
  op->issuing = false;
  if (op->pending == 0) {
    op->finished = true;
    if (op->async) finished_.push_back(op);
  }
}

Status NbdDestination::Result(const Op& op) const {
  if (op.err == 0) return Status::OK();
  static const char* const what[] = {"write", "zero", "read", "flush"};
  std::string msg = name() + ": " + what[op.kind];
  if (op.kind != Op::kFlush) msg += " at offset " + std::to_string(op.err_offset);
  msg += ": " + (op.detail.empty() ? std::string(strerror(op.err)) : op.detail);
  if ((op.err == ENOTCONN || op.err == EIO) && state_ == Connection::kDead && !dead_reason_.empty())
    msg += " (connection lost: " + dead_reason_ + ")";
  return Status::IOError(op.err, msg);
}

Status NbdDestination::Wait(Op* op) {
  MutexLock lock(&mu_);
  cv_.Wait(&mu_, [op]() REQUIRES(mu_) { return op->finished; });
  return Result(*op);
}

Status NbdDestination::RunSync(Op* op, uint8_t* read_buf) {
  IssueAll(op, read_buf);
  Issued(op);
  return Wait(op);
}

Status NbdDestination::Submit(const Extent& extent, uint64_t tag) {
  if ((extent.offset | extent.length) % min_block_ != 0)
    return Status::IOError(EINVAL, name() + ": " + (extent.is_zero() ? "zero" : "write") +
                                       " at offset " + std::to_string(extent.offset) + " of " +
                                       std::to_string(extent.length) +
                                       " bytes is not aligned to the server's minimum block size " +
                                       std::to_string(min_block_));
  auto owned = std::make_unique<Op>();
  Op* op = owned.get();
  op->kind = extent.is_zero() ? Op::kZero : Op::kWrite;
  op->offset = extent.offset;
  op->length = extent.length;
  op->extent = extent;
  op->tag = tag;
  op->async = true;
  {
    MutexLock lock(&mu_);
    submitted_[tag] = std::move(owned);
  }
  const bool ok = IssueAll(op, nullptr);
  Issued(op);
  if (ok) return Status::OK();
  // The extent's own error: return it once the parts already issued are
  // done with the buffer, and keep it from Reap().
  MutexLock lock(&mu_);
  cv_.Wait(&mu_, [op]() REQUIRES(mu_) { return op->finished; });
  finished_.erase(std::find(finished_.begin(), finished_.end(), op));
  Status s = Result(*op);
  submitted_.erase(tag);
  return s;
}

Status NbdDestination::Reap(std::vector<uint64_t>* done, uint64_t* failed) {
  MutexLock lock(&mu_);
  cv_.Wait(&mu_, [this]() REQUIRES(mu_) { return !finished_.empty(); });
  Status first_error;
  while (!finished_.empty()) {
    Op* op = finished_.front();
    finished_.pop_front();
    if (op->err != 0 && first_error.ok()) {
      first_error = Result(*op);
      *failed = op->tag;
    } else if (op->err == 0) {
      done->push_back(op->tag);
    }
    submitted_.erase(op->tag);  // drops the extent: the buffer may be reused
  }
  return first_error;
}

Status NbdDestination::Write(const uint8_t* buf, uint64_t length, uint64_t offset) {
  Op op;
  op.kind = Op::kWrite;
  op.offset = offset;
  op.length = length;
  op.data = buf;
  return RunSync(&op, nullptr);
}

Status NbdDestination::Zero(uint64_t length, uint64_t offset) {
  Op op;
  op.kind = Op::kZero;
  op.offset = offset;
  op.length = length;
  return RunSync(&op, nullptr);
}

Status NbdDestination::Sync() {
  {
    MutexLock lock(&mu_);
    if (state_ == Connection::kDead)
      return Status::IOError(ENOTCONN, name() + ": flush: connection lost: " + dead_reason_);
    // Not connected yet (nothing written), or closed (flushed by Close()).
    if (state_ != Connection::kLive) return Status::OK();
  }
  if (!can_flush_) return Status::OK();
  Op op;
  op.kind = Op::kFlush;
  Debug("flush");
  Status s = RunSync(&op, nullptr);
  // Closing meanwhile: Close() flushes.
  return op.not_live ? Status::OK() : s;
}

Status NbdDestination::Read(uint8_t* buf, uint64_t length, uint64_t offset) {
  bool live;
  {
    MutexLock lock(&mu_);
    if (state_ == Connection::kDead)
      return Status::IOError(ENOTCONN, name() + ": read at offset " + std::to_string(offset) +
                                           ": connection lost: " + dead_reason_);
    live = state_ == Connection::kLive;
  }
  if (live) {
    Op op;
    op.kind = Op::kRead;
    op.offset = offset;
    op.length = length;
    Status s = RunSync(&op, buf);
    // Closing meanwhile: everything is flushed, read on the side.
    if (!op.not_live) return s;
  }
  return ReadAside(buf, length, offset);
}

namespace {

class NbdReadBack final : public ReadBack {
 public:
  explicit NbdReadBack(NbdDestination* dest) : dest_(dest) {}
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override {
    return dest_->Read(buf, length, offset);
  }
  bool direct() const override { return false; }
  Status Rewrite(const uint8_t* buf, uint64_t length, uint64_t offset) override {
    return dest_->WriteAside(buf, length, offset);
  }
  Status SyncRewrites() override { return dest_->FlushAside(); }

 private:
  NbdDestination* const dest_;
};

}  // namespace

Status NbdDestination::OpenReadBack(std::unique_ptr<ReadBack>* out) {
  *out = std::make_unique<NbdReadBack>(this);
  return Status::OK();
}

Status NbdDestination::ConnectAside(const char* what) {
  if (aside_ != nullptr) return Status::OK();
  Status s;
  aside_ = Connect(&s);
  if (aside_ == nullptr) return s;
  Debug(std::string("connected for ") + what);
  return Status::OK();
}

Status NbdDestination::WriteAside(const uint8_t* buf, uint64_t length, uint64_t offset) {
  MutexLock lock(&aside_mu_);
  if (Status s = ConnectAside("repairing"); !s.ok()) return s;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(max_payload_, length - done);
    if (nbd_pwrite(aside_, buf + done, n, offset + done, 0) == -1)
      return Status::IOError(LastNbdErrno(), name() + ": repair write at offset " +
                                                 std::to_string(offset + done) + ": " +
                                                 LastNbdError());
    done += n;
  }
  return Status::OK();
}

Status NbdDestination::FlushAside() {
  MutexLock lock(&aside_mu_);
  if (aside_ == nullptr) return Status::OK();
  if (nbd_can_flush(aside_) == 1 && nbd_flush(aside_, 0) == -1)
    return Status::IOError(LastNbdErrno(), name() + ": flush after repair: " + LastNbdError());
  return Status::OK();
}

Status NbdDestination::ReadAside(uint8_t* buf, uint64_t length, uint64_t offset) {
  MutexLock lock(&aside_mu_);
  if (Status s = ConnectAside("reading"); !s.ok()) return s;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(max_payload_, length - done);
    if (nbd_pread(aside_, buf + done, n, offset + done, 0) == -1) {
      Status s = Status::IOError(
          LastNbdErrno(),
          name() + ": read at offset " + std::to_string(offset + done) + ": " + LastNbdError());
      nbd_close(aside_);
      aside_ = nullptr;
      return s;
    }
    done += n;
  }
  // Before Start() the real connection may be on its way: a server that
  // takes one client at a time must not be kept busy by this one.
  bool starting;
  {
    MutexLock state_lock(&mu_);
    starting = state_ == Connection::kNone;
  }
  if (starting) {
    nbd_close(aside_);
    aside_ = nullptr;
  }
  return Status::OK();
}

Status NbdDestination::Close() {
  Status s = Sync();
  StopPolling();
  bool dead;
  {
    MutexLock lock(&mu_);
    dead = state_ == Connection::kDead;
    if (!dead) state_ = Connection::kClosed;
    sock_fd_ = -1;  // closed below: Cancel() must not shut down its reuse
  }
  if (h_ != nullptr) {
    // NBD_CMD_DISC: the server knows we are done, not gone.
    if (!dead) nbd_shutdown(h_, 0);
    nbd_close(h_);
    h_ = nullptr;
  }
  if (s.ok() && dead) {
    MutexLock lock(&mu_);
    s = Status::IOError(ENOTCONN, name() + ": connection lost: " + dead_reason_);
  }
  Debug("disconnected");
  return s;
}

}  // namespace fanout
