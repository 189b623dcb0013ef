// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

#include "config/tee_config.h"

#include <cctype>
#include <cstring>
#include <utility>

#include "dest/destination.h"
#include "report/status_json.h"

namespace fanout {

namespace {

// The fanout key behind each of the filter's, in both directions.
struct KeyPair {
  const char* tee;
  const char* fanout;
};
constexpr KeyPair kKeys[] = {
    {"tee", "dest"},
    {"tee-cmd", "cmd"},
    {"tee-on-error", "on-error"},
    {"tee-quorum", "quorum"},
    {"tee-status", "status"},
    {"tee-progress", "progress"},
    {"tee-window", "window"},
    {"tee-ahead", "ahead"},
    {"tee-bucket", "bucket"},
    {"tee-buckets", "buckets"},
    {"tee-spill", "spill"},
    {"tee-spill-memory", "spill-memory"},
    {"tee-verify", "verify"},
    {"tee-detect-zeroes", "detect-zeroes"},
    {"tee-holes", "holes"},
    {"tee-sha256", "sha256"},
    {"tee-io", "io"},
    {"tee-cache", "cache"},
    {"tee-direct", "direct"},
    {"tee-require-flush", "require-flush"},
    {"tee-stall-timeout", "stall-timeout"},
};

// A character that can be part of a key: "KEY=" preceded by one of these is
// the tail of a longer key (tee-window=, not window=).
bool KeyChar(char c) {
  return isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

}  // namespace

TeeConfigParser::TeeConfigParser(ConfigParser::SizeParser parse_size,
                                 ConfigParser::BoolParser parse_bool)
    : parser_(std::move(parse_size), std::move(parse_bool)) {}

bool TeeConfigParser::IsTeeKey(const std::string& key) {
  return key == "tee" || key.rfind("tee-", 0) == 0;
}

Status TeeConfigParser::Set(const std::string& key, const std::string& value) {
  for (const KeyPair& k : kKeys) {
    if (key != k.tee) continue;
    Status s = parser_.Set(k.fanout, value);
    if (s.ok()) return s;
    return Status::InvalidArgument(UserSpelling(s.message()));
  }
  // tee-size= in particular: the size is the plugin's.
  return Status::InvalidArgument("unknown parameter '" + key + "'");
}

void TeeConfigParser::NotePluginParameter(const std::string& key, const std::string& value) {
  plugin_parameters_.emplace_back(key, value);
}

Status TeeConfigParser::Complete() {
  if (parser_.config().destinations.empty())
    return Status::InvalidArgument(
        "no tee destination: give at least one tee=PATH or tee-cmd=COMMAND");
  // Any plugin parameter that names an existing file may be the disk the
  // plugin serves (file=disk.img, or a bare disk.img, which nbdkit passes
  // as the plugin's magic key): a tee destination is truncated to the
  // export size and rewritten, and the status file is written over and
  // over, so neither may be that disk.  Compared by what they are, as the
  // engine compares destinations.
  std::vector<NamedIdentity> plugin_files;
  for (const auto& [key, value] : plugin_parameters_)
    if (!value.empty())
      if (auto id = IdentityOfPath(value)) plugin_files.push_back({key + "=" + value, *id});
  for (const DestinationSpec& d : parser_.config().destinations) {
    if (d.source != DestinationSpec::Source::kPath) continue;
    // (A FIFO or a character device is written, not overwritten.)
    const auto id = IdentityOfPath(d.value);
    if (!id || (id->what != DestinationIdentity::What::kFile &&
                id->what != DestinationIdentity::What::kBlockDevice))
      continue;
    for (const NamedIdentity& p : plugin_files)
      if (p.identity == *id)
        return Status::InvalidArgument("tee=" + d.value + ": the same " + IdentityName(id->what) +
                                       " as the plugin's " + p.parameter +
                                       "; a tee destination is overwritten");
  }
  if (!parser_.config().status_file.empty()) {
    std::vector<NamedIdentity> taken;
    for (const NamedIdentity& p : plugin_files)
      taken.push_back({"the plugin's " + p.parameter, p.identity});
    Status s = CheckStatusFile(parser_.config().status_file, taken);
    if (!s.ok()) return Status::InvalidArgument(UserSpelling(s.message()));
  }
  Status s = parser_.Complete();
  if (s.ok()) return s;
  return Status::InvalidArgument(UserSpelling(s.message()));
}

std::string TeeConfigParser::UserSpelling(const std::string& message) {
  std::string out;
  out.reserve(message.size() + 16);
  size_t i = 0;
  while (i < message.size()) {
    bool replaced = false;
    if (i == 0 || !KeyChar(message[i - 1])) {
      for (const KeyPair& k : kKeys) {
        const size_t n = strlen(k.fanout);
        if (message.compare(i, n, k.fanout) == 0 && i + n < message.size() &&
            message[i + n] == '=') {
          out += k.tee;
          i += n;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += message[i++];
  }
  return out;
}

const char* TeeConfigParser::Help() {
  static const std::string help =
      "tee=PATH             Tee destination: regular file, block device or FIFO (repeatable).\n"
      "tee-cmd=COMMAND      Tee destination: a shell command reading the image on stdin\n"
      "                     (repeatable).\n"
      "tee-window=SIZE      Reorder window for stream tee destinations (default " +
      SizeInHelp(Config::kDefaultWindow) +
      ").\n"
      "tee-ahead=SIZE       Budget for writes parked far beyond the window (default " +
      SizeInHelp(Config::kDefaultAhead) +
      ").\n"
      "tee-spill=DIR        Keep window and parked bytes beyond tee-spill-memory= in an\n"
      "                     unlinked sparse file in DIR, so tee-window= can be as large as\n"
      "                     the image.\n"
      "tee-spill-memory=SIZE  With tee-spill=: memory for window chunks and parked bytes\n"
      "                     (default " +
      SizeInHelp(Config::kDefaultSpillMemory) +
      ").\n"
      "tee-bucket=SIZE      Size of one bus buffer (default " +
      SizeInHelp(Config::kDefaultBucket) +
      ").\n"
      "tee-buckets=N        Bus buffers in flight beyond the window (default " +
      std::to_string(Config::kDefaultBuckets) +
      ").\n"
      "tee-on-error=continue|fail  After a tee destination fails: go on while tee-quorum=\n"
      "                     are healthy (default), or fail every later write.\n"
      "tee-quorum=N         Healthy tee destinations needed for writes to succeed (default 1).\n"
      "tee-status=FILE      Write JSON status to FILE at least once a second.\n"
      "tee-progress=BOOL    Show a progress bar per tee destination on stderr.\n"
      "tee-verify=BOOL|repair  At the end, read every seekable tee destination back past\n"
      "                     the page cache and compare it with the image (default false);\n"
      "                     repair: rewrite the pages that differ from one that verified.\n"
      "tee-detect-zeroes=BOOL  Whole 4K pages of zeros written as data are zero requests\n"
      "                     for the tee destinations (default true).\n"
      "tee-holes=write|skip  skip: tee block devices keep what they held where the client\n"
      "                     zeroed or trimmed, and beyond the image (default write).\n"
      "tee-require-flush=BOOL  The run is complete only if a flush covered the client's\n"
      "                     last write; otherwise it ends interrupted (default false).\n"
      "tee-sha256=BOOL      Compute the image's SHA-256 (default true; with only seekable\n"
      "                     tee destinations that costs one read of one at the end).\n"
      "tee-io=uring|sync    Tee files and devices: io_uring, several writes in flight\n"
      "                     (default), or one pwrite at a time.\n"
      "tee-cache=default|none  none: write back and drop each 32M of a tee file as it is\n"
      "                     written.\n"
      "tee-direct=BOOL      Open tee files and block devices with O_DIRECT (default false).\n"
      "tee-stall-timeout=SECONDS  Fail a tee destination that makes no progress for this\n"
      "                     long (default " +
      std::to_string(Config::kDefaultStallTimeout) + "; 0: never).";
  return help.c_str();
}

}  // namespace fanout
