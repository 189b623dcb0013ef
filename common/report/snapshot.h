// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Snapshot: the state of a run at one moment, as the status file, the
// progress bars and the summary show it.  Taken by Engine::TakeSnapshot()
// without the engine's lock, so a client blocked on back-pressure never
// freezes the display.
#ifndef FANOUT_REPORT_SNAPSHOT_H
#define FANOUT_REPORT_SNAPSHOT_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dest/destination.h"
#include "pipeline/destination_state.h"

namespace fanout {

// kInterrupted: the run ended before the client finished (Engine::Interrupt),
// a state as final as kFinished.
enum class RunState { kRunning, kFinishing, kVerifying, kFinished, kInterrupted };
// "running", "finishing", "verifying", "finished", "interrupted"
const char* RunStateName(RunState state);

struct DestinationSnapshot {
  std::string name;
  DestinationKind kind;
  DestinationState state;
  uint64_t bytes = 0;  // performed so far (rewrites count again)
  double seconds = 0;  // from the start to the end of this destination, or now
  double rate = 0;     // bytes / seconds
  std::optional<Failure> failure;
  std::optional<int> exit_status;
  // verify=: bytes read back and compared so far, once verification began.
  std::optional<uint64_t> verified_bytes;
  // Still writing, but with work and no progress for a while
  // (stall_watch.h): for how many seconds.  The state stays kWriting.
  std::optional<double> stalled_seconds;
  // lag=: behind the others and catching up (the state stays kWriting; the
  // status file says "behind"): how many bytes of the export it has still
  // to catch up.  How many times it fell behind, and the bytes it copied
  // catching up, over the run.
  std::optional<uint64_t> behind_bytes;
  uint64_t fell_behind = 0;
  uint64_t caught_up_bytes = 0;
  // What was done with the bytes from the bus: written as data, zeroed,
  // left alone (holes=skip); bytes is their sum plus caught_up_bytes.
  uint64_t data_bytes = 0;
  uint64_t zero_bytes = 0;
  uint64_t skipped_bytes = 0;
  // holes=skip on a block device: it holds the image's data ranges, and
  // in its holes what it held before, as bmaptool leaves a device.
  bool holds_data_ranges = false;
  // verify=repair: the pages rewritten (state kRepaired).
  std::optional<uint64_t> repaired_pages;
};

struct Snapshot {
  uint64_t size = 0;
  uint64_t committed = 0;  // bytes of the export handed to the destinations
  RunState state = RunState::kRunning;
  double elapsed = 0;  // seconds since serving started
  // kInterrupted: why, one line ("nbdkit received SIGTERM while 1 client
  // was connected").
  std::string interrupted_reason;
  // The heartbeat, so a reader of the status file can tell a dead run from
  // a slow one: the process writing it, when it was taken, and when a
  // client last wrote (UNIX time in seconds; nullopt: no write yet).
  int pid = 0;
  double updated = 0;
  std::optional<double> last_write;
  // The failure policy refused a client request at some point: what the
  // destinations hold is what the client wrote until then.
  bool refused_requests = false;
  // lag=: the lag allowed (0: lock-step); with streams only, the size of
  // the catch-up log in spill=DIR (0: none).
  uint64_t lag = 0;
  uint64_t catch_up_log_bytes = 0;
  // verify= (0: no, 1: true, 2: repair), for what the summary says of
  // streams, which are never read back.
  int verify = 0;
  // detect-zeroes= and holes=skip.
  bool detect_zeroes = true;
  bool skip_holes = false;
  // The image as users compare it: [0, image_bytes), image_bytes the
  // highest end of a client's write or zero, and its SHA-256 once known.
  uint64_t image_bytes = 0;
  std::optional<std::string> image_sha256;
  std::vector<DestinationSnapshot> destinations;
  // The final image's SHA-256 (hex) once known; otherwise, at the end, why
  // it is unavailable.
  std::optional<std::string> sha256;
  std::string sha256_unavailable;

  // Destinations that failed, mismatched, could not be verified, or are
  // incomplete.
  size_t failed() const;
};

}  // namespace fanout

#endif  // FANOUT_REPORT_SNAPSHOT_H
