// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Names made absolute at configuration time.
//
// nbdkit changes to / when it forks into the background, and FIFOs are
// opened (commands started, files reopened for verify=, the status file
// written, an NBD server's socket connected) only after that: relative
// names are resolved against the directory nbdkit was started in, while
// configuration still runs there.
#ifndef FANOUT_UTIL_ABSOLUTE_PATH_H
#define FANOUT_UTIL_ABSOLUTE_PATH_H

#include <optional>
#include <string>

namespace fanout {

// The current directory (getcwd), or nullopt if it cannot be named.
std::optional<std::string> WorkingDirectory();

// path against the current directory; path itself if it is absolute
// already, or if the current directory cannot be named.
std::string AbsolutePath(const std::string& path);

}  // namespace fanout

#endif  // FANOUT_UTIL_ABSOLUTE_PATH_H
