// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// TeeConfigParser: the tee filter's parameters, which are the fanout
// plugin's with a tee prefix, parsed by the same ConfigParser.
//
// A filter shares nbdkit's command line with the plugin below it, so every
// key of its own carries the prefix and can never clash with the plugin's:
//
//   tee=PATH            dest=PATH      (repeatable)
//   tee-cmd=COMMAND     cmd=COMMAND    (repeatable)
//   tee-KEY=VALUE       KEY=VALUE      for on-error, quorum, status,
//                                      progress, window, ahead, bucket,
//                                      buckets, spill, spill-memory,
//                                      verify, sha256, io, cache, direct
//
// There is no tee-size=: the export size is the plugin's.  Keys that are
// neither tee nor tee-* belong to the plugin; unknown tee-* keys are errors.
// Error messages name the parameter as the user wrote it (tee-window=12Q),
// through UserSpelling().
//
// Not thread-safe (configuration is single-threaded).
#ifndef FANOUT_CONFIG_TEE_CONFIG_H
#define FANOUT_CONFIG_TEE_CONFIG_H

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "util/status.h"

namespace fanout {

class TeeConfigParser {
 public:
  TeeConfigParser(ConfigParser::SizeParser parse_size,
                  ConfigParser::BoolParser parse_bool = nullptr);

  // Whether key is the filter's (tee, or tee-anything); the others are the
  // plugin's, to be passed on.
  static bool IsTeeKey(const std::string& key);

  // Takes one of the filter's parameters.  REQUIRES: IsTeeKey(key).
  Status Set(const std::string& key, const std::string& value);
  // Records a parameter passed on to the plugin, so that Complete() can
  // refuse a tee destination that is the plugin's own file
  // (file base.img tee=base.img would truncate the disk it mirrors).
  void NotePluginParameter(const std::string& key, const std::string& value);

  // At least one tee destination, none of them a file the plugin was
  // given, and the fanout checks (quorum=).
  Status Complete();

  // The fanout configuration (destinations, window, policy...).
  const Config& config() const { return parser_.config(); }

  // Rewrites a message that names fanout parameters (dest=X, cmd=X,
  // window=V, ...) to name the filter's (tee=X, tee-cmd=X, tee-window=V):
  // for the errors of ConfigParser and of opening destinations, and for
  // the engine's messages while serving.
  static std::string UserSpelling(const std::string& message);

  // The keys Set() accepts, for --help.
  static const char* Help();

 private:
  ConfigParser parser_;
  std::vector<std::pair<std::string, std::string>> plugin_parameters_;
};

}  // namespace fanout

#endif  // FANOUT_CONFIG_TEE_CONFIG_H
