// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "util/rounding.h"

namespace fanout {

namespace {

// nbdkit_parse_size reports its own errors, but without the parameter's
// name.  Catch the common mistakes first so the user sees one line that
// names the parameter; nbdkit_parse_size then does the real parsing.
bool LooksLikeSize(const std::string& v) {
  size_t i = 0;
  while (i < v.size() && isspace(static_cast<unsigned char>(v[i]))) i++;
  const size_t digits = i;
  while (i < v.size() && isdigit(static_cast<unsigned char>(v[i]))) i++;
  if (i == digits) return false;
  if (i == v.size()) return true;
  // One of nbdkit's suffixes: b, s (512), k/K, m/M, g/G, t/T, p/P, e/E.
  return i + 1 == v.size() && std::string("bBsSkKmMgGtTpPeE").find(v[i]) != std::string::npos;
}

// nbdkit_parse_bool also reports its own errors, without the parameter's
// name: only hand it the words it accepts (any case).
bool LooksLikeBool(const std::string& v) {
  std::string lower;
  for (char c : v) lower += static_cast<char>(tolower(static_cast<unsigned char>(c)));
  for (const char* w : {"1", "true", "t", "yes", "y", "on", "0", "false", "f", "no", "n", "off"})
    if (lower == w) return true;
  return false;
}

// A whole number from min to max, in decimal digits only.
bool ParseCount(const std::string& value, unsigned long min, unsigned long max, unsigned* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = strtoul(value.c_str(), &end, 10);
  if (value.empty() || !isdigit(static_cast<unsigned char>(value[0])) || *end != '\0' ||
      errno != 0 || v < min || v > max)
    return false;
  *out = static_cast<unsigned>(v);
  return true;
}

// key=value where value is one of two words: sets *out to the matching
// value, or says which words there are.
template <typename T>
Status ParseChoice(const std::string& key, const std::string& value, const char* a, T va,
                   const char* b, T vb, T* out) {
  if (value == a)
    *out = va;
  else if (value == b)
    *out = vb;
  else
    return Status::InvalidArgument(key + "=" + value + ": must be '" + a + "' or '" + b + "'");
  return Status::OK();
}

}  // namespace

ConfigParser::ConfigParser(SizeParser parse_size, BoolParser parse_bool)
    : parse_size_(std::move(parse_size)), parse_bool_(std::move(parse_bool)) {
  if (!parse_bool_)
    parse_bool_ = [](const char* v) {
      const std::string s(v);
      if (s == "1" || s == "true" || s == "yes" || s == "on") return 1;
      if (s == "0" || s == "false" || s == "no" || s == "off") return 0;
      return -1;
    };
}

Status ConfigParser::ParseBool(const std::string& key, const std::string& value, bool* out) {
  // nbdkit_parse_bool prints its own error for a word it refuses: keep
  // those from it, so the user sees one line.
  const int b = LooksLikeBool(value) ? parse_bool_(value.c_str()) : -1;
  if (b < 0) return Status::InvalidArgument(key + "=" + value + ": must be true or false");
  *out = b == 1;
  return Status::OK();
}

Status ConfigParser::ParseSize(const std::string& key, const std::string& value, uint64_t* out) {
  if (!LooksLikeSize(value))
    return Status::InvalidArgument(key + "=" + value +
                                   ": not a size (a number with an optional k, M, G, T, P or E "
                                   "suffix, for example " +
                                   key + "=64M)");
  const int64_t v = parse_size_(value.c_str());
  if (v < 0) return Status::InvalidArgument(key + "=" + value + ": cannot be parsed as a size");
  *out = static_cast<uint64_t>(v);
  return Status::OK();
}

Status ConfigParser::Set(const std::string& key, const std::string& value) {
  if (key == "dest" || key == "cmd") return AddDestination(key, value);
  // The rest may be given once.
  if (std::find(seen_.begin(), seen_.end(), key) != seen_.end())
    return Status::InvalidArgument(key + "=" + value + ": " + key + "= was already given");
  std::optional<Status> s = SetSizing(key, value);
  if (!s) s = SetBehaviour(key, value);
  if (!s) return Status::InvalidArgument("unknown parameter '" + key + "'");
  if (s->ok()) seen_.push_back(key);
  return *s;
}

Status ConfigParser::AddDestination(const std::string& key, const std::string& value) {
  if (key == "dest") {
    if (value.empty()) return Status::InvalidArgument("dest=: the path is empty");
    config_.destinations.push_back({DestinationSpec::Source::kPath, value});
    return Status::OK();
  }
  if (value.empty()) return Status::InvalidArgument("cmd=: the command is empty");
  // The shell would run nothing and exit 0 at once: every write to it
  // would fail, for no reason the user could see.
  if (value.find_first_not_of(" \t\n\r\f\v") == std::string::npos)
    return Status::InvalidArgument("cmd=" + value + ": the command is only white space");
  config_.destinations.push_back({DestinationSpec::Source::kCommand, value});
  return Status::OK();
}

std::optional<Status> ConfigParser::SetSizing(const std::string& key, const std::string& value) {
  Status s;
  if (key == "size") {
    uint64_t v;
    s = ParseSize(key, value, &v);
    if (s.ok() && v == 0) s = Status::InvalidArgument("size=" + value + ": the size must not be 0");
    if (s.ok()) config_.size = v;
  } else if (key == "window") {
    s = ParseSize(key, value, &config_.window);
    if (s.ok() && config_.window < kPageSize)
      s = Status::InvalidArgument("window=" + value + ": the window must be at least 4096 bytes");
  } else if (key == "ahead") {
    s = ParseSize(key, value, &config_.ahead);
  } else if (key == "spill") {
    // The engine opens the spill file at configuration time (Engine::Open),
    // so a directory that cannot take it is one line at startup; only an
    // empty DIR, which would read as no spill= at all, is refused here.
    if (value.empty())
      s = Status::InvalidArgument("spill=: the directory name is empty");
    else
      config_.spill_dir = value;
  } else if (key == "spill-memory") {
    s = ParseSize(key, value, &config_.spill_memory);
    spill_memory_value_ = value;
    if (s.ok() && config_.spill_memory < kPageSize)
      s = Status::InvalidArgument("spill-memory=" + value + ": must be at least 4096 bytes");
  } else if (key == "bucket") {
    s = ParseSize(key, value, &config_.bucket);
    if (s.ok() && (config_.bucket < kPageSize || !IsAligned(config_.bucket, kPageSize) ||
                   config_.bucket > (1ull << 30)))
      s = Status::InvalidArgument("bucket=" + value +
                                  ": the bucket must be a multiple of 4096 between 4K and 1G");
  } else if (key == "buckets") {
    if (!ParseCount(value, 1, 1024, &config_.buckets))
      s = Status::InvalidArgument("buckets=" + value + ": must be a whole number from 1 to 1024");
  } else if (key == "lag") {
    s = ParseSize(key, value, &config_.lag);
    lag_value_ = value;
  } else {
    return std::nullopt;
  }
  return s;
}

std::optional<Status> ConfigParser::SetBehaviour(const std::string& key, const std::string& value) {
  Status s;
  if (key == "on-error") {
    s = ParseChoice(key, value, "continue", Config::OnError::kContinue, "fail",
                    Config::OnError::kFail, &config_.on_error);
  } else if (key == "quorum") {
    if (!ParseCount(value, 1, 65536, &config_.quorum))
      s = Status::InvalidArgument("quorum=" + value +
                                  ": must be a whole number of destinations, at least 1");
  } else if (key == "status") {
    if (value.empty())
      s = Status::InvalidArgument("status=: the file name is empty");
    else
      config_.status_file = value;
  } else if (key == "progress") {
    s = ParseBool(key, value, &config_.progress);
  } else if (key == "verify") {
    config_.repair = value == "repair";
    if (config_.repair)
      config_.verify = true;
    else if (!LooksLikeBool(value))
      s = Status::InvalidArgument("verify=" + value + ": must be true, false or repair");
    else
      s = ParseBool(key, value, &config_.verify);
  } else if (key == "detect-zeroes") {
    s = ParseBool(key, value, &config_.detect_zeroes);
  } else if (key == "holes") {
    s = ParseChoice(key, value, "write", Config::Holes::kWrite, "skip", Config::Holes::kSkip,
                    &config_.holes);
  } else if (key == "sha256") {
    s = ParseBool(key, value, &config_.sha256);
  } else if (key == "require-flush") {
    s = ParseBool(key, value, &config_.require_flush);
  } else if (key == "io") {
    s = ParseChoice(key, value, "uring", Config::Io::kUring, "sync", Config::Io::kSync,
                    &config_.io);
  } else if (key == "cache") {
    s = ParseChoice(key, value, "default", Config::Cache::kDefault, "none", Config::Cache::kNone,
                    &config_.cache);
  } else if (key == "direct") {
    s = ParseBool(key, value, &config_.direct);
  } else if (key == "stall-timeout") {
    if (!ParseCount(value, 0, 1u << 30, &config_.stall_timeout))
      s = Status::InvalidArgument("stall-timeout=" + value +
                                  ": must be a whole number of seconds (0: never)");
  } else {
    return std::nullopt;
  }
  return s;
}

Status ConfigParser::Complete() {
  if (config_.destinations.empty())
    return Status::InvalidArgument(
        "no destination: give at least one dest=PATH (or a bare PATH) or cmd=COMMAND");
  const bool spill_memory_given =
      std::find(seen_.begin(), seen_.end(), "spill-memory") != seen_.end();
  if (spill_memory_given && config_.spill_dir.empty())
    return Status::InvalidArgument("spill-memory=" + spill_memory_value_ +
                                   ": only means something with spill=DIR");
  if (spill_memory_given && config_.spill_memory < config_.bucket)
    return Status::InvalidArgument(
        "spill-memory=" + spill_memory_value_ +
        ": must be at least one bucket (bucket=" + std::to_string(config_.bucket) + ")");
  // A laggard is let go with what it has not fetched in its map, a bucket
  // or more; a lag smaller than that would never let one go.
  if (config_.lag != 0 && config_.lag < config_.bucket)
    return Status::InvalidArgument(
        "lag=" + lag_value_ +
        ": must be 0 or at least one bucket (bucket=" + std::to_string(config_.bucket) + ")");
  if (config_.lag != 0 && config_.destinations.size() < 2)
    return Status::InvalidArgument("lag=" + lag_value_ +
                                   ": needs at least two destinations (one falls behind "
                                   "while another keeps up)");
  if (config_.quorum > config_.destinations.size())
    return Status::InvalidArgument("quorum=" + std::to_string(config_.quorum) +
                                   ": there are only " +
                                   std::to_string(config_.destinations.size()) + " destinations");
  return Status::OK();
}

std::string SizeInHelp(uint64_t bytes) {
  static const char kSuffixes[] = "KMGTPE";
  std::string suffix;
  for (const char* p = kSuffixes; *p != '\0' && bytes != 0 && bytes % 1024 == 0; p++) {
    bytes /= 1024;
    suffix = *p;
  }
  return std::to_string(bytes) + suffix;
}

const char* ConfigParser::Help() {
  static const std::string help =
      "[dest=]PATH|URI      Destination: regular file, block device, FIFO or NBD server\n"
      "                     (nbd://, nbd+unix://, nbds://...) (repeatable).\n"
      "cmd=COMMAND          Destination: a shell command reading the image on stdin (repeatable).\n"
      "size=SIZE            Export size (default: smallest fixed-size destination).\n"
      "window=SIZE          Reorder window for stream destinations (default " +
      SizeInHelp(Config::kDefaultWindow) +
      ").\n"
      "ahead=SIZE           Budget for writes parked far beyond the window (default " +
      SizeInHelp(Config::kDefaultAhead) +
      ").\n"
      "spill=DIR            Keep window and parked bytes beyond spill-memory= in an unlinked\n"
      "                     sparse file in DIR, so window= can be as large as the image.\n"
      "spill-memory=SIZE    With spill=: memory for window chunks and parked bytes (default " +
      SizeInHelp(Config::kDefaultSpillMemory) +
      ").\n"
      "bucket=SIZE          Size of one bus buffer (default " +
      SizeInHelp(Config::kDefaultBucket) +
      ").\n"
      "buckets=N            Bus buffers in flight beyond the window (default " +
      std::to_string(Config::kDefaultBuckets) +
      ").\n"
      "lag=SIZE             A slow destination may fall this far behind and catch up from\n"
      "                     another instead of holding the client back (default 0: lock-step).\n"
      "on-error=continue|fail  After a destination fails: go on while quorum= are healthy\n"
      "                     (default), or fail every later request.\n"
      "quorum=N             Healthy destinations needed for requests to succeed (default 1).\n"
      "status=FILE          Write JSON status to FILE at least once a second.\n"
      "progress=BOOL        Show a progress bar per destination on stderr.\n"
      "verify=BOOL|repair   At the end, read every seekable destination back past the page\n"
      "                     cache and compare it with the image (default false); repair:\n"
      "                     rewrite the pages that differ from a destination that verified.\n"
      "detect-zeroes=BOOL   Whole 4K pages of zeros the client writes as data are zero\n"
      "                     requests: holes in files, no window memory (default true).\n"
      "holes=write|skip     skip: block devices keep what they held where the client\n"
      "                     zeroed or trimmed, and beyond the image, as bmaptool (default\n"
      "                     write).\n"
      "require-flush=BOOL   The run is complete only if a flush covered the client's last\n"
      "                     write; otherwise it ends interrupted (default false).\n"
      "sha256=BOOL          Compute the image's SHA-256 (default true; with only seekable\n"
      "                     destinations that costs one read of a destination at the end).\n"
      "io=uring|sync        Files and devices: io_uring, several writes in flight (default),\n"
      "                     or one pwrite at a time.\n"
      "cache=default|none   none: write back and drop each 32M of a file as it is written.\n"
      "direct=BOOL          Open files and block devices with O_DIRECT (default false).\n"
      "stall-timeout=SECONDS  Fail a destination that makes no progress for this long\n"
      "                     (default " +
      std::to_string(Config::kDefaultStallTimeout) + "; 0: never).";
  return help.c_str();
}

}  // namespace fanout
