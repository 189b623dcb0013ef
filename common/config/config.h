// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Config: the plugin's parameters, parsed and checked without nbdkit.
//
// The glue feeds every key=value to Set() (bare arguments arrive as
// dest=...), then calls Complete() for the checks that involve several keys.
// Size and boolean syntax is parsed by functions the glue injects
// (nbdkit_parse_size and nbdkit_parse_bool), so the engine has no nbdkit
// calls and the unit tests can run it alone.
//
// Every error is one line that names the parameter and what was wrong.
#ifndef FANOUT_CONFIG_CONFIG_H
#define FANOUT_CONFIG_CONFIG_H

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dest/destination_spec.h"
#include "util/status.h"

namespace fanout {

struct Config {
  static constexpr uint64_t kDefaultWindow = 64ull << 20;
  static constexpr uint64_t kDefaultBucket = 4ull << 20;
  static constexpr unsigned kDefaultBuckets = 4;
  static constexpr uint64_t kDefaultAhead = 64ull << 20;
  static constexpr uint64_t kDefaultSpillMemory = 64ull << 20;
  static constexpr unsigned kDefaultStallTimeout = 120;

  enum class OnError { kContinue, kFail };
  // io=: how files and block devices are written.
  enum class Io { kUring, kSync };
  // cache=: what happens to the page cache behind file writes.
  enum class Cache { kDefault, kNone };
  // holes=: what block devices do with the ranges the client zeroed or
  // trimmed, and with the bytes it never wrote.
  enum class Holes { kWrite, kSkip };

  std::vector<DestinationSpec> destinations;  // in the order given
  std::optional<uint64_t> size;               // size=, if given
  uint64_t window = kDefaultWindow;
  uint64_t ahead = kDefaultAhead;  // ahead=: budget of parked far writes (0: none)
  std::string spill_dir;           // spill=DIR ("" = none): window and parked bytes beyond
                                   // spill_memory go to a temporary file there
  uint64_t spill_memory = kDefaultSpillMemory;  // spill-memory=
  uint64_t bucket = kDefaultBucket;
  unsigned buckets = kDefaultBuckets;
  // lag=: how far (bytes of the export) a slow destination may fall behind
  // the others and catch up on its own before the client waits for it
  // (0: lock-step).
  uint64_t lag = 0;
  OnError on_error = OnError::kContinue;  // on-error=
  unsigned quorum = 1;                    // quorum=: healthy destinations needed
  std::string status_file;                // status=FILE ("" = none)
  bool progress = false;                  // progress=true
  bool verify = false;                    // verify=true: read back and compare at the end
  bool repair = false;  // verify=repair: and rewrite the pages that differ from a good copy
  // detect-zeroes=: data that is all zeros in whole pages is a zero request.
  bool detect_zeroes = true;
  Holes holes = Holes::kWrite;  // holes=
  bool sha256 = true;           // sha256=false: no image digest (and its cost)
  // require-flush=true: the run is complete only if a flush from the client
  // covered its last write; otherwise it ends interrupted.
  bool require_flush = false;
  Io io = Io::kUring;             // io=
  Cache cache = Cache::kDefault;  // cache=
  bool direct = false;            // direct=true: O_DIRECT
  // stall-timeout=: seconds a destination with work may go without
  // progress before it fails (0: never; see stall_watch.h).
  unsigned stall_timeout = kDefaultStallTimeout;
};

// A size as nbdkit's syntax writes it shortest (64M, 4M, 4096), for the
// defaults in help texts.
std::string SizeInHelp(uint64_t bytes);

class ConfigParser {
 public:
  // Parses a size in nbdkit's syntax; returns -1 (having reported) on error.
  using SizeParser = std::function<int64_t(const char*)>;
  // Parses a boolean in nbdkit's syntax: 1, 0, or -1 (having reported).
  using BoolParser = std::function<int(const char*)>;

  // Without parse_bool, only true/false/yes/no/on/off/1/0 are accepted (the
  // unit tests); the plugin passes nbdkit_parse_bool.
  explicit ConfigParser(SizeParser parse_size, BoolParser parse_bool = nullptr);

  // Takes one parameter.  Unknown keys, bad values and repeated single-valued
  // keys are errors.
  Status Set(const std::string& key, const std::string& value);
  // Checks the parameters together (at least one destination, bounds).
  Status Complete();

  const Config& config() const { return config_; }

  // The keys Set() accepts, for --help; one "key=VALUE  description" per line,
  // the defaults from Config's constants.
  static const char* Help();

 private:
  Status ParseSize(const std::string& key, const std::string& value, uint64_t* out);
  Status ParseBool(const std::string& key, const std::string& value, bool* out);
  // Set() for dest= and cmd=, the keys that may be repeated.
  Status AddDestination(const std::string& key, const std::string& value);
  // Set() for the keys that size the export and the memory (size=,
  // window=, ahead=, spill=, spill-memory=, bucket=, buckets=, lag=), and for
  // those that choose what happens (the failure policy, the reports,
  // verify= and sha256=, how files are written, stall-timeout=):
  // nullopt if key is not one of theirs.
  std::optional<Status> SetSizing(const std::string& key, const std::string& value);
  std::optional<Status> SetBehaviour(const std::string& key, const std::string& value);

  SizeParser parse_size_;
  BoolParser parse_bool_;
  Config config_;
  std::vector<std::string> seen_;   // single-valued keys given so far
  std::string spill_memory_value_;  // spill-memory= as given, for messages
  std::string lag_value_;           // lag= as given, for messages
};

}  // namespace fanout

#endif  // FANOUT_CONFIG_CONFIG_H
