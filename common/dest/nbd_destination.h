// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// NBD destinations: dest=URI, an NBD server (nbdkit, qemu-nbd, another
// fanout) reached through libnbd (nbd://, nbd+unix://, nbds:// with TLS, and
// every other URI nbd_connect_uri(3) takes).
//
// Life cycle.  nbdkit may fork after configuration (background mode,
// --run), and a libnbd connection must not cross a fork, so Probe() connects
// at configuration time only to learn the export's size and what the server
// can do (zero, flush, block sizes), then disconnects.  Start(), in the
// writer thread, connects for real.  Relative local paths in the URI's query
// (socket=R1) are made absolute at Probe() time, since nbdkit changes to /
// when it forks into the background.
//
// What is sent.  Data extents: NBD_CMD_WRITE, split at the server's maximum
// payload (32 MiB if it does not say, libnbd's 64 MiB at most; pieces start
// at multiples of it, so at multiples of the preferred block size).  Zero
// extents: NBD_CMD_WRITE_ZEROES without NO_HOLE, so the server may punch a
// hole (a trim that reads back as zeros), when the server supports it;
// otherwise zeros are written from a static block.  A plain NBD_CMD_TRIM is
// never sent: the export must read back zeros where the client trimmed, and
// a trim does not promise that.  Sync(): NBD_CMD_FLUSH when the server
// supports it.  Extents must be aligned to the server's minimum block size
// (they are when the client writes aligned blocks, as nbdcopy and qemu-img
// do): an unaligned one fails the destination; it is not
// read-modify-written, which would touch bytes of neighbouring extents in
// flight.
//
// Threads.  libnbd's handle has its own lock, so any thread may issue
// nbd_aio_* commands; but someone must drive the socket, and libnbd 1.14's
// nbd_poll() holds the handle's lock while it sleeps in poll(2), so a thread
// sleeping in it would block every other thread's commands until the
// server next replies (forever, with nothing in flight).  Instead each
// connection has one I/O thread, the only caller of nbd_aio_notify_*: it
// polls the handle's socket (in the direction libnbd asks for) and an
// eventfd that every thread writes after issuing a command, so a command
// issued while it sleeps is sent at once.  Completion callbacks run on the
// I/O thread (with libnbd's lock held: they only take mu_ and never call
// libnbd).  The writer thread issues with Submit() and waits in Reap();
// Read() and Sync() from other threads issue on the same connection and wait
// for their own commands, so they see exactly what the writer's completed
// commands wrote.  mu_ is never held across a libnbd call (the I/O thread
// holds libnbd's lock when it takes mu_ in a callback).
//
// When the server drops the connection, libnbd completes every command in
// flight with an error (ENOTCONN), commands issued afterwards fail at once,
// and the I/O thread stops polling; nothing waits for a reply that cannot
// come.  A server that stops answering but keeps the connection (or a host
// that vanishes without a reset) is the stall watch's (stall-timeout=):
// Cancel() shuts the socket down, which libnbd sees as the server closing
// it.  Connecting is asynchronous too (nbd_aio_connect_uri, polled here):
// a server that accepts the connection but never completes the handshake
// fails the connect after kHandshakeTimeout (at Probe() time nbdkit refuses
// to start, naming the destination, instead of hanging), and in the writer
// thread Cancel() (the stall watch) wakes the connect at once, ECANCELED.
//
// Read() before the connection is up or after Close() (a verification pass
// at the end) uses a second, synchronous connection of its own, closed
// before the real one is made (qemu-nbd serves one client by default).
#ifndef FANOUT_DEST_NBD_DESTINATION_H
#define FANOUT_DEST_NBD_DESTINATION_H

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dest/destination.h"
#include "util/logger.h"
#include "util/mutex.h"

struct nbd_handle;

namespace fanout {

// Whether dest=VALUE names an NBD server (nbd:, nbds:, nbd+unix:, ...)
// rather than a path.
bool IsNbdUri(const std::string& value);

class NbdDestination final : public Destination {
 public:
  // Connects to uri, checks it can be written, learns its size and
  // capabilities, and disconnects; or returns one line naming dest=URI.
  // log (debug under -D fanout.writer=1) must outlive the destination.
  static Status Probe(const std::string& uri, Logger* log, std::unique_ptr<Destination>* out);
  // Waits for every command in flight, then disconnects.
  ~NbdDestination() override;

  DestinationKind kind() const override { return DestinationKind::kNbd; }
  bool seekable() const override { return true; }
  // The server's export size: a server is as fixed as a block device.
  std::optional<uint64_t> fixed_size() const override { return server_size_; }

  // Fails if the server's export is smaller than the export.
  Status Prepare(uint64_t export_size) override;
  // Connects and starts the I/O thread.  Blocks while connecting (at most
  // kHandshakeTimeout; Cancel() wakes it).
  Status Start() override;
  // One extent at a time, waiting for it (the asynchronous path is the
  // normal one; these exist for the contract).
  Status Write(const uint8_t* buf, uint64_t length, uint64_t offset) override;
  Status Zero(uint64_t length, uint64_t offset) override;
  unsigned queue_depth() const override { return kQueueDepth; }
  Status Submit(const Extent& extent, uint64_t tag) override;
  Status Reap(std::vector<uint64_t>* done, uint64_t* failed) override;
  Status Sync() override;
  Status Read(uint8_t* buf, uint64_t length, uint64_t offset) override;
  // Flushes, waits for the I/O thread, and disconnects (NBD_CMD_DISC).
  Status Close() override;
  // Shuts the connection's socket down (see above).
  void Cancel() override;
  // verify=true: reads through Read() (a connection of its own after
  // Close()).  The server's own cache is the server's: what a client of it
  // reads is what this checks.
  Status OpenReadBack(std::unique_ptr<ReadBack>* out) override;
  // verify=repair, after the end: writes on the second connection, and
  // flushes them.
  Status WriteAside(const uint8_t* buf, uint64_t length, uint64_t offset);
  Status FlushAside();

 private:
  // Extents in flight: enough to keep a server busy while the bus feeds
  // the next ones (nbdcopy keeps 64 requests of 256 KiB; ours are larger).
  static constexpr unsigned kQueueDepth = 16;
  // How long a connect waits for the server to complete the NBD handshake
  // (TCP or Unix connect, TLS, option negotiation) before it fails with
  // ETIMEDOUT: far longer than any live server takes, short enough that a
  // silent one does not look like a hung nbdkit.
  static constexpr std::chrono::seconds kHandshakeTimeout{30};

  struct Op;
  struct Command;
  enum class Connection { kNone, kLive, kClosing, kClosed, kDead };

  NbdDestination(std::string uri, Logger* log);
  // A new handle connected to name(), or null with *s set: cannot connect,
  // ETIMEDOUT after kHandshakeTimeout, ECANCELED at Cancel().
  nbd_handle* Connect(Status* s) const;
  // Learns size and capabilities from a connected handle.
  void Learn(nbd_handle* h);
  void Debug(const std::string& msg) const;

  // Issues op's commands (op->extent, or the Read/Flush it describes).
  // Returns false if an issue failed; commands issued before it are still
  // in flight and complete as usual.
  bool IssueAll(Op* op, uint8_t* read_buf);
  bool Issue(Op* op, int type, void* buf, uint64_t length, uint64_t offset);
  // Marks op fully issued; it finishes when its commands have completed.
  void Issued(Op* op);
  // Waits for a synchronous op and returns its result.
  Status Wait(Op* op);
  // Runs a synchronous op (Write, Zero, Read, Sync) on the live connection.
  Status RunSync(Op* op, uint8_t* read_buf);
  Status Result(const Op& op) const REQUIRES(mu_);
  // libnbd callbacks (I/O thread, or the issuing thread on issue failure).
  static int OnComplete(void* user_data, int* error);
  static void OnFree(void* user_data);
  // Counts c's command as done (err: its error, or 0) and finishes its op
  // if it was the last.  The callers mark c settled themselves, where the
  // lock they hold is named c->dest->mu_: the analysis cannot see that
  // c->dest is this.
  void Settle(Command* c, int err) REQUIRES(mu_);
  void Kick() const;  // wakes the I/O thread
  void PollLoop();
  // Stops the I/O thread once nothing is in flight.
  void StopPolling();
  Status ReadAside(uint8_t* buf, uint64_t length, uint64_t offset);
  // Opens the second connection unless it is open (what: for the debug log).
  Status ConnectAside(const char* what) REQUIRES(aside_mu_);

  Logger* const log_;
  // name() with relative local paths made absolute (socket=, ...).
  const std::string connect_uri_;
  // Learnt at Probe() time.
  uint64_t server_size_ = 0;
  uint64_t min_block_ = 1;
  uint64_t max_payload_ = 32u << 20;
  bool can_zero_ = false;
  bool can_flush_ = false;
  uint64_t export_size_ = 0;

  nbd_handle* h_ = nullptr;  // the connection: set by Start(), the writer thread
  int wake_fd_ = -1;         // eventfd: a command was issued, or stop
  std::thread io_thread_;

  mutable Mutex mu_;
  CondVar cv_;  // an op finished; in_flight_ fell
  Connection state_ GUARDED_BY(mu_) = Connection::kNone;
  std::string dead_reason_ GUARDED_BY(mu_);  // why the connection died
  unsigned in_flight_ GUARDED_BY(mu_) = 0;   // commands not yet settled
  unsigned issuing_ GUARDED_BY(mu_) = 0;     // threads inside nbd_aio_*
  bool stop_ GUARDED_BY(mu_) = false;
  int sock_fd_ GUARDED_BY(mu_) = -1;  // h_'s socket, while h_ is open
  std::map<uint64_t, std::unique_ptr<Op>> submitted_ GUARDED_BY(mu_);  // by tag
  std::deque<Op*> finished_ GUARDED_BY(mu_);                           // submitted, not reaped

  // The second connection, for Read() alone.  ReadAside() looks at state_
  // while it holds this.
  Mutex aside_mu_ ACQUIRED_BEFORE(mu_);
  nbd_handle* aside_ GUARDED_BY(aside_mu_) = nullptr;
};

}  // namespace fanout

#endif  // FANOUT_DEST_NBD_DESTINATION_H
