// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Destination: the contract every destination kind fulfils (file and block
// device, FIFO and other streams, command, NBD server), in the manner of
// nbdcopy's ops table.  Each kind is one file: file_destination,
// stream_destination, command_destination, nbd_destination.
// OpenDestination (destination_factory.h) chooses the kind, and
// DestinationSet (destination_set.h) opens and checks them all.
//
// Life cycle, and which thread calls what:
//   OpenDestination()      config time: classify (URI or stat), validate, open
//                          what can be opened without blocking (an NBD
//                          server is asked its size, then let go).
//   Prepare(size)          config time, once the export size is known: size
//                          the file, check the device is large enough.
//   Start()                the destination's writer thread, before the first
//                          extent: start a command, open a FIFO.  Never
//                          blocks: EAGAIN means "not yet" (a FIFO with no
//                          reader), and the writer calls it again.
//   Write() / Zero()       the writer thread only, in bus order.  Streams
//                          require offset == the bytes written so far.
//   Submit() / Reap()      the writer thread only, instead of Write/Zero, for
//                          kinds that keep several operations in flight
//                          (queue_depth() > 1).
//   Sync()                 any thread (flush), concurrently with the writer.
//   Read()                 any thread; seekable kinds only.
//   Close()                the writer thread, at end of stream: sync, close,
//                          wait for a command and check its exit status.
//   Interrupt()            any thread, once the run is interrupted: make an
//                          operation blocked in the writer return (a
//                          command is sent SIGTERM).  Thread-safe.
//   Abort()                the writer thread, instead of Close(), when the
//                          run was interrupted: end without a well-formed
//                          end of stream (see Abort()).
//   OpenReadBack()         the verifier, after Close(): a reader of what the
//                          media holds (verify=); seekable kinds only.
//   Cancel()               any thread (the stall watch, an interruption):
//                          wakes the writer thread from every wait that can
//                          be woken, which then fails with ECANCELED.
//   last_progress()        any thread: when the writer thread last got on.
//
// Errors.  Every failed Status a destination returns (from any method
// above, and from its ReadBack) has a message that starts with its name()
// and ": " ("out.img: write at offset 4096: No space left on device"), so
// that callers can add to it, or join two of them, without saying the name
// again or looking for it.  Its errno is what the NBD client is to see,
// except for two conventions between a destination and its writer
// (status.h has the predicates):
//   EAGAIN (not_ready())       from Start() only: not yet, call it again.
//   ENOTSUP (not_supported())  this kind cannot do that at all
//                              (OpenReadBack() on a stream).
// ECANCELED is the error of every wait that Cancel() ended.  Errors before
// a destination exists (OpenDestination) name the parameter instead:
// "dest=PATH: ...".
//
// Never blocked for ever.  A FIFO and a command's stdin are written
// O_NONBLOCK and wait in poll(2) for room or for Cancel(); a command's exit
// is waited for in poll(2) on a pidfd, and Cancel() kills it (SIGKILL); an
// NBD connection's socket is shut down by Cancel(), so libnbd completes
// every command in flight with an error.  What cannot be woken is I/O a
// file or block device has in the kernel (a device that never completes a
// write): the writer
// thread is then abandoned (Writer::JoinUntil) and the destination lives on
// with it, so it may wake at any later time.
#ifndef FANOUT_DEST_DESTINATION_H
#define FANOUT_DEST_DESTINATION_H

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dest/destination_identity.h"
#include "util/absolute_path.h"
#include "util/fd_io.h"
#include "util/logger.h"
#include "util/rounding.h"
#include "util/status.h"
#include "window/extent.h"

namespace fanout {

enum class DestinationKind { kFile, kBlock, kFifo, kCommand, kNbd };

// "file", "block", "fifo", "command", "nbd": the names the status file uses.
const char* KindName(DestinationKind kind);

// Reads a destination back from its media, past the page cache, for
// verify=: a reader that sees the page cache would see what was written,
// not what the device kept ("verification is always too fast").  Files and
// block devices use O_DIRECT where the file system allows it; elsewhere
// (tmpfs) they sync and drop the cached pages before reading, and drop the
// pages they read again, so verifying leaves none behind.
//
// One thread uses a reader; readers of different destinations run at once.
class ReadBack {
 public:
  // Buffers, offsets and lengths passed to Read() are multiples of this.
  static constexpr size_t kAlignment = kPageSize;

  virtual ~ReadBack() = default;
  // Reads [offset, offset + length) into buf; bytes past the end of the
  // destination read as zeros.  REQUIRES: aligned as above.
  virtual Status Read(uint8_t* buf, uint64_t length, uint64_t offset) = 0;
  // Whether reads bypass the page cache (O_DIRECT), for the debug log.
  virtual bool direct() const = 0;
  // verify=repair: writes [offset, offset + length) back (pages found to
  // differ), and makes those writes durable; a reader opened after
  // SyncRewrites() reads what they wrote from the media.  Destinations
  // that cannot be written after the end say so.
  virtual Status Rewrite(const uint8_t* buf, uint64_t length, uint64_t offset);
  virtual Status SyncRewrites() { return Status::OK(); }
};

class Destination {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Destination(std::string name);
  virtual ~Destination();
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;

  // As the user named it: the path, or the command.
  const std::string& name() const { return name_; }
  virtual DestinationKind kind() const = 0;
  // Takes extents at any offset, any number of times, and can be read back.
  virtual bool seekable() const = 0;
  // The size this destination imposes on the export, if any (a block
  // device; an existing, non-empty regular file).
  virtual std::optional<uint64_t> fixed_size() const { return std::nullopt; }
  // A command's exit status, once it has exited.  Thread-safe.
  virtual std::optional<int> exit_status() const { return std::nullopt; }
  // What this destination is (see DestinationIdentity), for a path; a
  // command or an NBD server has none.
  virtual std::optional<DestinationIdentity> identity() const { return std::nullopt; }

  // Configuration failed after this destination was opened: undo what
  // opening did (a file it created is removed).
  virtual void Abandon() {}

  virtual Status Prepare(uint64_t export_size) = 0;
  virtual Status Start() = 0;
  virtual Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) = 0;
  virtual Status Zero(uint64_t length, uint64_t offset) = 0;
  // Asynchronous I/O.  A kind that can keep several operations in flight
  // (io_uring, an NBD server) returns its depth here; the writer then hands
  // it extents with Submit() and learns of their completion from Reap().
  // The writer never submits an extent that overlaps one still in flight,
  // and marks extents applied on the bus only once they have completed, in
  // bus order, so reads and flush see exactly what the destination holds.
  // The defaults perform each extent synchronously with Write/Zero.
  virtual unsigned queue_depth() const { return 1; }
  // Starts the extent; the destination keeps `extent` (its reference to the
  // buffer) until the operation completes.  A destination destroyed (or
  // closed) with operations in flight waits for them first.  The writer
  // stops reaping when it fails, so after returning an error (here or from
  // Reap) a destination should hold no extent any more: its buffers would
  // stay out of the pool until the engine goes.  `tag` identifies it in Reap().
  // An error returned here is the extent's own.
  virtual Status Submit(const Extent& extent, uint64_t tag);
  // Waits until at least one submitted operation has completed (at once if
  // some already have) and appends their tags to *done.  On an operation's
  // error, returns it and sets *failed to its tag; what completed before
  // it is still in *done.
  virtual Status Reap(std::vector<uint64_t>* done, uint64_t* failed);

  virtual Status Sync() = 0;
  // REQUIRES: seekable().
  virtual Status Read(uint8_t* buf, uint64_t length, uint64_t offset) = 0;
  virtual Status Close() = 0;
  // The run was interrupted: from any thread, make what blocks the writer
  // give up soon (a stream stops zero-filling, a command's process group is
  // sent SIGTERM).  Thread-safe, idempotent.  The default cancels every
  // wait that can be woken (Cancel()).
  virtual void Interrupt() { Cancel(); }
  // Instead of Close() when the run was interrupted: the destination ends
  // without a well-formed end.  A FIFO is closed at what it has got (its
  // reader sees a short stream); a command is killed (SIGTERM, then
  // SIGKILL) before its standard input is closed, so a compressor does not
  // finish an archive that would look complete; seekable destinations keep
  // what they hold, unsynced (the default: nothing to do; their descriptor
  // goes with the destination).
  virtual Status Abort() { return Status::OK(); }
  // Opens a reader of the destination's media (see ReadBack).  REQUIRES:
  // seekable(); Close() was called.  Kinds that cannot be read back say so.
  virtual Status OpenReadBack(std::unique_ptr<ReadBack>* out) {
    (void)out;
    return Status::IOError(ENOTSUP, name() + ": cannot be read back");
  }

  // Gives up on whatever the writer thread waits for (see the top of this
  // file): from now on every wait that can be woken ends with ECANCELED,
  // and a command is killed.  Kinds override it to wake what is theirs,
  // calling this one.  Thread-safe; idempotent.
  virtual void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Marks that the writer thread got on (an extent taken or completed, part
  // of a write accepted by a pipe).  Thread-safe.
  void NoteProgress() { progress_ns_ = Clock::now().time_since_epoch().count(); }
  Clock::time_point last_progress() const {
    return Clock::time_point(Clock::duration(progress_ns_.load()));
  }
  // A count the kernel moves on while it performs this destination's I/O
  // (the sectors its block device has written), for I/O that takes long
  // in one call (the final sync of a large page cache onto a slow device):
  // while it moves, the destination is not stalled.  0 where there is none.
  virtual uint64_t kernel_progress() const { return 0; }

 protected:
  // An eventfd that becomes readable at Cancel(): poll(2) it beside what
  // the writer waits for.
  int cancel_fd() const { return cancel_fd_; }

 private:
  const std::string name_;
  int cancel_fd_ = -1;
  std::atomic<bool> cancelled_{false};
  std::atomic<Clock::rep> progress_ns_;
  std::vector<uint64_t> completed_;  // default Submit/Reap: done, not yet reaped
};

// How files and block devices are written: io=, cache=, direct=.
struct FileIoOptions {
  bool uring = false;       // io=uring: several writes in flight (file_destination.h)
  bool drop_cache = false;  // cache=none (writeback.h)
  bool direct = false;      // direct=true: O_DIRECT
};

// Writes length zero bytes, in pieces, as WriteFully (fd_io.h) does.
Status WriteZeros(int fd, uint64_t length, off_t offset, const std::string& name);

}  // namespace fanout

#endif  // FANOUT_DEST_DESTINATION_H
